"""Regression tests of the reliability defects of issue 13 (found by a hostile new user), one test per defect."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.errors import HarnessError
from harness.report import build_report, render
from harness.results import read_record
from harness.runner.plan import plan_suite
from harness.runner.progress import BarProgress, LineProgress, RunProgress
from harness.suites import parse_suite
from tests.fixtures_results import make_record, write_standard_runs
from tests.runner.conftest import PLUGIN, REPO_ROOT, harness_run, invocations, results, write_suite

ESC = "\x1b[31m"


def _xc_file(path: Path, rows: list[str], n_cols: int) -> Path:
    path.write_text(f"{len(rows)} {n_cols}\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _tiny_suite(**fields: object) -> dict:
    return {"datasets": ["synthetic-tiny"], "models": {"inceptionxml": {"epochs": 1}}, "device": "cpu", **fields}


def test_d1_k_above_the_label_count_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``-k`` and a suite's ``k`` larger than the label count are one clear error (they sized arrays by k)."""
    truth = _xc_file(tmp_path / "truth.txt", ["0:1 3:1", "1:1", "2:1", "9:1", "4:1 5:1"], 10)
    pred = _xc_file(tmp_path / "pred.txt", ["0:0.9 1:0.5", "1:0.8", "3:0.2", "9:0.7", "4:0.1"], 10)
    args = ["evaluate", "--pred", str(pred), "--truth", str(truth), "--json"]
    assert main([*args, "-k", "10"]) == 0  # k = L is fine
    assert json.loads(capsys.readouterr().out)["p@10"] >= 0
    for k in ("11", "1000"):
        assert main([*args, "-k", k]) == 2
        err = capsys.readouterr().err
        assert f"-k {k} is more than the 10 labels of {truth}" in err and "Traceback" not in err

    # A suite's k is checked against the dataset's label count when the run is planned (synthetic-tiny: 40).
    with pytest.raises(HarnessError, match=r"k: 1000 is more than the 40 labels of dataset 'synthetic-tiny'"):
        plan_suite(parse_suite("x", _tiny_suite(k=1000)), tmp_path / "runs")
    assert len(plan_suite(parse_suite("x", _tiny_suite(k=40)), tmp_path / "runs").cells) == 1


@pytest.mark.parametrize(
    ("profiling", "message"),
    [
        ({"latency_iter": 50}, "unknown option 'latency_iter'.*Did you mean 'latency_iters'"),
        ({"queries": 0}, "queries: must be >= 1"),
        ({"enabled": "no"}, "enabled: must be true or false"),
        ({"warmup": 2.5}, "warmup: must be an integer"),
    ],
)
def test_d4_profiling_options_are_checked_when_the_suite_is_read(profiling: dict, message: str) -> None:
    with pytest.raises(HarnessError, match=message):
        parse_suite("x", {"datasets": ["synthetic-tiny"], "models": ["test-ok"], "profiling": profiling})


def test_d4_switching_a_measurement_off_is_another_cell(tmp_path: Path) -> None:
    """Cells run without efficiency figures must not count as done once the figures are switched back on."""

    def key(profiling: dict) -> str:
        suite = parse_suite("x", {"datasets": ["synthetic-tiny"], "models": ["knn"], "profiling": profiling})
        return plan_suite(suite, tmp_path).cells[0].key

    base = key({})
    assert key({"latency_iters": 7, "queries": 10}) == base  # timing effort only: the same cell
    assert key({"enabled": False}) != base and key({"count_flops": False}) != base


