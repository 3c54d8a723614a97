"""Regression tests for issue 13: concurrent ``harness sync`` (D6) and the MLflow hints and URI checks (D13)."""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

import harness.runner.execute
from harness.cli.main import main
from harness.tracking.mlflow_sink import COMPLETE_TAG, MlflowTracker
from harness.tracking.sync import sync_runs
from tests.fixtures_results import make_record, write_cell

pytestmark = [pytest.mark.mlflow, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[2]


def _cell_runs(uri: str, experiment: str = "smoke") -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    return list(client.search_runs([exp.experiment_id], "tags.`harness.role` = 'cell'", max_results=1000))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- D6: concurrent `harness sync` ------------------------------------------------------------------------------

# Runs the real `harness sync` CLI; the only addition is a barrier after each process has read what MLflow
# holds, so the two processes overlap every time instead of by luck.
SYNC_DRIVER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from harness.tracking.mlflow_sink import MlflowTracker

    barrier, me = Path(sys.argv[1]), sys.argv[2]
    original, waited = MlflowTracker._index, []

    def _index(self, exp_id):
        index = original(self, exp_id)
        if not waited:
            waited.append(True)
            (barrier / me).touch()
            deadline = time.monotonic() + 60
            while len(list(barrier.iterdir())) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
        return index

    MlflowTracker._index = _index
    from harness.cli.main import main
    sys.exit(main(sys.argv[3:]))
    """
)


def test_d6_two_concurrent_syncs_log_each_cell_once(tmp_path: Path, mlflow_db, fast_dir: Path) -> None:
    runs = tmp_path / "runs"
    for seed in range(3):
        write_cell(runs, make_record(seed=seed, p1=0.4 + seed / 100))
    uri = mlflow_db(fast_dir / "mlflow.db")  # a fresh store: the experiment does not exist yet either
    driver, barrier = tmp_path / "driver.py", tmp_path / "barrier"
    driver.write_text(SYNC_DRIVER)
    barrier.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "MLFLOW_DISABLE_TELEMETRY": "true"}
    argv = ["sync", "--runs-dir", str(runs), "--mlflow-uri", uri]
    procs = [
        subprocess.Popen(
            [sys.executable, str(driver), str(barrier), name, *argv],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    outputs = [proc.communicate(timeout=150) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    pushed = [int(re.search(r"pushed (\d+) cell", out).group(1)) for out, _ in outputs]
    assert sum(pushed) == 3, outputs  # each cell pushed by exactly one of the two processes

    children = _cell_runs(uri)
    keys = [c.data.tags["harness.cell_key"] for c in children]
    assert len(children) == 3 and len(set(keys)) == 3  # no cell twice
    assert all(c.data.tags.get(COMPLETE_TAG) == "complete" for c in children)  # and none deleted

    # Idempotent afterwards too.
    assert sync_runs(runs, uri).pushed == []


def test_d6_sync_never_deletes_a_run_that_completed_meanwhile(tmp_path: Path, mlflow_db, fast_dir: Path) -> None:
    """Another process's child is still being logged when this sync looks, and complete when it acts."""
    runs = tmp_path / "runs"
    record = make_record()
    write_cell(runs, record)
    uri = mlflow_db(fast_dir / "x.db")
    other = MlflowTracker(uri, strict=True)
    exp_id = other._experiment_id("smoke")
    tags = {
        "harness.role": "cell",
        "harness.cell_key": record["cell_key"],
        "harness.finished_at": record["finished_at"],
    }
    in_progress = other._mlflow().create_run(exp_id, tags=tags).info.run_id

    tracker = MlflowTracker(uri, strict=True)
    assert not tracker.is_logged(record)  # this sync reads the index while the other child is incomplete
    other._mlflow().set_tag(in_progress, COMPLETE_TAG, "complete")  # ... which the other process then finishes
    tracker.log_cell(record, runs, "sync-test")
    tracker.close_invocation("sync-test")

    from mlflow.tracking import MlflowClient

    assert MlflowClient(uri).get_run(in_progress).info.lifecycle_stage == "active"
    assert [c.info.run_id for c in _cell_runs(uri)] == [in_progress]  # kept, and not logged a second time


def test_d6_a_killed_process_does_not_leave_the_sync_lock_stuck(tmp_path: Path) -> None:
    from harness.tracking.lock import store_lock

    lock = tmp_path / "locks" / "smoke.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from harness.tracking.lock import store_lock\n"
            "with store_lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(120)",
            str(lock),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(TimeoutError), store_lock(lock, timeout=0.3):
            pass  # held by the other process
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        with store_lock(lock, timeout=5):
            pass  # the kernel released it with the process
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=10)
        holder.stdout.close()


# -- D13: hints, credentials and the URI check in `harness run` --------------------------------------------------


