"""MLflow tracker: an experiment per suite, a parent run per (invocation, model), a child run per cell.

Uses ``MlflowClient`` (not the fluent ``mlflow.start_run`` API) so several parent runs can stay open at once
without global active-run state. ``mlflow`` is imported at the first logged cell. Whether a cell is already in
MLflow is decided under a (store, experiment) file lock (:mod:`harness.tracking.lock`), so concurrent syncs and
runs log each cell once and never delete each other's runs.

Usage::

    tracker = MlflowTracker("sqlite:////abs/results/mlflow.db", runs_dir=Path("results/runs"))
    tracker.log_cell(record, cell_dir, "run-20261122T171400Z-3fa2")
    tracker.close_invocation("run-20261122T171400Z-3fa2")
"""

from __future__ import annotations

import logging
import os
import re
import urllib.error
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from harness import __version__
from harness.results import ResultRecord
from harness.tracking.lock import lock_path, store_lock
from harness.tracking.mapping import (
    MAX_TAG_VALUE,
    cell_metrics,
    cell_params,
    cell_tags,
    metric_key,
    parent_metrics,
    truncate,
)
from harness.tracking.uri import redact_text, redact_uri, sqlite_path, strip_userinfo, sync_command

log = logging.getLogger(__name__)

ARTIFACTS = ("result.json", "env.json", "topk.npz", "log.txt")
COMPLETE_TAG = "harness.logged"  # set last: a child without it was interrupted and is replaced by sync


@dataclass
class _Parent:
    run_id: str
    suite: str
    model: str
    records: list[ResultRecord] = field(default_factory=list)