@pytest.mark.parametrize(
    ("model", "settings", "message"),
    [
        ("lightxml-minilm", {"lr": 0}, "lightxml-minilm: lr must be > 0, got 0"),  # trained nothing, recorded ok
        ("lightxml-minilm", {"lr": -0.1}, "lr must be > 0"),
        ("inceptionxml", {"epochs": 2.5}, "epochs must be an integer, got 2.5"),
        ("inceptionxml", {"epochs": True}, "epochs must be an integer, got True"),
        ("lightxml-minilm", {"lr": float("nan")}, "lr must be a finite number, got nan"),
        ("inceptionxml", {"lr": float("inf")}, "lr must be a finite number, got inf"),
        ("inceptionxml", {"dropout": 1.0}, r"dropout must be in \[0, 1\), got 1.0"),
        ("syncxml", {"meta_dropout": -0.1}, r"meta_dropout must be in \[0, 1\)"),
        ("syncxml", {"time_budget_s": 0}, "time_budget_s must be > 0 or null"),
        ("lightxml-minilm", {"minilm_layers": 7}, r"minilm_layers must be in \[1, 6\]"),
        ("knn", {"n_neighbors_grid": [5, 0]}, "n_neighbors_grid must be a list of numbers >= 1"),
        ("knn", {"ngram_range": [3]}, "ngram_range must be a list of 2 integers"),
        ("omikuji-parabel", {"linear_c": 0}, "linear_c must be > 0"),
        ("napkinxc-plt", {"arity": 1}, "arity must be >= 2"),
    ],
)
def test_d5_model_settings_are_checked_before_any_cell(
    tmp_path: Path, model: str, settings: dict, message: str
) -> None:
    """A suite's nonsensical model setting is one error at plan time, never a column of failed or empty cells."""
    suite = parse_suite("x", {"datasets": ["synthetic-tiny"], "models": {model: settings}, "device": "cpu"})
    with pytest.raises(HarnessError, match=message):
        plan_suite(suite, tmp_path / "runs")
    # The config's own __post_init__ applies the same rule (the same metadata) to a directly built config.
    from harness.models import model_registry

    config_cls = model_registry.get(model).Config
    with pytest.raises(HarnessError, match=message.split(": ", 1)[-1]):
        config_cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()})


