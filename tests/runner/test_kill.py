"""Killing ``harness run`` mid-suite loses no finished cell, leaves nothing that looks finished, and resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.results import read_record
from tests.runner.conftest import PLUGIN, REPO_ROOT, harness_run, invocations, results, write_suite


def _running(runs_dir: Path) -> list[Path]:
    """Cell folders with a spec but no result: started and not finished."""
    return [p.parent for p in runs_dir.rglob("cell.json") if not (p.parent / "result.json").exists()]


def test_sigkill_midway_then_resume_completes_every_cell_once(runs_dir: Path, tmp_path: Path) -> None:
    # Each cell sleeps 1 s in fit, so the kill lands while a later cell is running.
    suite = write_suite(tmp_path, "killme", models={"test-ok": {"sleep_s": 1.0}}, seeds=[0, 1, 2])
    env = dict(os.environ, HARNESS_PLUGINS=PLUGIN, PYTHONPATH=str(REPO_ROOT))
    cmd = [sys.executable, "-m", "harness.cli.main", "run", "--suite", str(suite), "--no-mlflow"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    parent = subprocess.Popen([*cmd, "--runs-dir", str(runs_dir)], env=env, cwd=REPO_ROOT, **quiet)
    # Kill once one cell has finished and the next has started, so there is a half-done cell to recover.
    deadline = time.monotonic() + 60
    while not (list(runs_dir.rglob("result.json")) and _running(runs_dir)) and time.monotonic() < deadline:
        time.sleep(0.05)
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    time.sleep(1.0)  # the orphaned cell (if any) would write within its 1 s fit; it must be dead instead

    first = results(runs_dir)
    assert 1 <= len(first) < 3, first.keys()
    assert all(rec["status"] == "ok" for rec in first.values())
    for path in runs_dir.rglob("result.json"):
        read_record(path)  # every result.json on disk is complete and valid
    assert _running(runs_dir), "expected the killed cell's folder (cell.json without result.json)"

    proc = harness_run("--suite", str(suite), "--no-mlflow", "--runs-dir", str(runs_dir))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    final = results(runs_dir)
    assert sorted(final) == ["test-ok/seed-0", "test-ok/seed-1", "test-ok/seed-2"]
    assert all(rec["status"] == "ok" for rec in final.values())
    for name, rec in first.items():  # finished before the kill: not run again
        assert final[name]["started_at"] == rec["started_at"]
    statuses = [c["status"] for c in invocations(runs_dir, "killme")[-1]["cells"]]
    assert statuses.count("cached") == len(first) and statuses.count("ok") == 3 - len(first)
    assert not list(runs_dir.rglob("*.tmp*"))
