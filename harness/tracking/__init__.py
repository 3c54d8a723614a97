"""Experiment tracking: mirror the result records on disk into MLflow (a view, never the store).

The default store is a local SQLite file beside the runs folder (``results/mlflow.db`` for
``results/runs``) with artifacts in ``results/mlruns``: no server needed, and never inside the runs folder,
whose every ``result.json`` is read as a result. ``--mlflow-uri`` or ``$MLFLOW_TRACKING_URI`` choose another.

Usage::

    from harness.tracking import get_tracker, new_invocation_id
    tracker = get_tracker(None, runs_dir=Path("results/runs"))   # sqlite:///.../results/mlflow.db
    tracker.log_cell(record, cell_dir, invocation_id); tracker.close_invocation(invocation_id)
    get_tracker("foo://x", runs_dir=Path("results/runs"), check=True)   # HarnessError before any cell runs
    sync_command(Path("results/runs"), "http://user:pw@host:5000")  # ... --mlflow-uri 'http://user:***@host:5000'
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.paths import DEFAULT_RUNS_DIR, default_runs_dir
from harness.tracking.base import Tracker, new_invocation_id
from harness.tracking.null import NullTracker
from harness.tracking.uri import check_tracking_uri, redact_text, redact_uri, sync_command

__all__ = [
    "DEFAULT_RUNS_DIR",
    "NullTracker",
    "Tracker",
    "check_tracking_uri",
    "default_runs_dir",
    "default_tracking_uri",
    "get_tracker",
    "new_invocation_id",
    "redact_text",
    "redact_uri",
    "resolve_tracking_uri",
    "sync_command",
    "tracking_uri_source",
]


def default_tracking_uri(runs_dir: Path) -> str:
    """``sqlite:///<parent of runs_dir>/mlflow.db``, absolute so subprocesses and other folders agree."""
    return f"sqlite:///{runs_dir.resolve().parent / 'mlflow.db'}"


def resolve_tracking_uri(uri: str | None, runs_dir: Path | None = None) -> str:
    """The URI to use: explicit ``uri``, else ``$MLFLOW_TRACKING_URI``, else the local default."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(runs_dir or default_runs_dir())


def tracking_uri_source(uri: str | None) -> str | None:
    """Where :func:`resolve_tracking_uri` takes the URI from: ``--mlflow-uri``, ``$MLFLOW_TRACKING_URI`` or None."""
    if uri:
        return "--mlflow-uri"
    return "$MLFLOW_TRACKING_URI" if os.environ.get("MLFLOW_TRACKING_URI") else None


def get_tracker(uri: str | None, enabled: bool = True, *, runs_dir: Path | None = None, check: bool = False) -> Tracker:
    """The tracker for a run.

    Args:
        uri: ``--mlflow-uri``; ``None`` for ``$MLFLOW_TRACKING_URI`` or the local SQLite default.
        enabled: ``False`` for ``--no-mlflow`` (a :class:`NullTracker`).
        runs_dir: the runs folder: places the default store and names it in the ``harness sync`` hint.
        check: raise a :class:`~harness.errors.HarnessError` now for a URI no MLflow store takes (an unknown
            scheme), instead of a warning at the first cell (``harness run`` checks before any cell runs).

    MLflow itself is imported only at the first logged cell (or by ``check`` for a scheme outside
    :data:`~harness.tracking.uri.KNOWN_SCHEMES`), so ``harness run --no-mlflow`` never pays for it.
    """
    if not enabled:
        return NullTracker()
    from harness.tracking.mlflow_sink import MlflowTracker

    resolved = resolve_tracking_uri(uri, runs_dir)
    if check:
        check_tracking_uri(resolved, tracking_uri_source(uri), alternative="--no-mlflow")
    return MlflowTracker(resolved, runs_dir=runs_dir or default_runs_dir())
