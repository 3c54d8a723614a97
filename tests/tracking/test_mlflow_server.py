"""A real ``mlflow server`` on 127.0.0.1: log cells through the tracker, then check them through the REST API.

The server is a subprocess in its own session, stopped by its PID and then its whole process group, so no
worker outlives the test. It starts on a pre-migrated copy of an empty store (a few seconds to /health).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.results import read_record
from harness.tracking import get_tracker, new_invocation_id
from harness.tracking.sync import sync_runs
from tests.fixtures_results import write_standard_runs

pytestmark = [pytest.mark.mlflow, pytest.mark.timeout(120)]

STARTUP_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server by its PID, then its process group (uvicorn workers); SIGKILL what remains."""
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture
def mlflow_server(tmp_path: Path, mlflow_db, fast_dir: Path) -> Iterator[str]:
    """Base URL of a fresh MLflow server with a SQLite backend (on tmpfs when there is one)."""
    backend = mlflow_db(fast_dir / "mlflow.db")
    (tmp_path / "server").mkdir()
    port = _free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        backend,
        "--artifacts-destination",
        str(tmp_path / "server" / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    log_path = tmp_path / "server" / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=tmp_path / "server", env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=1) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server not healthy after {STARTUP_TIMEOUT_S}s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        _stop(proc)


def _post(url: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"{url}{path}", data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


def _get(url: str, path: str) -> dict:
    with urllib.request.urlopen(f"{url}{path}", timeout=10) as resp:
        return json.loads(resp.read())


def _tags(run: dict) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run["data"].get("tags", [])}


def _metrics(run: dict) -> dict[str, float]:
    return {m["key"]: m["value"] for m in run["data"].get("metrics", [])}


def test_cells_logged_to_a_real_server_are_visible_through_rest(tmp_path: Path, mlflow_server: str) -> None:
    runs = tmp_path / "runs"
    write_standard_runs(runs)
    tracker = get_tracker(mlflow_server, runs_dir=runs)
    invocation = new_invocation_id()
    for path in sorted(runs.rglob("result.json")):
        tracker.log_cell(read_record(path), path.parent, invocation)
    tracker.close_invocation(invocation)
    assert not tracker.failed

    experiments = _post(mlflow_server, "/api/2.0/mlflow/experiments/search", {"max_results": 100})["experiments"]
    exp_id = next(e["experiment_id"] for e in experiments if e["name"] == "smoke")
    found = _post(mlflow_server, "/api/2.0/mlflow/runs/search", {"experiment_ids": [exp_id], "max_results": 1000})
    all_runs = found["runs"]
    parents = {r["info"]["run_id"]: r for r in all_runs if _tags(r).get("harness.role") == "parent"}
    children = [r for r in all_runs if _tags(r).get("harness.role") == "cell"]
    assert len(parents) == 3 and len(children) == 12
    assert {_tags(p)["harness.invocation_id"] for p in parents.values()} == {invocation}

    for child in children:
        tags = _tags(child)
        assert _tags(parents[tags["mlflow.parentRunId"]])["harness.model"] == tags["harness.model"]
        for key in (
            "harness.cell_key",
            "harness.git_sha",
            "harness.dataset_sha256",
            "harness.split_hash",
            "harness.version",
            "harness.metrics_version",
            "harness.status",
        ):
            assert tags[key], key
        keys = set(_metrics(child))
        assert not any("@" in k for k in keys)
        if tags["harness.status"] == "ok":
            assert {"p_at_1", "p_at_3", "psp_at_5", "ndcg_at_3", "latency_ms_p50_bs1", "train_s"} <= keys
            assert child["info"]["status"] == "FINISHED"
        else:
            assert child["info"]["status"] == "FAILED" and tags["harness.error_type"] == "OutOfMemory"

    knn = next(p for p in parents.values() if _tags(p)["harness.model"] == "knn")
    assert _metrics(knn)["wordnet-nouns/p_at_1_mean"] == pytest.approx(0.312)
    assert _metrics(knn)["wordnet-nouns/p_at_1_std"] == pytest.approx(0.0)
    assert _metrics(knn)["n_seeds"] == 1  # only seed 0 has both datasets: the suite mean uses it alone
    assert knn["info"]["status"] == "FINISHED"

    # Artifacts went through the server's artifact proxy.
    ok_child = next(c for c in children if _tags(c)["harness.status"] == "ok")
    listed = _get(mlflow_server, f"/api/2.0/mlflow/artifacts/list?run_id={ok_child['info']['run_id']}")
    assert {"result.json", "env.json", "topk.npz"} <= {f["path"] for f in listed["files"]}

    # Filtering by tag, as a user would in the UI's search box.
    by_tag = _post(
        mlflow_server,
        "/api/2.0/mlflow/runs/search",
        {"experiment_ids": [exp_id], "filter": "tags.`harness.model` = 'knn' and tags.`harness.role` = 'cell'"},
    )
    assert len(by_tag["runs"]) == 4  # 3 seeds of wordnet-nouns, 1 of tiny-synth

    # Live logging and sync agree on identity: nothing to push afterwards.
    summary = sync_runs(runs, mlflow_server)
    assert summary.pushed == [] and summary.already_present == 12
