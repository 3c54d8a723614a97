"""``harness sync``: push the results on disk that MLflow does not have yet (idempotent).

Usage::

    harness sync                                          # results/runs -> sqlite results/mlflow.db
    harness sync --runs-dir results/runs --mlflow-uri http://127.0.0.1:5000
    harness sync --dry-run                                # only count what would be pushed
"""

from __future__ import annotations

import argparse
from pathlib import Path

DESCRIPTION = """\
Log every result.json under --runs-dir that the MLflow store lacks, as child runs grouped under one parent
run per (suite, model) of this sync. A cell counts as present when a completely logged run carries its
harness.cell_key and harness.finished_at tags, so running sync again logs nothing new; syncs (and runs) at
the same time are safe, each cell being checked and logged under a lock per store and experiment. The store is
--mlflow-uri, else $MLFLOW_TRACKING_URI, else sqlite:///<parent of runs-dir>/mlflow.db (docs/mlflow.md).
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``harness sync``."""
    parser = subparsers.add_parser(
        "sync",
        help="push results on disk that MLflow does not have yet",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--runs-dir", type=Path, help="where the cells are (default $HARNESS_RUNS or results/runs)")
    parser.add_argument("--mlflow-uri", help="tracking URI (default: $MLFLOW_TRACKING_URI or the local SQLite store)")
    parser.add_argument("--suite", help="only this suite's results")
    parser.add_argument("--dry-run", action="store_true", help="count what would be pushed, push nothing")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Sync and print one summary line (errors become a HarnessError: exit status 2, no traceback)."""
    from harness.tracking import default_runs_dir, redact_uri
    from harness.tracking.sync import sync_runs

    summary = sync_runs(args.runs_dir or default_runs_dir(), args.mlflow_uri, suite=args.suite, dry_run=args.dry_run)
    verb = "would push" if args.dry_run else "pushed"
    print(
        f"{verb} {len(summary.pushed)} cell(s) to {redact_uri(summary.uri)}; {summary.already_present} already there"
        + (f"; {len(summary.unreadable)} unreadable result.json skipped" if summary.unreadable else "")
    )
    return 1 if summary.unreadable else 0