class MlflowTracker:
    """Mirror result records into MLflow.

    Args:
        uri: tracking URI (``sqlite:///...``, ``http://host:port``, ...).
        runs_dir: the runs folder, named in the ``harness sync`` hint after a failure.
        strict: raise MLflow errors instead of warning and disabling (what ``harness sync`` wants).
    """

    def __init__(self, uri: str, *, runs_dir: Path | None = None, strict: bool = False) -> None:
        self.uri = uri
        self.failed = False
        self._runs_dir = runs_dir
        self._strict = strict
        self._client: Any = None
        self._experiments: dict[str, str] = {}  # suite -> experiment id
        self._logged: dict[str, dict[tuple[str, str], list[tuple[str, bool]]]] = {}  # exp -> cell -> runs
        self._parents: dict[tuple[str, str, str], _Parent] = {}  # (invocation, suite, model) -> parent

    # -- the Tracker interface -------------------------------------------------------------------------

    def log_cell(self, record: ResultRecord, cell_dir: Path, invocation_id: str) -> None:
        """Log one cell as a child run (unless MLflow has it) and refresh its parent's aggregates."""
        self._guard(self._log_cell, record, Path(cell_dir), invocation_id)

    def close_invocation(self, invocation_id: str, status: str = "FINISHED") -> None:
        """Log each parent's common params and end it."""
        self._guard(self._close_invocation, invocation_id, status)

    def push_cell(self, record: ResultRecord, cell_dir: Path, invocation_id: str) -> bool:
        """Log one cell unless MLflow has it (``harness sync``); only a cell logged now joins a parent.

        Returns:
            True when this call logged it; False when MLflow had it, or another process logged it meanwhile.
        """
        return bool(self._guard(self._log_cell, record, Path(cell_dir), invocation_id, True))

    def is_logged(self, record: ResultRecord) -> bool:
        """Whether MLflow already holds this record completely (same cell key and finish time).

        Read from an index made once per experiment: True is final (a complete run is never deleted), False
        may be stale under concurrency, which :meth:`log_cell` and :meth:`push_cell` check again under the lock.
        """
        index = self._index(self._experiment_id(_suite(record)))
        return _complete(index.get(_identity(record), []))

    # -- internals ---------------------------------------------------------------------------------------

    def _guard(self, fn: Any, *args: Any) -> Any:
        if self.failed:
            return None
        try:
            return fn(*args)
        except Exception as exc:
            if self._strict:
                raise
            self.failed = True
            log.warning(
                "MLflow tracking to %s failed (%s: %s); tracking is off for the rest of this run. The results "
                "on disk are complete; push them later with: %s",
                redact_uri(self.uri),
                type(exc).__name__,
                redact_text(str(exc), self.uri),
                sync_command(self._runs_dir, self.uri),
            )
            return None

    def _mlflow(self) -> Any:
        if self._client is None:
            # No usage data leaves the machine unless the user asks for it; no two "View run" lines per run
            # on stdout between the runner's progress lines; a dead server fails in seconds, not after
            # MLflow's default 7 retries with exponential backoff. Users can override each of these.
            os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
            os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
            if self.uri.startswith(("http://", "https://")):
                _probe(self.uri)
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(tracking_uri=self.uri)
        return self._client

    def _experiment_id(self, suite: str) -> str:
        if suite not in self._experiments:
            client = self._mlflow()
            exp = client.get_experiment_by_name(suite)
            if exp is None:
                with store_lock(lock_path(self.uri, suite)):  # two processes must not both create it
                    exp = client.get_experiment_by_name(suite)
                    if exp is None:
                        self._experiments[suite] = client.create_experiment(
                            suite, artifact_location=self._artifact_location(suite), tags={"harness.suite": suite}
                        )
                        return self._experiments[suite]
            if exp.lifecycle_stage != "active":
                raise RuntimeError(f"MLflow experiment {suite!r} is deleted; restore it or purge it with `mlflow gc`")
            self._experiments[suite] = exp.experiment_id
        return self._experiments[suite]

    def _artifact_location(self, suite: str) -> str | None:
        """Beside the SQLite file (``results/mlruns/<suite>``), not MLflow's ``./mlruns`` in whatever cwd."""
        db = sqlite_path(self.uri)
        if db is None:
            return None  # a server or other store decides where artifacts go
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", suite)
        return (db.resolve().parent / "mlruns" / safe).as_uri()

    def _search(self, exp_id: str, filter_string: str) -> list[tuple[tuple[str, str], str, bool]]:
        """Active cell runs matching ``filter_string``: [((cell key, finished_at), run id, complete)]."""
        client, found, token = self._mlflow(), [], None
        while True:
            page = client.search_runs([exp_id], filter_string, max_results=1000, page_token=token)
            for run in page:
                tags = run.data.tags
                key = (tags.get("harness.cell_key", ""), tags.get("harness.finished_at", ""))
                found.append((key, run.info.run_id, tags.get(COMPLETE_TAG) == "complete"))
            token = page.token
            if not token:
                return found

    def _index(self, exp_id: str) -> dict[tuple[str, str], list[tuple[str, bool]]]:
        """Cells MLflow already has: (cell key, finished_at) -> [(run id, complete)], read once per experiment."""
        if exp_id not in self._logged:
            index: dict[tuple[str, str], list[tuple[str, bool]]] = defaultdict(list)
            for key, run_id, complete in self._search(exp_id, "tags.`harness.role` = 'cell'"):
                index[key].append((run_id, complete))
            self._logged[exp_id] = index
        return self._logged[exp_id]

    def _runs_now(self, exp_id: str, identity: tuple[str, str]) -> list[tuple[str, bool]]:
        """The runs MLflow holds for one cell right now (not the index, which may be stale)."""
        cell_key = identity[0]
        if "'" in cell_key or "\\" in cell_key:  # not a harness key; read the whole experiment again
            self._logged.pop(exp_id, None)
            return list(self._index(exp_id).get(identity, []))
        rows = self._search(exp_id, f"tags.`harness.role` = 'cell' and tags.`harness.cell_key` = '{cell_key}'")
        return [(run_id, complete) for key, run_id, complete in rows if key == identity]

    def _log_cell(self, record: ResultRecord, cell_dir: Path, invocation_id: str, only_new: bool = False) -> bool:
        """Log the cell's child run unless MLflow has it; True when logged now.

        The decision is made under the (store, experiment) lock from what MLflow holds at that moment, so
        two processes never both log a cell, and a run another process completed is never deleted.
        ``only_new`` (sync): the cell joins this invocation's parent only when logged now; otherwise (run)
        it always joins, so a resumed run's parent aggregates every cell of the suite.
        """
        suite = _suite(record)
        exp_id = self._experiment_id(suite)
        parent = None if only_new else self._parent(exp_id, invocation_id, suite, record)
        if parent is not None:
            parent.records.append(record)
        identity = _identity(record)
        index = self._index(exp_id)
        logged = False
        if not _complete(index.get(identity, [])):
            with store_lock(lock_path(self.uri, suite)):
                runs = self._runs_now(exp_id, identity)
                if not _complete(runs):
                    runs = self._delete_interrupted(runs)
                if not runs:
                    if parent is None:
                        parent = self._parent(exp_id, invocation_id, suite, record)
                        parent.records.append(record)
                    runs = [(self._log_child(exp_id, parent.run_id, record, cell_dir, invocation_id), True)]
                    logged = True
                index[identity] = runs
        if parent is not None:
            self._update_parent(parent)
        return logged

    def _delete_interrupted(self, runs: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
        """Delete runs whose logging was interrupted; ``[(run id, True)]`` if one turns out complete by now."""
        client = self._mlflow()
        for run_id, _ in runs:
            if client.get_run(run_id).data.tags.get(COMPLETE_TAG) == "complete":
                return [(run_id, True)]  # finished by a process this lock does not reach (another machine): keep it
            client.delete_run(run_id)
        return []

    def _log_child(self, exp_id: str, parent_id: str, record: ResultRecord, cell_dir: Path, invocation_id: str) -> str:
        client = self._mlflow()
        name = f"{record['dataset']['name']}/seed-{record['seed']}"
        tags = {**cell_tags(record, invocation_id), "mlflow.parentRunId": parent_id}
        run_id = client.create_run(
            exp_id, start_time=_ms(record.get("started_at")), tags=tags, run_name=name
        ).info.run_id
        end = _ms(record.get("finished_at"))
        self._log_batch(run_id, metrics=cell_metrics(record), params=cell_params(record), timestamp=end)
        for filename in ARTIFACTS:
            if (cell_dir / filename).is_file():
                client.log_artifact(run_id, str(cell_dir / filename))
        if record.get("error"):
            err = record["error"] or {}
            client.log_text(
                run_id, f"{err.get('type')}: {err.get('message')}\n\n{err.get('traceback', '')}", "error.txt"
            )
        client.set_tag(run_id, COMPLETE_TAG, "complete")
        client.set_terminated(run_id, status="FINISHED" if record["status"] == "ok" else "FAILED", end_time=end)
        return run_id

    def _parent(self, exp_id: str, invocation_id: str, suite: str, record: ResultRecord) -> _Parent:
        key = (invocation_id, suite, record["model"])
        if key not in self._parents:
            tags = {
                "harness.role": "parent",
                "harness.invocation_id": invocation_id,
                "harness.suite": suite,
                "harness.model": record["model"],
                "harness.version": __version__,
                "harness.git_sha": str(record.get("git_sha") or "unknown"),
                "harness.metrics_version": str(record.get("metrics_version", "")),
            }
            run = self._mlflow().create_run(exp_id, tags=tags, run_name=f"{record['model']} [{invocation_id}]")
            self._parents[key] = _Parent(run.info.run_id, suite, record["model"])
            self._log_batch(run.info.run_id, params={"suite": suite, "model": record["model"]})
        return self._parents[key]

    def _update_parent(self, parent: _Parent) -> None:
        metrics, warnings = parent_metrics(parent.records)
        n_failed = sum(1 for r in parent.records if r["status"] != "ok")
        metrics.update({"n_cells_ok": float(len(parent.records) - n_failed), "n_cells_failed": float(n_failed)})
        tags = {
            "harness.datasets": ",".join(sorted({r["dataset"]["name"] for r in parent.records})),
            "harness.seeds": ",".join(map(str, sorted({int(r["seed"]) for r in parent.records}))),
            "harness.status": "ok" if n_failed == 0 else f"{n_failed} failed",
        }
        if warnings:
            tags["harness.warning"] = truncate("\n".join(warnings), MAX_TAG_VALUE)
        self._log_batch(parent.run_id, metrics=metrics, tags=tags, step=len(parent.records))

    def _close_invocation(self, invocation_id: str, status: str) -> None:
        for key in [k for k in self._parents if k[0] == invocation_id]:
            parent = self._parents.pop(key)
            # Params are immutable in MLflow, so the config shared by all cells is logged once, at the end.
            shared: dict[str, str] | None = None
            for rec in parent.records:
                params = cell_params(rec)
                shared = params if shared is None else {k: v for k, v in shared.items() if params.get(k) == v}
            for k in ("suite", "model", "dataset", "seed"):
                (shared or {}).pop(k, None)
            self._log_batch(parent.run_id, params=shared or {})
            all_failed = bool(parent.records) and all(r["status"] != "ok" for r in parent.records)
            self._mlflow().set_terminated(parent.run_id, status="FAILED" if all_failed else status)

    def _log_batch(
        self,
        run_id: str,
        *,
        metrics: dict[str, float] | None = None,
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
        timestamp: int | None = None,
        step: int = 0,
    ) -> None:
        """``log_batch`` in chunks MLflow accepts (100 params or tags, 1000 metrics per request)."""
        from mlflow.entities import Metric, Param, RunTag

        now = timestamp or int(datetime.now().timestamp() * 1000)
        client = self._mlflow()
        m = [Metric(metric_key(k), v, now, step) for k, v in (metrics or {}).items()]
        p = [Param(k, v) for k, v in (params or {}).items()]
        t = [RunTag(k, truncate(v, MAX_TAG_VALUE)) for k, v in (tags or {}).items()]
        for i in range(0, len(m), 1000):
            client.log_batch(run_id, metrics=m[i : i + 1000])
        for i in range(0, len(p), 100):
            client.log_batch(run_id, params=p[i : i + 100])
        for i in range(0, len(t), 100):
            client.log_batch(run_id, tags=t[i : i + 100])


def _probe(uri: str) -> None:
    """Fail fast when nothing answers at ``uri``; any HTTP answer (even 401 or 404) means a server is there."""
    try:
        # Without user:password@, which urllib would take for part of the host name (MLflow sends them itself).
        with urllib.request.urlopen(strip_userinfo(uri).rstrip("/") + "/health", timeout=5) as resp:  # noqa: S310
            resp.read()
    except urllib.error.HTTPError:
        pass  # e.g. a proxy with authentication, or a --static-prefix: let MLflow's own calls decide


def _suite(record: ResultRecord) -> str:
    return str(record.get("suite") or "harness")


def _complete(runs: list[tuple[str, bool]]) -> bool:
    return any(complete for _, complete in runs)


def _identity(record: ResultRecord) -> tuple[str, str]:
    # A re-run cell (--rerun always) keeps its key but gets a new finish time: it is a new run.
    return record["cell_key"], str(record.get("finished_at") or "")


def _ms(iso: str | None) -> int | None:
    """ISO 8601 to epoch milliseconds; ``None`` (MLflow then uses now) when absent or unreadable."""
    if not iso:
        return None
    try:
        return int(datetime.fromisoformat(str(iso).replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None