def _stub_execute(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list:
    """Replace the cell runner: log one record through the tracker (no training), report no cells run."""
    calls: list = []

    def fake_execute(plan, *, tracker, invocation_id, **_):
        calls.append(plan)
        cell = tmp_path / "cell"
        write_cell(cell, make_record())
        tracker.log_cell(make_record(), cell, invocation_id)
        return SimpleNamespace(
            plan=plan, outcomes=[], failed=0, interrupted=False, exit_code=0, count=lambda *statuses: 0
        )

    monkeypatch.setattr(harness.runner.execute, "execute", fake_execute)
    return calls


def test_d13_closing_hint_names_the_store_and_hides_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture
) -> None:
    _stub_execute(monkeypatch, tmp_path)
    runs = tmp_path / "runs"
    uri = f"http://alice:s3cret@127.0.0.1:{_closed_port()}"
    with caplog.at_level(logging.WARNING, logger="harness.tracking"):
        assert main(["run", "--suite", "smoke", "--runs-dir", str(runs), "--mlflow-uri", uri]) == 0
    out, err = capsys.readouterr()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "s3cret" not in out + err + logged
    hint = next(line for line in out.splitlines() if "harness sync" in line)
    assert f"--runs-dir {runs}" in hint and "--mlflow-uri" in hint and "alice:***@127.0.0.1" in hint
    warning = next(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "--mlflow-uri" in warning and "alice:***@127.0.0.1" in warning


def test_d13_tracking_warning_hides_database_credentials(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    tracker = MlflowTracker(f"postgresql://bob:hunter2@127.0.0.1:{_closed_port()}/mlflow", runs_dir=tmp_path)
    write_cell(tmp_path, make_record())
    with caplog.at_level(logging.WARNING, logger="harness.tracking"):
        tracker.log_cell(make_record(), tmp_path, "run-test")
    assert tracker.failed
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "hunter2" not in warning
    assert "--mlflow-uri 'postgresql://bob:***@127.0.0.1:" in warning


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args) -> None:
        pass


def test_d13_server_with_credentials_in_the_uri_is_reachable() -> None:
    """The /health probe used the user:password part as the host name, so such a server never worked."""
    from harness.tracking.mlflow_sink import _probe

    server = HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        _probe(f"http://alice:s3cret@127.0.0.1:{server.server_address[1]}")  # must not raise
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.parametrize("source", ["flag", "env"])
def test_d13_bad_uri_scheme_stops_harness_run_before_any_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, source: str
) -> None:
    calls = _stub_execute(monkeypatch, tmp_path)
    argv = ["run", "--suite", "smoke", "--runs-dir", str(tmp_path / "runs")]
    if source == "flag":
        argv += ["--mlflow-uri", "foo://x"]
    else:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", "foo://x")
    started = time.monotonic()
    assert main(argv) == 2
    assert calls == []  # no cell ran
    err = capsys.readouterr().err
    assert err.count("foo://x") == 1 and "'foo'" in err
    assert ("--mlflow-uri" if source == "flag" else "$MLFLOW_TRACKING_URI") in err
    assert time.monotonic() - started < 60


def test_d6_lock_is_shared_by_every_spelling_of_one_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.tracking.lock import lock_path

    monkeypatch.chdir(tmp_path)
    db = tmp_path / "results" / "mlflow.db"
    assert lock_path(f"sqlite:///{db}", "smoke") == lock_path("sqlite:///results/mlflow.db", "smoke")
    assert lock_path(f"sqlite:///{db}", "smoke").parent == tmp_path / "results" / "mlruns" / ".harness-locks"
    assert lock_path(f"sqlite:///{db}", "smoke") != lock_path(f"sqlite:///{db}", "offline")
    server = lock_path("http://alice:pw@127.0.0.1:5000", "smoke")
    assert server == lock_path("http://127.0.0.1:5000", "smoke") != lock_path("http://127.0.0.1:5001", "smoke")


def test_d13_redaction_and_sync_command() -> None:
    from harness.tracking import redact_text, redact_uri, sync_command

    assert redact_uri("http://user:secret@host:5000") == "http://user:***@host:5000"
    assert (
        redact_uri("postgresql://u:pw@db:5432/x?sslpassword=zz&a=1")
        == "postgresql://u:***@db:5432/x?sslpassword=***&a=1"
    )
    assert redact_uri("https://token@host") == "https://***@host"
    for plain in ("sqlite:////data/a@b/mlflow.db", "/tmp/mlruns", "databricks", "http://127.0.0.1:5000"):
        assert redact_uri(plain) == plain
    text = redact_text("API request to http://user:secret@host:5000/api/2.0 failed", "http://user:secret@host:5000")
    assert "secret" not in text and "user:***@host" in text
    hint = sync_command(Path("results/runs"), "http://user:secret@host:5000")
    assert hint.startswith("harness sync --runs-dir results/runs --mlflow-uri 'http://user:***@host:5000'")
    assert "secret" not in hint
