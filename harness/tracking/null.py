"""The tracker used with ``--no-mlflow``: accepts every call and does nothing.

Usage::

    tracker = NullTracker()
    tracker.log_cell(record, cell_dir, "run-1")   # no-op
"""

from __future__ import annotations

from pathlib import Path

from harness.results import ResultRecord


class NullTracker:
    """A :class:`~harness.tracking.base.Tracker` that records nothing (results stay on disk only)."""

    uri: str | None = None
    failed: bool = False

    def log_cell(self, record: ResultRecord, cell_dir: Path, invocation_id: str) -> None:
        """Do nothing."""

    def close_invocation(self, invocation_id: str, status: str = "FINISHED") -> None:
        """Do nothing."""