def test_d5_cell_timeouts_and_cli_settings_are_checked_before_any_cell(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = parse_suite("x", _tiny_suite())
    for bad in (float("nan"), float("inf"), 0, -1.0):
        with pytest.raises(HarnessError, match="--timeout-per-cell must be a positive number of seconds"):
            plan_suite(suite, tmp_path / "runs", timeout=bad)
    with pytest.raises(HarnessError, match="timeout_per_cell must be a positive number of seconds, got nan"):
        plan_suite(parse_suite("x", _tiny_suite(timeout_per_cell=float("nan"))), tmp_path / "runs")
    assert plan_suite(suite, tmp_path / "runs", timeout=30).cells[0].timeout == 30.0

    path = tmp_path / "suite.json"  # JSON is YAML: a suite file for the CLI
    path.write_text(json.dumps(_tiny_suite()), encoding="utf-8")
    runs = tmp_path / "cli-runs"
    for extra in (
        ["--timeout-per-cell", "nan"],
        ["--timeout-per-cell", "0"],
        ["--set", "lr=.nan"],
        ["--set", "epochs=true"],
    ):
        assert main(["run", "--suite", str(path), "--no-mlflow", "--runs-dir", str(runs), *extra]) == 2, extra
        err = capsys.readouterr().err
        assert "error:" in err and "Traceback" not in err, err
    assert not runs.exists()  # nothing ran


def test_d8_bad_result_files_and_paths_are_clear_errors(
    runs_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ``null`` result.json, a file as --runs-dir, an unwritable --out and a non-image --plot: one line each."""
    reports = tmp_path / "reports"
    write_standard_runs(reports)
    bad = sorted(reports.rglob("result.json"))[0]
    for content in ("null", "[1, 2]", '"text"', "3"):
        bad.write_text(content, encoding="utf-8")
        with pytest.raises(HarnessError, match="not a result record"):
            read_record(bad)
        assert main(["report", "--runs-dir", str(reports), "--no-plot"]) == 2
        err = capsys.readouterr().err
        assert str(bad) in err and "not a result record" in err and "Traceback" not in err
    bad.unlink()

    a_file = tmp_path / "a-file"
    a_file.write_text("x", encoding="utf-8")
    cases = [
        ["report", "--runs-dir", str(a_file)],
        ["report", "--runs-dir", str(reports), "--out", str(a_file / "table.md")],  # parent is a file
        ["report", "--runs-dir", str(reports), "--plot", str(tmp_path / "x.txt")],
        ["report", "--runs-dir", str(reports), "--plot", str(tmp_path / "noextension")],
        ["run", "--suite", "smoke", "--no-mlflow", "--runs-dir", str(a_file)],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"harness {argv[0]}: error: ") and len(err.splitlines()) == 1, err

    # `harness run`: a cell whose result.json is null counts as not done, runs again and ends ok.
    suite = write_suite(tmp_path, "nullrec")
    args = ("--suite", str(suite), "--no-mlflow", "--runs-dir", str(runs_dir))
    assert harness_run(*args).returncode == 0
    (path,) = runs_dir.rglob("result.json")
    path.write_text("null", encoding="utf-8")
    proc = harness_run(*args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "not a result record" in proc.stderr
    assert read_record(path)["status"] == "ok"
    assert [c["status"] for c in invocations(runs_dir, "nullrec")[-1]["cells"]] == ["ok"]


def test_d12_names_from_data_are_escaped_on_the_terminal_and_in_reports() -> None:
    """A dataset or model name with escape codes, line breaks or Markdown syntax is shown, never obeyed."""
    name = f"evil{ESC}|# *x*\nforged"
    records = [make_record(dataset=name, model=f"m{ESC}_1|x", seed=s, p1=0.4 + s / 100) for s in (0, 1)]
    records.append(make_record(dataset=name, model="other", failed=f"Boom{ESC}"))
    report = build_report(records, significance=None, published=False)
    for fmt in ("md", "latex", "csv"):
        text = render(report, fmt, command=f"harness report --suite {ESC}")
        assert "\x1b" not in text and "\nforged" not in text, fmt
    md = render(report, "md")
    heading = next(line for line in md.splitlines() if line.startswith("## "))
    assert heading == r"## evil\\x1b\[31m\|\# \*x\*\\nforged"
    row = next(line for line in md.splitlines() if line.startswith("| m"))
    assert row.startswith(r"| m\\x1b\[31m\_1\|x | 2 |")
    assert row.replace(r"\|", "").count("|") == md.splitlines()[md.splitlines().index(heading) + 2].count("|")
    latex = render(report, "latex")
    assert r"evil\textbackslash{}x1b[31m\textbar{}\# *x*\textbackslash{}nforged" in latex

    # Progress lines and the terminal display escape what they print.
    lines: list[str] = []
    for display in (RunProgress(lines.append), LineProgress(lines.append)):
        display.say(f"[1/1] {name} · m · seed 0: running")
    assert lines and all("\x1b" not in line and "\n" not in line for line in lines)
    stream = io.StringIO()
    bar = BarProgress(stream)
    bar.start(f"suite{ESC}", [("m", True)])
    bar.cell_started(f"[1/1] {name}", "m")
    bar.say(f"[1/1] {name}: ok")
    bar.close()
    assert "\x1b[31m" not in stream.getvalue() and r"\x1b[31m" in stream.getvalue()


def test_d14_two_concurrent_runs_that_finish_every_cell_both_exit_0(runs_dir: Path, tmp_path: Path) -> None:
    """A cell another process is running is waited for; if it ends ok it counts as done, so both runs exit 0."""
    suite = write_suite(tmp_path, "shared", models={"test-ok": {"sleep_s": 3.0}}, seeds=[0, 1, 2])
    env = dict(os.environ, HARNESS_PLUGINS=PLUGIN, PYTHONPATH=str(REPO_ROOT))
    cmd = [sys.executable, "-m", "harness.cli.main", "run", "--suite", str(suite), "--no-mlflow"]
    cmd += ["--runs-dir", str(runs_dir), "--progress", "lines"]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True, "env": env, "cwd": REPO_ROOT}
    first = subprocess.Popen(cmd, **pipes)  # noqa: S603
    deadline = time.monotonic() + 120
    while not list(runs_dir.rglob("cell.json")) and time.monotonic() < deadline:  # the first cell has started
        time.sleep(0.05)
    second = subprocess.Popen(cmd, **pipes)  # noqa: S603
    outputs = [p.communicate(timeout=240)[0] for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], "\n----\n".join(outputs)
    final = results(runs_dir)
    assert sorted(final) == ["test-ok/seed-0", "test-ok/seed-1", "test-ok/seed-2"]
    assert all(rec["status"] == "ok" for rec in final.values())
    statuses = [c["status"] for inv in invocations(runs_dir, "shared") for c in inv["cells"]]
    assert "elsewhere" in statuses, statuses  # one process did wait for a cell the other was running
    assert statuses.count("ok") == 3, statuses  # and every cell ran exactly once
    assert "running elsewhere" in "".join(outputs)
