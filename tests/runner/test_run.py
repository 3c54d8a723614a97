"""``harness run`` end to end: the smoke suite, resume, --show-config, failure isolation and timeouts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.cli.main import main
from harness.results import load_records, read_record
from tests.runner.conftest import harness_run, invocations, results, write_suite


def test_smoke_suite_end_to_end_then_resume(runs_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--suite", "smoke", "--no-mlflow", "--runs-dir", str(runs_dir)]) == 0
    out = capsys.readouterr().out
    assert f"results: {runs_dir / 'smoke'}" in out
    paths = sorted(runs_dir.rglob("result.json"))
    assert len(paths) == 1
    rec = read_record(paths[0])  # validates the schema
    cell = paths[0].parent
    assert rec["status"] == "ok" and rec["error"] is None
    assert cell.name == rec["cell_key"][:12]
    assert 0.0 <= rec["metrics"]["p@1"] <= 1.0 and "psp@5" in rec["metrics"]
    assert rec["val_metrics"] and rec["fit"]["epochs_run"] == 8
    assert rec["efficiency"]["train_s"] > 0 and rec["efficiency"]["model_bytes"] > 0
    assert rec["efficiency"]["threads"] == 1 and rec["env"]["threads"] == 1
    assert rec["dataset"]["n_train"] + rec["dataset"]["n_val"] == 400 and rec["dataset"]["n_test"] == 120
    assert rec["deviations"] and rec["card"]["params"]["total"] > 0
    top = np.load(cell / "topk.npz")
    assert top["indices"].shape == top["scores"].shape == (120, 5)
    assert top["indices"].dtype == np.int64 and int(top["k"]) == 5
    assert json.loads((cell / "env.json").read_text())["threads"] == 1
    assert "fit done" in (cell / "log.txt").read_text()
    assert not (cell / "model").exists()  # keep_models is off
    assert rec["started_at"] <= rec["finished_at"]

    # Re-running finds the finished cell and executes nothing.
    assert main(["run", "--suite", "smoke", "--no-mlflow", "--runs-dir", str(runs_dir)]) == 0
    assert "0 ran ok, 1 already on disk" in capsys.readouterr().out
    assert read_record(paths[0]) == rec
    assert [c["status"] for c in invocations(runs_dir, "smoke")[-1]["cells"]] == ["cached"]
    assert len(list(load_records(runs_dir))) == 1


def test_show_config_prints_cells_and_runs_nothing(runs_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["run", "--suite", "smoke", "--seeds", "0,1", "--runs-dir", str(runs_dir), "--show-config"]
    assert main(argv) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [c["seed"] for c in shown["cells"]] == [0, 1]
    assert shown["cells"][0]["config"]["epochs"] == 8
    assert shown["cells"][0]["key_payload"]["metrics_version"]
    assert not runs_dir.exists()


def test_failing_cells_are_recorded_and_the_suite_goes_on(runs_dir: Path, tmp_path: Path) -> None:
    models = {name: {} for name in ("test-raise", "test-nan", "test-kill", "test-ok")}
    suite = write_suite(tmp_path, "failures", models=models)
    proc = harness_run("--suite", str(suite), "--no-mlflow", "--runs-dir", str(runs_dir))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    recs = results(runs_dir)
    assert recs["test-ok/seed-0"]["status"] == "ok"
    errors = {name: recs[f"{name}/seed-0"]["error"] for name in ("test-raise", "test-nan", "test-kill")}
    assert all(recs[f"{name}/seed-0"]["status"] == "failed" for name in errors)
    assert errors["test-raise"]["type"] == "RuntimeError"
    assert "scripted failure in fit" in errors["test-raise"]["traceback"]
    assert errors["test-nan"]["type"] == "NonFinitePredictionError"
    assert errors["test-kill"]["type"] == "Killed" and "SIGKILL" in errors["test-kill"]["message"]
    assert "FAILED" in proc.stdout and "log:" in proc.stdout

    # A re-run retries a failed cell (it fails again) and leaves the ok one alone.
    ok_started = recs["test-ok/seed-0"]["started_at"]
    args = ("--suite", str(suite), "--no-mlflow", "--runs-dir", str(runs_dir))
    proc = harness_run(*args, "--models", "test-raise,test-ok")
    assert proc.returncode == 1
    statuses = {c["model"]: c["status"] for c in invocations(runs_dir, "failures")[-1]["cells"]}
    assert statuses == {"test-raise": "failed", "test-ok": "cached"}
    assert results(runs_dir)["test-ok/seed-0"]["started_at"] == ok_started


def test_a_cell_past_its_timeout_is_killed_and_recorded(runs_dir: Path, tmp_path: Path) -> None:
    suite = write_suite(tmp_path, "slow", models={"test-sleep": {}})
    proc = harness_run("--suite", str(suite), "--no-mlflow", "--runs-dir", str(runs_dir), "--timeout-per-cell", "3")
    assert proc.returncode == 1
    error = results(runs_dir)["test-sleep/seed-0"]["error"]
    assert error["type"] == "Timeout" and "3s" in error["message"]
