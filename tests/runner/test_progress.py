"""Live progress of ``harness run``: the cell's progress file, the estimates, and both terminal displays."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.runner.progress import (
    PROGRESS_FILE,
    BarProgress,
    LineProgress,
    ProgressWriter,
    RunProgress,
    describe,
    epoch_text,
    fmt_duration,
    make_progress,
    read_progress,
    suite_eta,
    training_left,
)
from harness.tracking.mlflow_sink import ARTIFACTS
from tests.runner.conftest import PLUGIN, REPO_ROOT, write_suite


class Clock:
    """A settable clock, so throttles and durations are exact."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def _train(epoch: int, step: int | None, loss: float, val: float | None, steps: int = 10) -> dict:
    event = {"phase": "train", "epoch": epoch, "epochs": 3, "steps": steps, "loss": loss, "val_p@1": val}
    if step is not None:
        event["step"] = step
    return event


# --- the writer (cell side) ----------------------------------------------------------------------------------


def test_writer_folds_the_loops_events_into_phases_and_an_epoch_history(tmp_path: Path) -> None:
    clock = Clock()
    writer = ProgressWriter(tmp_path / PROGRESS_FILE, clock=clock)
    writer.phase("data")
    clock.tick(2)
    writer.phase("fit")
    writer({"phase": "clustering"})
    clock.tick(5)
    # The InceptionXML loop: throttled step events repeat the last val P@1, then an end-of-epoch event
    # (step = steps) after validation carries the new one.
    writer(_train(1, 4, 0.9, None))
    clock.tick(6)
    writer(_train(1, 10, 0.8, 0.20))  # end of epoch 1, after validation: t = 1013
    clock.tick(1)
    writer(_train(2, 3, 0.6, 0.20))  # epoch 2 reveals that epoch 1 is over (ended at its last event)
    clock.tick(9)
    writer(_train(2, 10, 0.5, 0.30))  # end of epoch 2: t = 1023
    clock.tick(2)
    writer.phase("predict")  # closes epoch 2

    state = read_progress(tmp_path)
    assert state is not None
    assert [name for name, _ in state["phases"]] == ["data", "fit", "clustering", "train", "predict"]
    assert state["phase"] == "predict"
    history = state["history"]
    assert [(e["epoch"], e["loss"], e["val_p@1"], e["val_epoch"]) for e in history] == [
        (1, 0.8, 0.20, 1),
        (2, 0.5, 0.30, 2),
    ]
    assert [e["seconds"] for e in history] == [pytest.approx(6.0), pytest.approx(10.0)]
    assert [e["t"] for e in history] == [1013.0, 1023.0]
    assert not list(tmp_path.glob(".*tmp"))  # written through a temp file, nothing left over


def test_writer_closes_an_epoch_on_the_contracts_validation_event(tmp_path: Path) -> None:
    clock = Clock()
    writer = ProgressWriter(tmp_path / PROGRESS_FILE, clock=clock)
    writer(_train(1, 5, 0.9, None))
    clock.tick(4)
    writer({"phase": "train", "epoch": 1, "epochs": 3, "loss": 0.7, "val_p@1": 0.25})  # no step: after validation
    state = read_progress(tmp_path)
    assert state is not None
    assert [(e["epoch"], e["loss"], e["val_p@1"], e["seconds"]) for e in state["history"]] == [(1, 0.7, 0.25, 4.0)]
    assert state["val_epoch"] == 1


def test_writer_records_epochs_no_event_was_seen_for_as_one_entry(tmp_path: Path) -> None:
    clock = Clock()
    writer = ProgressWriter(tmp_path / PROGRESS_FILE, clock=clock)
    writer(_train(1, 1, 0.9, None))
    clock.tick(3)
    writer(_train(3, 2, 0.4, None))  # epochs 1 and 2 passed between two throttled events
    history = writer.state["history"]
    assert [(e["epoch"], e["n"]) for e in history] == [(2, 2)]
    assert history[0]["seconds"] == 0.0  # its own last event was its first: no duration seen


def test_writer_throttles_step_events_but_writes_every_phase_change(tmp_path: Path) -> None:
    clock = Clock()
    writes: list[float] = []

    class Counting(ProgressWriter):
        def _write(self) -> None:
            writes.append(self.clock())
            super()._write()

    writer = Counting(tmp_path / PROGRESS_FILE, min_interval=0.5, clock=clock)
    writer.phase("fit")
    for step in range(1, 11):  # ten step events 1/8 s apart: the first changes the phase, then one per 0.5 s
        clock.tick(0.125)
        writer(_train(1, step, 1.0 / step, None))
    writer.phase("predict")
    assert writes == [1000.0, 1000.125, 1000.625, 1001.125, 1001.25]
    assert read_progress(tmp_path)["step"] == 10


