"""Run a planned suite: one subprocess per cell, resume from disk, isolate failures, report progress.

Usage::

    from harness.runner.execute import execute
    from harness.runner.progress import make_progress
    summary = execute(plan, rerun="missing", tracker=tracker, progress=make_progress("auto", sys.stdout))
    summary.executed, summary.failed, summary.exit_code

Resume policy (``rerun``): ``missing`` runs cells without an ok ``result.json`` (failed cells are retried),
``always`` runs every cell again, ``never`` runs nothing and reports what is on disk. A cell folder is
cleared before its cell runs, and ``result.json`` is written last and atomically, so a folder without one
is an interrupted attempt and never mistaken for a result. An advisory lock per cell folder keeps two
``harness run`` processes from running the same cell at once.

Concurrent runs: a cell another process holds is "running elsewhere". It is set aside while this process
runs the other cells, then waited for (its lock); if the other process finished it, its record is this
run's outcome too (``elsewhere``: ok, or ``cached-failed``), and if it left none (killed), this process runs
it. So two processes that share a runs folder split the work, and each exits 0 when every cell of its plan
is ok on disk at the end.

Progress: while a cell runs, the orchestrator polls its process a few times a second and hands the cell's
``progress.json`` (:mod:`harness.runner.progress`) to the display; the file is deleted when the process ends.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.results import RESULT_FILE, printable, read_record, write_json_atomic
from harness.runner.cell import LOG_FILE, PARENT_ENV, SPEC_FILE, failed_record, utc_now
from harness.runner.plan import CellSpec, Plan
from harness.runner.progress import RunProgress, read_progress, remove_progress

log = logging.getLogger(__name__)

RERUN_CHOICES = ("missing", "always", "never")
#: Outcomes that leave an ok result on disk.
OK_STATUSES = ("ok", "cached", "elsewhere")
LOCK_FILE = ".lock"
#: Seconds a cell gets to exit after SIGTERM before it is killed.
GRACE_S = 10.0
#: Seconds between two looks at a running cell (its exit, its timeout, its progress file).
POLL_S = 0.25


@dataclass
class CellOutcome:
    """What happened to one cell in this invocation.

    ``status``: ``ok`` / ``failed`` (ran now), ``cached`` / ``cached-failed`` (found on disk, not run),
    ``elsewhere`` (another ``harness run`` was running it, and it finished ok), ``missing`` (``--rerun never``
    and nothing on disk), ``busy`` (another process holds the cell: passing, the cell is waited for later),
    ``interrupted`` (stopped by Ctrl-C; nothing written).
    """

    spec: CellSpec
    status: str
    record: dict[str, Any] | None = None
    seconds: float = 0.0

    @property
    def executed(self) -> bool:
        return self.status in ("ok", "failed")


@dataclass
class RunSummary:
    """All outcomes of an invocation, in plan order."""

    plan: Plan
    outcomes: list[CellOutcome] = field(default_factory=list)
    interrupted: bool = False

    def count(self, *statuses: str) -> int:
        return sum(o.status in statuses for o in self.outcomes)

    @property
    def executed(self) -> int:
        return sum(o.executed for o in self.outcomes)

    @property
    def failed(self) -> int:
        return self.count("failed", "cached-failed")

    @property
    def exit_code(self) -> int:
        """130 after an interrupt; 0 when every cell of the plan is ok on disk (run here, found there, or finished by
        another process), else 1 (failed, missing).
        """
        if self.interrupted:
            return 130
        settled = len(self.outcomes) == len(self.plan.cells)
        return 0 if settled and all(o.status in OK_STATUSES for o in self.outcomes) else 1


def _lock(cell_dir: Path) -> int | None:
    """Take the cell's advisory lock without waiting; the fd, or ``None`` when another process holds it."""
    cell_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(cell_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        import fcntl
    except ImportError:  # not POSIX: no cross-process protection, the atomic result still holds
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _existing(cell_dir: Path, *, warn: bool = True) -> dict[str, Any] | None:
    """The cell's record on disk, or ``None`` (absent or unreadable: an unreadable one is re-run, with a warning
    naming the file unless ``warn`` is false, for a second look at the same file).
    """
    path = cell_dir / RESULT_FILE
    if not path.is_file():
        return None
    try:
        return dict(read_record(path))
    except HarnessError as exc:
        if warn:
            log.warning("ignoring %s; the cell runs again", printable(exc))
        return None


def _clear(cell_dir: Path) -> None:
    """Remove what an earlier attempt left (partial files, temp files, an old failed record), keeping the lock."""
    for path in cell_dir.iterdir():
        if path.name == LOCK_FILE:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def _child_env(spec: CellSpec) -> dict[str, str]:
    env = dict(os.environ)
    env[PARENT_ENV] = str(os.getpid())
    # BLAS pools outside torch obey these; torch's own count is set in the cell.
    env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(spec.threads)
    env["PYTHONUNBUFFERED"] = "1"
    # The cell must import this very harness even when it runs from a checkout that is not installed.
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    return env


def _log_tail(cell_dir: Path, lines: int = 30) -> str:
    try:
        text = (cell_dir / LOG_FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM, a grace period, then SIGKILL."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _death_error(returncode: int | None, timeout: float | None, cell_dir: Path) -> dict[str, str]:
    """ErrorInfo for a cell process that ended without writing its result."""
    tail = _log_tail(cell_dir)
    if returncode is None:
        return {"type": "Timeout", "message": f"cell exceeded the {timeout:g}s limit and was killed", "traceback": tail}
    if returncode < 0:
        try:
            sig: str | int = signal.Signals(-returncode).name
        except ValueError:
            sig = -returncode
        hint = " (often the kernel's out-of-memory killer)" if returncode == -signal.SIGKILL else ""
        return {"type": "Killed", "message": f"cell process killed by {sig}{hint}", "traceback": tail}
    return {"type": "Crashed", "message": f"cell process exited with {returncode} without a result", "traceback": tail}


def _watch(cell_dir: Path, watch: Callable[[dict[str, Any] | None], None] | None) -> None:
    """Show the cell's progress; a display error is logged, never allowed to stop or fail the cell."""
    if watch is None:
        return
    try:
        watch(read_progress(cell_dir))
    except Exception as exc:  # noqa: BLE001
        log.debug("progress display failed: %s", exc, exc_info=exc)


def _wait(
    proc: subprocess.Popen, timeout: float | None, cell_dir: Path, watch: Callable[[dict[str, Any] | None], None] | None
) -> int | None:
    """The cell's exit status, or ``None`` when it ran past ``timeout``; shows its progress meanwhile.

    Polls instead of one blocking ``wait(timeout)`` so the display can follow the cell; the timeout is
    measured from the start as before, and Ctrl-C still lands in ``proc.wait`` and reaches the caller.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        step = POLL_S if deadline is None else min(POLL_S, max(0.0, deadline - time.monotonic()))
        try:
            return proc.wait(step)
        except subprocess.TimeoutExpired:
            if deadline is not None and time.monotonic() >= deadline:
                return None
            _watch(cell_dir, watch)


def run_one(spec: CellSpec, watch: Callable[[dict[str, Any] | None], None] | None = None) -> dict[str, Any]:
    """Run one cell in a subprocess (the caller holds its lock) and return its record, writing one if it died.

    ``watch`` receives the cell's progress state (or ``None`` before the cell has written one) while it
    runs, and once more after it ends, so a display misses none of its last phases.
    """
    cell_dir = spec.path
    _clear(cell_dir)
    write_json_atomic(cell_dir / SPEC_FILE, spec.to_dict())
    started = utc_now()
    cmd = [sys.executable, "-m", "harness.runner.cell", str(cell_dir / SPEC_FILE)]
    try:
        with open(cell_dir / LOG_FILE, "ab") as logf:
            proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=_child_env(spec))  # noqa: S603
            try:
                returncode = _wait(proc, spec.timeout, cell_dir, watch)
            except BaseException:  # Ctrl-C (or any error here): stop the cell, write nothing, re-raise
                _stop(proc)
                raise
            if returncode is None:
                _stop(proc)
        _watch(cell_dir, watch)
    finally:
        remove_progress(cell_dir)
    record = _existing(cell_dir) if returncode is not None else None
    if record is None:
        record = failed_record(spec, _death_error(returncode, spec.timeout, cell_dir), started)
        write_json_atomic(cell_dir / RESULT_FILE, record)
    return record


def execute(
    plan: Plan,
    *,
    rerun: str = "missing",
    tracker: Any = None,
    invocation_id: str = "",
    on_event: Callable[[str], None] | None = None,
    progress: RunProgress | None = None,
) -> RunSummary:
    """Run every cell of ``plan`` under the ``rerun`` policy; never raises for a failing cell.

    Args:
        tracker: a :class:`harness.tracking.Tracker` (or ``None``); called in this process after each cell
            with the record on disk, so a tracking failure can never fail or lose a cell.
        on_event: receives one line per cell start and end when no ``progress`` display is given.
        progress: the display (:func:`harness.runner.progress.make_progress`): cell lines, the running cell's
            phases and epochs, cells done and the time left. Closed before this returns.
    """
    if rerun not in RERUN_CHOICES:
        raise HarnessError(f"--rerun must be one of {', '.join(RERUN_CHOICES)}, got {rerun!r}")
    if progress is None:
        progress = RunProgress(on_event or (lambda line: log.info("%s", line)))
    summary = RunSummary(plan)
    total = len(plan.cells)
    started = time.time()
    settled: dict[int, CellOutcome] = {}
    elsewhere: list[int] = []  # cells another process was running: waited for once the rest are done

    def settle(i: int, outcome: CellOutcome, message: str) -> bool:
        """Record one cell's outcome, print its line, mirror it to the tracker; False after an interrupt."""
        spec, prefix = outcome.spec, f"[{i}/{total}] {outcome.spec.label}"
        settled[i] = outcome
        if outcome.status == "interrupted":
            summary.interrupted = True
            progress.say(f"{prefix}: {message}")
            return False
        progress.cell_done(spec.model, outcome.status, outcome.seconds)
        progress.say(f"{prefix}: {message} · {progress.counts()}")
        if tracker is not None and outcome.record is not None:
            if outcome.executed and getattr(tracker, "uri", None):
                progress.status(f"{spec.label}: logging to MLflow")
            try:
                tracker.log_cell(outcome.record, spec.path, invocation_id)
            except Exception as exc:  # noqa: BLE001 - trackers promise not to raise; the record is on disk anyway
                log.warning(
                    "tracking %s failed: %s (the result is on disk; `harness sync` pushes it)",
                    printable(spec.dir),
                    printable(exc),
                )
        return True

    progress.start(plan.suite.name, [(spec.model, _will_run(spec, rerun)) for spec in plan.cells])
    try:
        going = True
        for i, spec in enumerate(plan.cells, start=1):
            prefix = f"[{i}/{total}] {spec.label}"
            outcome, message = _visit(spec, rerun, prefix, progress)
            if outcome.status == "busy":
                elsewhere.append(i)
                progress.say(f"{prefix}: {message}")
                continue
            if not settle(i, outcome, message):
                going = False
                break
        for i in elsewhere if going else ():
            spec = plan.cells[i - 1]
            outcome, message = _visit_elsewhere(spec, rerun, f"[{i}/{total}] {spec.label}", progress, started)
            if not settle(i, outcome, message):
                break
    finally:
        summary.outcomes = [settled[i] for i in sorted(settled)]
        progress.close()
    _write_invocation(plan, summary, invocation_id)
    return summary


def _will_run(spec: CellSpec, rerun: str) -> bool:
    """Whether the cell is expected to run (for the time-left estimate); :func:`_visit` decides for real."""
    if rerun != "missing":
        return rerun == "always"
    existing = _existing(spec.path, warn=False)
    return existing is None or existing["status"] != "ok"


def _visit(spec: CellSpec, rerun: str, prefix: str, progress: RunProgress) -> tuple[CellOutcome, str]:
    """Settle one cell (on disk, busy, or run now); its outcome and the line that ends its progress."""
    cell_dir = spec.path
    existing = _existing(cell_dir)
    if rerun == "never" or (rerun == "missing" and existing is not None and existing["status"] == "ok"):
        status = "missing" if existing is None else ("cached" if existing["status"] == "ok" else "cached-failed")
        message = f"{'not run' if status == 'missing' else 'on disk'} ({_brief(existing)})"
        return CellOutcome(spec, status, existing), message
    fd = _lock(cell_dir)
    if fd is None:
        message = f"running elsewhere (another harness run holds {cell_dir}); waiting for it after the other cells"
        return CellOutcome(spec, "busy"), message
    try:
        if rerun == "missing":  # another process may have finished it while we waited for the lock
            existing = _existing(cell_dir, warn=False)
            if existing is not None and existing["status"] == "ok":
                return CellOutcome(spec, "cached", existing), f"on disk ({_brief(existing)})"
        return _run_locked(spec, prefix, progress)
    finally:
        os.close(fd)


def _visit_elsewhere(
    spec: CellSpec, rerun: str, prefix: str, progress: RunProgress, started: float
) -> tuple[CellOutcome, str]:
    """Settle a cell that another process was running: wait for its lock, then take its result or run it.

    The other process's result is this cell's outcome when it was written during this invocation (``started``,
    a wall-clock time), or, under ``--rerun missing``, whenever it was written if it is ok. A cell the other
    process left without a result (it was killed) is run here.
    """
    cell_dir = spec.path
    fd = _lock(cell_dir)
    if fd is None:
        progress.say(f"{prefix}: running elsewhere; waiting for the other harness run to finish it")
        progress.cell_started(prefix, spec.model)
        try:
            while fd is None:  # polled, so Ctrl-C and the display keep working while the other process runs it
                _watch(cell_dir, progress.cell_update)
                time.sleep(POLL_S)
                fd = _lock(cell_dir)
        except KeyboardInterrupt:
            if fd is not None:
                os.close(fd)
            return CellOutcome(spec, "interrupted"), "interrupted while waiting for another harness run"
        finally:
            progress.cell_stopped()
    try:
        existing = _existing(cell_dir)
        if existing is not None:
            fresh = _written_since(cell_dir, started)
            if existing["status"] == "ok" and (fresh or rerun == "missing"):
                return CellOutcome(spec, "elsewhere", existing), f"done by another harness run ({_brief(existing)})"
            if existing["status"] != "ok" and fresh:
                return CellOutcome(spec, "cached-failed", existing), f"another harness run: {_brief(existing)}"
        return _run_locked(spec, prefix, progress)
    finally:
        os.close(fd)


def _written_since(cell_dir: Path, started: float) -> bool:
    """Whether the cell's ``result.json`` was written at or after ``started`` (seconds since the epoch)."""
    try:
        return (cell_dir / RESULT_FILE).stat().st_mtime >= started - 1.0  # 1 s: coarse file-system clocks
    except OSError:
        return False


def _run_locked(spec: CellSpec, prefix: str, progress: RunProgress) -> tuple[CellOutcome, str]:
    """Run the cell now (the caller holds its lock)."""
    progress.say(f"{prefix}: running ({spec.path})")
    progress.cell_started(prefix, spec.model)
    t0 = time.perf_counter()
    try:
        record = run_one(spec, watch=progress.cell_update)
    except KeyboardInterrupt:
        outcome = CellOutcome(spec, "interrupted", None, time.perf_counter() - t0)
        return outcome, "interrupted; nothing recorded, it runs again next time"
    finally:
        progress.cell_stopped()
    seconds = time.perf_counter() - t0
    return CellOutcome(spec, record["status"], record, seconds), f"{_brief(record)} in {seconds:.1f}s"


def _brief(record: dict[str, Any] | None) -> str:
    """``ok p@1 12.34 psp@1 5.67`` or ``FAILED Type: message``, for progress lines."""
    if record is None:
        return "no result"
    if record["status"] != "ok":
        err = record.get("error") or {}
        return f"FAILED {err.get('type', '?')}: {str(err.get('message', ''))[:200]}"
    metrics = record.get("metrics") or {}
    shown = " ".join(f"{k} {100 * metrics[k]:.2f}" for k in ("p@1", "p@5", "psp@1") if k in metrics)
    return f"ok {shown}".strip()


def _write_invocation(plan: Plan, summary: RunSummary, invocation_id: str) -> None:
    """``<runs>/<suite>/invocations/<id>.json``: what this invocation planned and what became of each cell.

    Outside any cell folder and not named ``result.json``, so readers of results never pick it up.
    """
    if not invocation_id:
        return
    data = {
        "invocation_id": invocation_id,
        "suite": plan.suite.name,
        "finished_at": utc_now(),
        "interrupted": summary.interrupted,
        "skipped_datasets": plan.skipped,
        "cells": [
            {"key": o.spec.key, "dir": o.spec.dir, "dataset": o.spec.dataset, "model": o.spec.model,
             "seed": o.spec.seed, "status": o.status, "seconds": round(o.seconds, 3)}
            for o in summary.outcomes
        ],
    }  # fmt: skip
    try:
        write_json_atomic(plan.runs_dir / plan.suite.name / "invocations" / f"{invocation_id}.json", data)
    except OSError as exc:  # an audit file must not turn a finished run into an error
        log.warning("could not write the invocation record: %s", exc)
