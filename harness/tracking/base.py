"""The tracker interface the runner calls: one child run per finished cell, one parent per (invocation, model).

Trackers are views of the results on disk: they never raise into the runner (a tracking outage must not
cost a benchmark), they warn once and set ``failed`` so the runner can point the user at ``harness sync``.

Usage::

    tracker = get_tracker(args.mlflow_uri, enabled=not args.no_mlflow, runs_dir=runs_dir)
    invocation_id = new_invocation_id()
    for cell in cells:                       # after each cell's result.json is on disk
        tracker.log_cell(record, cell_dir, invocation_id)
    tracker.close_invocation(invocation_id)  # in a finally; status="KILLED" on Ctrl-C
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol, runtime_checkable

from harness.results import ResultRecord


@runtime_checkable
class Tracker(Protocol):
    """What the runner needs from an experiment tracker."""

    #: Where runs go (``None`` for the null tracker); shown in the runner's closing message.
    uri: str | None
    #: True once tracking has failed; the results on disk are complete and ``harness sync`` pushes them.
    failed: bool

    def log_cell(self, record: ResultRecord, cell_dir: Path, invocation_id: str) -> None:
        """Mirror one finished (ok or failed) cell as a child run and refresh its parent's seed aggregates.

        Call it for every cell of the invocation, including cells reused from disk: those join the
        parent's aggregates but are not logged again when MLflow already has them (same cell key and
        finish time). Never raises.
        """
        ...

    def close_invocation(self, invocation_id: str, status: str = "FINISHED") -> None:
        """End every parent run of the invocation (``status``: FINISHED, FAILED or KILLED). Never raises."""
        ...


def new_invocation_id(kind: str = "run") -> str:
    """A sortable, unique id for one ``harness run`` (or ``harness sync``), e.g. ``run-20261122T171400Z-3fa2``."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{kind}-{stamp}-{secrets.token_hex(2)}"