def test_writer_never_raises(tmp_path: Path) -> None:
    writer = ProgressWriter(tmp_path / "missing-folder" / PROGRESS_FILE)
    writer.phase("data")  # the folder is gone: logged once, ignored
    writer({"phase": "train", "epoch": "one", "loss": object()})  # nonsense from a model: ignored
    ok = ProgressWriter(tmp_path / PROGRESS_FILE)
    ok({"phase": "train", "epoch": 1, "loss": "nan-ish"})
    assert not (tmp_path / "missing-folder").exists()


def test_progress_file_is_scratch_not_a_result() -> None:
    assert PROGRESS_FILE not in ARTIFACTS and PROGRESS_FILE != "result.json"


# --- estimates -----------------------------------------------------------------------------------------------


def test_training_left_from_finished_epochs_and_from_the_step_pace() -> None:
    history = [{"epoch": 1, "seconds": 10.0}, {"epoch": 2, "seconds": 12.0}]
    state = {"phase": "train", "epochs": 5, "epoch": 3, "history": history, "epoch_started": 100.0}
    assert training_left(state, now=104.0) == pytest.approx(11.0 * 3 - 4.0)
    # Before any epoch ends: 1 s per step (steps 1 -> 11 in 10 s), 2 epochs of 20 steps, 11 done.
    state = {"phase": "train", "epochs": 2, "epoch": 1, "step": 11, "steps": 20, "step0": 1}
    state.update({"epoch_started": 100.0, "step_at": 110.0, "history": []})
    assert training_left(state, now=112.0) == pytest.approx(29.0 - 2.0)
    assert training_left({**state, "step": 1}, now=112.0) is None  # one report: no pace yet
    assert training_left({**state, "phase": "predict"}, now=112.0) is None


def test_suite_eta_from_durations_of_this_invocation() -> None:
    finished = {"a": [100.0, 120.0], "b": [10.0]}
    assert suite_eta(["a", "b", "a"], finished) == pytest.approx(110 + 10 + 110)
    # A model with no finished cell takes the mean of every finished cell.
    assert suite_eta(["c"], finished) == pytest.approx(230 / 3)
    # The running cell: what its model's cells leave, or its training estimate when that is larger.
    assert suite_eta([], finished, ("a", 100.0, None)) == pytest.approx(10.0)
    assert suite_eta([], finished, ("a", 100.0, 30.0)) == pytest.approx(30.0)
    # Nothing finished yet: the running cell's projection (elapsed + training left) stands in for its model.
    assert suite_eta(["a", "a"], {}, ("a", 20.0, 40.0)) == pytest.approx(40 + 60 + 60)
    assert suite_eta(["a"], {}, ("a", 20.0, None)) is None
    assert suite_eta(["a"], {}) is None
    assert suite_eta([], {}) == 0.0


def test_fmt_duration() -> None:
    assert [fmt_duration(s) for s in (None, 0.4, 45, 60, 725, 3600, 4980)] == [
        "?",
        "0s",
        "45s",
        "1m00s",
        "12m05s",
        "1h00m",
        "1h23m",
    ]


# --- rendering -----------------------------------------------------------------------------------------------


def test_describe_a_training_cell_and_other_phases() -> None:
    state = {
        "phase": "train",
        "phase_started": 90.0,
        "epoch": 3,
        "epochs": 5,
        "step": 120,
        "steps": 422,
        "loss": 0.012345,
        "val_p@1": 0.2531,
        "val_epoch": 2,
        "history": [{"epoch": 1, "seconds": 30.0}, {"epoch": 2, "seconds": 30.0}],
        "epoch_started": 100.0,
    }
    assert describe(state, now=110.0) == (
        "training epoch 3/5 step 120/422 · loss 0.01235 · val P@1 25.31 (epoch 2) · ~1m20s left in training"
    )
    assert describe({"phase": "profile", "phase_started": 100.0}, now=112.0) == "profiling (12s)"
    assert describe({"phase": "clustering", "phase_started": 100.0}, now=100.0) == "clustering labels (0s)"
    assert describe({"phase": "my-own-phase", "phase_started": 100.0}, now=165.0) == "my-own-phase (1m05s)"
    assert describe(None, now=0.0) == "starting"


