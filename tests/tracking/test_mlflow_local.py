"""The MLflow tracker against the default local SQLite store: run tree, tags, artifacts, sync, outages."""

from __future__ import annotations

import hashlib
import logging
import socket
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.results import load_records, read_record
from harness.tracking import default_tracking_uri, get_tracker, new_invocation_id, resolve_tracking_uri
from harness.tracking.mlflow_sink import COMPLETE_TAG, MlflowTracker
from harness.tracking.sync import sync_runs
from tests.fixtures_results import make_record, write_cell, write_standard_runs

pytestmark = pytest.mark.mlflow


def _log_all(tracker, runs_dir: Path, invocation_id: str) -> None:
    for path in sorted(runs_dir.rglob("result.json")):
        tracker.log_cell(read_record(path), path.parent, invocation_id)
    tracker.close_invocation(invocation_id)


def _runs(uri: str, experiment: str = "smoke") -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    return list(client.search_runs([exp.experiment_id], max_results=1000))


def _disk_fingerprint(runs_dir: Path) -> dict[str, str]:
    return {
        str(p.relative_to(runs_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(runs_dir.rglob("*"))
        if p.is_file()
    }


def test_default_store_lives_beside_the_runs_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = tmp_path / "results" / "runs"
    assert default_tracking_uri(runs) == f"sqlite:///{tmp_path / 'results' / 'mlflow.db'}"
    assert resolve_tracking_uri("http://x:1", runs) == "http://x:1"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    assert resolve_tracking_uri(None, runs) == "sqlite:///elsewhere.db"  # the environment beats the default
    assert get_tracker("http://x:1", enabled=False).uri is None


def test_run_tree_tags_metrics_and_artifacts(tmp_path: Path, mlflow_db) -> None:
    runs = tmp_path / "results" / "runs"
    mlflow_db(tmp_path / "results" / "mlflow.db")  # where the default store goes, pre-migrated (speed only)
    write_standard_runs(runs)
    before = _disk_fingerprint(runs)
    tracker = get_tracker(None, runs_dir=runs)
    _log_all(tracker, runs, new_invocation_id())
    assert not tracker.failed

    all_runs = _runs(tracker.uri)
    parents = {r.info.run_id: r for r in all_runs if r.data.tags.get("harness.role") == "parent"}
    children = [r for r in all_runs if r.data.tags.get("harness.role") == "cell"]
    assert sorted(p.data.tags["harness.model"] for p in parents.values()) == ["inceptionxml", "knn", "syncxml"]
    assert len(children) == 12
    for child in children:  # each child hangs under the parent of its own model
        parent = parents[child.data.tags["mlflow.parentRunId"]]
        assert parent.data.tags["harness.model"] == child.data.tags["harness.model"]

    inc = next(p for p in parents.values() if p.data.tags["harness.model"] == "inceptionxml")
    assert inc.data.metrics["wordnet-nouns/n_seeds"] == 3  # the mixed-split record is not pooled
    assert inc.data.metrics["wordnet-nouns/p_at_1_mean"] == pytest.approx((0.4210 + 0.4350 + 0.4290) / 3)
    assert "wordnet-nouns/p_at_1_std" in inc.data.metrics and "tiny-synth/p_at_1_mean" in inc.data.metrics
    assert "split" in inc.data.tags["harness.warning"]
    assert inc.data.params["embedding_dim"] == "300" and inc.data.params["encoder.filters"] == "[32, 64]"

    ok = next(c for c in children if c.data.tags["harness.model"] == "knn")
    assert {"p_at_1", "psp_at_5", "ndcg_at_3", "latency_ms_p50_bs1", "train_s", "params_total"} <= set(ok.data.metrics)
    assert "flops_per_query" not in ok.data.metrics  # n/a for a non-neural model
    assert ok.info.status == "FINISHED" and ok.data.tags[COMPLETE_TAG] == "complete"

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracker.uri)
    assert {a.path for a in client.list_artifacts(ok.info.run_id)} >= {"result.json", "env.json", "topk.npz"}
    failed = next(c for c in children if c.data.tags["harness.status"] == "failed")
    assert failed.info.status == "FAILED" and failed.data.tags["harness.error_type"] == "OutOfMemory"
    assert "error.txt" in {a.path for a in client.list_artifacts(failed.info.run_id)}

    # Artifacts go beside the store, not into the runs folder: the records on disk are exactly as before.
    assert (tmp_path / "results" / "mlruns").is_dir()
    assert _disk_fingerprint(runs) == before
    assert len(list(load_records(runs))) == 12


def test_reused_cells_join_the_new_parent_without_duplicate_children(tmp_path: Path, mlflow_db, fast_dir) -> None:
    runs = tmp_path / "runs"
    write_cell(runs, make_record(seed=0))
    write_cell(runs, make_record(seed=1, p1=0.44))
    uri = mlflow_db(fast_dir / "x.db")
    _log_all(get_tracker(uri), runs, new_invocation_id())
    _log_all(get_tracker(uri), runs, new_invocation_id())  # a resumed `harness run`: both cells from disk
    all_runs = _runs(uri)
    assert sum(r.data.tags.get("harness.role") == "cell" for r in all_runs) == 2
    parents = [r for r in all_runs if r.data.tags.get("harness.role") == "parent"]
    assert len(parents) == 2
    assert all(p.data.metrics["wordnet-nouns/n_seeds"] == 2 for p in parents)


def test_sync_is_idempotent_and_picks_up_new_and_rerun_cells(
    tmp_path: Path, capsys: pytest.CaptureFixture, mlflow_db, fast_dir
) -> None:
    runs = tmp_path / "runs"
    write_standard_runs(runs)
    uri = mlflow_db(fast_dir / "sync.db")
    assert main(["sync", "--runs-dir", str(runs), "--mlflow-uri", uri]) == 0
    assert "pushed 12 cell(s)" in capsys.readouterr().out
    assert main(["sync", "--runs-dir", str(runs), "--mlflow-uri", uri]) == 0
    assert "pushed 0 cell(s)" in capsys.readouterr().out and len(_runs(uri)) == 12 + 3

    write_cell(runs, make_record(model="knn", seed=7, config={"k": 25}))  # a new cell
    # The same cell re-run (--rerun always): same key, new finish time, so a new child run.
    write_cell(
        runs,
        make_record(
            seed=1,
            p1=0.4350,
            deviations=("trained for 2 epochs instead of 30 (smoke suite)",),
            finished_at="2026-11-23T09:00:00+00:00",
        ),
    )
    summary = sync_runs(runs, uri)
    assert len(summary.pushed) == 2 and summary.already_present == 11
    assert sync_runs(runs, uri, dry_run=True).pushed == []


def test_sync_replaces_an_interrupted_child(tmp_path: Path, mlflow_db, fast_dir) -> None:
    runs = tmp_path / "runs"
    record = make_record()
    write_cell(runs, record)
    uri = mlflow_db(fast_dir / "x.db")
    tracker = MlflowTracker(uri, strict=True)
    exp_id = tracker._experiment_id("smoke")
    # A child whose logging died half-way: tags set, completion tag never written.
    half = tracker._mlflow().create_run(
        exp_id,
        tags={
            "harness.role": "cell",
            "harness.cell_key": record["cell_key"],
            "harness.finished_at": record["finished_at"],
        },
    )
    assert len(sync_runs(runs, uri).pushed) == 1
    from mlflow.tracking import MlflowClient

    assert MlflowClient(uri).get_run(half.info.run_id).info.lifecycle_stage == "deleted"
    assert sync_runs(runs, uri).pushed == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("uri", ["http://127.0.0.1:{port}", "bogus-scheme://nowhere"])
def test_tracking_failure_warns_and_leaves_records_untouched(
    tmp_path: Path, uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    runs = tmp_path / "runs"
    write_standard_runs(runs)
    before = _disk_fingerprint(runs)
    tracker = get_tracker(uri.format(port=_closed_port()), runs_dir=runs)
    with caplog.at_level(logging.WARNING, logger="harness.tracking"):
        _log_all(tracker, runs, new_invocation_id())  # must not raise
    assert tracker.failed
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "harness sync --runs-dir" in warnings[0]  # warned once, with the fix
    assert _disk_fingerprint(runs) == before


def test_sync_against_a_dead_server_is_a_clean_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    runs = tmp_path / "runs"
    write_cell(runs, make_record())
    before = _disk_fingerprint(runs)
    assert main(["sync", "--runs-dir", str(runs), "--mlflow-uri", f"http://127.0.0.1:{_closed_port()}"]) == 2
    assert "failed" in capsys.readouterr().err
    assert _disk_fingerprint(runs) == before
