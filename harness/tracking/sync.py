"""Push result records on disk that MLflow does not have yet (after an outage, or a ``--no-mlflow`` run).

A record is "in MLflow" when a completely logged child run carries its ``harness.cell_key`` and
``harness.finished_at`` tags, so running sync twice logs nothing the second time. Pushed cells are grouped
under one parent run per (suite, model) of this sync, tagged ``harness.invocation_id = sync-...``. Concurrent
syncs (and runs) are safe: each cell is checked again and logged under a per-(store, experiment) file lock.

Usage::

    from harness.tracking.sync import sync_runs
    summary = sync_runs(Path("results/runs"), "http://127.0.0.1:5000")
    print(summary.pushed, summary.already_present)
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError
from harness.results import RESULT_FILE, read_record
from harness.tracking import resolve_tracking_uri, tracking_uri_source
from harness.tracking.base import new_invocation_id
from harness.tracking.mlflow_sink import MlflowTracker
from harness.tracking.uri import check_tracking_uri, redact_text, redact_uri

log = logging.getLogger(__name__)


@dataclass
class SyncSummary:
    """What a sync did."""

    uri: str
    invocation_id: str
    pushed: list[str] = field(default_factory=list)  # cell folders logged now
    already_present: int = 0  # including cells another process logged while this sync ran
    unreadable: list[str] = field(default_factory=list)  # malformed result.json files, left alone


def sync_runs(
    runs_dir: Path, uri: str | None = None, *, suite: str | None = None, dry_run: bool = False
) -> SyncSummary:
    """Log every record under ``runs_dir`` that MLflow lacks.

    Args:
        runs_dir: the runs folder (every ``result.json`` below it).
        uri: tracking URI; ``None`` for ``$MLFLOW_TRACKING_URI`` or the default beside ``runs_dir``.
        suite: only this suite's records.
        dry_run: only count what would be pushed.

    Raises:
        HarnessError: no runs folder, a URI no MLflow store takes, or MLflow unreachable or failing
            (nothing on disk is touched).
    """
    if not runs_dir.is_dir():
        raise HarnessError(f"{runs_dir}: no such runs folder")
    resolved = resolve_tracking_uri(uri, runs_dir)
    check_tracking_uri(resolved, tracking_uri_source(uri))
    tracker = MlflowTracker(resolved, runs_dir=runs_dir, strict=True)
    summary = SyncSummary(uri=resolved, invocation_id=new_invocation_id("sync"))
    try:
        for path in sorted(runs_dir.rglob(RESULT_FILE)):
            try:
                record = read_record(path)
            except HarnessError as exc:
                log.warning("skipping %s", exc)
                summary.unreadable.append(str(path))
                continue
            if suite is not None and record.get("suite") != suite:
                continue
            if tracker.is_logged(record):
                summary.already_present += 1
            elif dry_run or tracker.push_cell(record, path.parent, summary.invocation_id):
                summary.pushed.append(str(path.parent))
            else:  # logged by a concurrent sync or run since this sync read what MLflow holds
                summary.already_present += 1
        if not dry_run:
            tracker.close_invocation(summary.invocation_id)
    except HarnessError:
        raise
    except Exception as exc:
        # Best effort: do not leave this sync's parent runs RUNNING; the original error is the one to report.
        with contextlib.suppress(Exception):
            tracker.close_invocation(summary.invocation_id, "FAILED")
        done = f"; {len(summary.pushed)} cell(s) were pushed before it failed" if summary.pushed else ""
        raise HarnessError(
            f"MLflow at {redact_uri(resolved)} failed: {type(exc).__name__}: {redact_text(str(exc), resolved)}{done}"
        ) from exc
    return summary