def test_epoch_text() -> None:
    entry = {"epoch": 2, "seconds": 28.1, "loss": 0.01234, "val_p@1": 0.2531, "val_epoch": 2}
    assert epoch_text(entry, 5, left=84.3) == (
        "training epoch 2/5 · loss 0.01234 · val P@1 25.31 · 28.1s/epoch · ~1m24s left in training"
    )
    stale = {**entry, "epoch": 3, "val_epoch": 2}  # no validation in epoch 3: the last one is named
    assert epoch_text(stale, 3) == "training epoch 3/3 · loss 0.01234 · val P@1 25.31 (epoch 2) · 28.1s/epoch"


def _state(phases: list[tuple[str, float]], epochs: list[tuple[int, float]], total: int = 10) -> dict:
    history = [{"epoch": e, "seconds": 1.0, "loss": 0.5, "val_p@1": 0.1, "val_epoch": e, "t": t} for e, t in epochs]
    return {"phase": phases[-1][0], "phases": [list(p) for p in phases], "history": history, "epochs": total}


def test_line_display_prints_phases_and_throttled_epochs_without_carriage_returns() -> None:
    clock, lines = Clock(0.0), []
    display = LineProgress(lines.append, epoch_interval=5.0, heartbeat=60.0, clock=clock)
    display.start("s", [("m", True)])
    display.cell_started("[1/1] d · m · seed 0", "m")
    display.cell_update(None)  # the cell has not written yet
    display.cell_update(_state([("data", 1.0), ("fit", 2.0), ("train", 3.0)], [(1, 4.0)]))
    # Epochs 2-4 within 5 s of the first line are held back; epoch 5 is 6 s after it.
    display.cell_update(_state([("data", 1.0), ("fit", 2.0), ("train", 3.0)], [(1, 4), (2, 5), (3, 6), (4, 7)]))
    display.cell_update(
        _state([("data", 1.0), ("fit", 2.0), ("train", 3.0)], [(1, 4), (2, 5), (3, 6), (4, 7), (5, 10), (6, 11)])
    )
    # Training stops early at epoch 6 of 10: the held-back epoch 6 is printed before the next phase.
    display.cell_update(
        _state(
            [("data", 1.0), ("fit", 2.0), ("train", 3.0), ("predict", 12.0)],
            [(1, 4), (2, 5), (3, 6), (4, 7), (5, 10), (6, 11)],
        )
    )
    display.cell_stopped()
    display.cell_done("m", "ok", 12.0)
    assert [line.split(": ", 1)[1].split(" · ")[0] for line in lines] == [
        "loading data",
        "fitting",
        "training",
        "training epoch 1/10",
        "training epoch 5/10",
        "training epoch 6/10",
        "predicting test",
    ]
    assert all(line.startswith("[1/1] d · m · seed 0: ") and "\r" not in line for line in lines)
    assert display.counts() == "1/1 cells done"


def test_line_display_heartbeat_during_a_long_epoch() -> None:
    clock, lines = Clock(0.0), []
    display = LineProgress(lines.append, heartbeat=60.0, clock=clock)
    display.start("s", [("m", True)])
    display.cell_started("[1/1] c", "m")
    state = {"phase": "train", "phases": [["train", 1.0]], "history": [], "epoch": 1, "epochs": 2, "phase_started": 1}
    display.cell_update(state)
    clock.tick(30)
    display.cell_update(state)
    clock.tick(31)
    display.cell_update(state)
    assert lines == ["[1/1] c: training", "[1/1] c: training epoch 1/2"]


def test_run_progress_counts_cached_cells_as_done_and_estimates_the_rest() -> None:
    clock, lines = Clock(0.0), []
    display = RunProgress(lines.append, clock=clock)
    display.start("s", [("a", False), ("a", True), ("b", True), ("a", True)])
    display.cell_done("a", "cached", 0.0)
    assert display.counts() == "1/4 cells done, ? left"
    display.cell_started("[2/4] x", "a")
    clock.tick(20)
    display.cell_stopped()
    display.cell_done("a", "ok", 20.0)
    assert display.counts() == "2/4 cells done, ~40s left"  # b and a, each like the a that ran
    display.cell_started("[3/4] y", "b")
    clock.tick(5)
    assert display.eta() == pytest.approx(15 + 20)  # b: 20 s (mean of all) - 5 s; then a: 20 s
    display.cell_stopped()
    display.cell_done("b", "failed", 5.0)  # a failed cell's time does not feed the estimate
    display.cell_started("[4/4] z", "a")
    display.cell_stopped()
    display.cell_done("a", "ok", 22.0)
    assert display.counts() == "4/4 cells done"


