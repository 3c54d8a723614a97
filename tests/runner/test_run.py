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


def test_shortlist_models_run_through_the_runner_with_both_scorings_and_flops(
    runs_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """syncxml and lightxml need no special case: both scorings are recorded, FLOPs include the candidates."""
    tiny = {
        "embeddings": "random",
        "embedding_dim": 32,
        "seq_len": 8,
        "num_filters": 8,
        "epochs": 2,
        "batch_size": 32,
        "eval_batch_size": 64,
        "max_leaf": None,
        "num_clusters": 8,
        "top_k_clusters": 3,
    }
    suite = write_suite(
        tmp_path,
        "shortlist",
        models={"syncxml": {**tiny, "meta_epoch": 1}, "lightxml": tiny},
        profiling={"latency_iters": 3, "warmup": 1, "throughput_batch": 16, "queries": 32},
    )
    assert main(["run", "--suite", str(suite), "--no-mlflow", "--runs-dir", str(runs_dir)]) == 0
    recs = results(runs_dir)
    for name, reported in (("syncxml", "ext"), ("lightxml", "combined")):
        rec = recs[f"{name}/seed-0"]
        assert rec["status"] == "ok", rec["error"]
        assert set(rec["metrics_extra"]) == {"ext", "combined"}
        assert rec["metrics_extra"][reported] == rec["metrics"], "the reported scoring is the headline"
        assert rec["card"]["config"]["derived"]["reported_scoring"] == reported
        eff = rec["efficiency"]
        assert eff["flops_per_query"] > 0 and eff["latency_ms_p50_bs1"] > 0
        # the candidate product (a bmm over K·M gathered label rows) is part of the counted cost
        assert eff["flops_breakdown"]["by_op"].get("bmm", 0) > 0
        assert {"val/ext/p@1", "val/combined/p@1"} <= {f"val/{k}" for k in rec["val_metrics"]}
    capsys.readouterr()
    assert main(["report", "--runs-dir", str(runs_dir), "--suite", "shortlist"]) == 0
    table = capsys.readouterr().out
    assert "syncxml" in table and "lightxml" in table