def test_bar_display_draws_the_suite_bar_and_the_running_cell() -> None:
    stream, clock = io.StringIO(), Clock(0.0)
    display = BarProgress(stream, clock=clock)
    display.start("offline", [("a", True), ("a", True)])
    display.say("[1/2] d · a · seed 0: running (somewhere)")
    display.cell_started("[1/2] d · a · seed 0", "a")
    clock.tick(65)
    state = {"phase": "train", "phase_started": 5.0, "epoch": 2, "epochs": 4, "loss": 0.5, "history": []}
    display.cell_update(state)
    out = stream.getvalue()
    assert "suite offline" in out and "0/2 cells" in out and "? left" in out
    assert "d · a · seed 0 [1m05s]: training epoch 2/4 · loss 0.5" in out
    assert "[1/2] d · a · seed 0: running (somewhere)" in out
    display.cell_stopped()
    display.cell_done("a", "ok", 65.0)
    display.close()
    assert "1/2 cells" in stream.getvalue() and "~1m05s left" in stream.getvalue()


def test_make_progress_picks_bars_only_for_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("TERM", "xterm")
    assert type(make_progress("auto", io.StringIO())) is LineProgress
    assert type(make_progress("auto", Terminal())) is BarProgress
    assert type(make_progress("off", Terminal())) is RunProgress
    monkeypatch.setenv("TERM", "dumb")
    assert type(make_progress("auto", Terminal())) is LineProgress
    with pytest.raises(ValueError, match="progress mode"):
        make_progress("fancy", io.StringIO())


# --- end to end ----------------------------------------------------------------------------------------------

REPORTING_PLUGIN = '''
import time
from harness.models import model_registry
from tests.runner.plugin_models import PopularityModel


class Reporting(PopularityModel):
    """Reports clustering and three epochs the way the contract describes, then fits for real."""

    name = "test-report"

    def fit(self, train, val, *, ctx):
        ctx.report(phase="clustering")
        for epoch in (1, 2, 3):
            ctx.report(phase="train", epoch=epoch, epochs=3, step=1, steps=2, loss=1.0 / epoch)
            time.sleep(0.3)
            ctx.report(phase="train", epoch=epoch, epochs=3, loss=0.9 / epoch, **{"val_p@1": 0.1 * epoch})
        return super().fit(train, val, ctx=ctx)


model_registry.register("test-report", Reporting)
'''


def _run(tmp_path: Path, runs_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``harness run`` on one reporting cell, output captured (not a terminal)."""
    (tmp_path / "reporting_plugin.py").write_text(REPORTING_PLUGIN, encoding="utf-8")
    suite = write_suite(tmp_path, "progress", models={"test-report": {}})
    env = dict(os.environ, HARNESS_PLUGINS=f"{PLUGIN},reporting_plugin")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(tmp_path)])
    cmd = [sys.executable, "-m", "harness.cli.main", "run", "--suite", str(suite), "--no-mlflow"]
    cmd += ["--runs-dir", str(runs_dir), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env, cwd=REPO_ROOT)


def test_harness_run_in_a_pipe_prints_phases_epochs_and_cells_done(tmp_path: Path, runs_dir: Path) -> None:
    proc = _run(tmp_path, runs_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "\r" not in out
    prefix = "[1/1] synthetic-tiny · test-report · seed 0: "
    phases = [line[len(prefix) :].split(" · ")[0] for line in out.splitlines() if line.startswith(prefix)]
    assert phases[0].startswith("running (")
    # Epoch 2 ends within 5 s of epoch 1 (unless the machine stalls): held back by the throttle, then superseded.
    assert [p for p in phases[1:] if p != "training epoch 2/3"] == [
        "loading data",
        "fitting",
        "clustering labels",
        "training",
        "training epoch 1/3",
        "training epoch 3/3",
        "predicting test",
        "profiling",
        phases[-1],
    ]
    assert phases[-1].startswith("ok p@1")
    assert f"{prefix}training epoch 3/3 · loss 0.3 · val P@1 30.00 · " in out
    assert "· 1/1 cells done" in out
    cell = next(runs_dir.rglob("result.json")).parent
    assert not (cell / PROGRESS_FILE).exists() and not list(cell.glob(".*tmp"))
    assert "phase: predict" in (cell / "log.txt").read_text()  # the cell's phases are in its log too

    # Forced bars on a pipe: the same run, drawn with tqdm; the result is unchanged in kind.
    proc = _run(tmp_path, runs_dir, "--rerun", "always", "--progress", "bar")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "suite progress" in proc.stdout and "1/1 cells" in proc.stdout
    assert "1 ran ok" in proc.stdout
    assert json.loads((cell / "result.json").read_text())["status"] == "ok"
    assert not (cell / PROGRESS_FILE).exists()
