"""Comparison tables and plots rendered from the result records on disk (never from MLflow alone).

Usage::

    from harness.report import load_report, render
    report = load_report(Path("results/runs"), suite="smoke")
    print(render(report, "md", command="harness report --suite smoke"))
    plot_accuracy_vs_latency(report, Path("results/p1_vs_latency.png"))
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.errors import HarnessError
from harness.report.aggregate import DEFAULT_METRICS, Column, Report, Row, Stat, Table, build_report
from harness.report.plot import plot_accuracy_vs_latency
from harness.report.render import render
from harness.report.significance import Comparison, PerQueryLoader, SignificanceSettings
from harness.results import RESULT_FILE, ResultRecord, read_record

__all__ = [
    "DEFAULT_METRICS",
    "Column",
    "Comparison",
    "Report",
    "Row",
    "SignificanceSettings",
    "Stat",
    "Table",
    "build_report",
    "load_report",
    "plot_accuracy_vs_latency",
    "render",
]


def load_report(
    runs_dir: Path,
    *,
    suite: str | None = None,
    metrics: Sequence[str] | None = None,
    merge_suites: bool = False,
    significance: SignificanceSettings | None = SignificanceSettings(),  # noqa: B008 - frozen, safe to share
    published: bool = True,
) -> Report:
    """Read every ``result.json`` under ``runs_dir`` and aggregate them (see :func:`build_report`).

    Each cell's ``per_query.npz`` beside its ``result.json`` feeds the paired significance test; the
    dataset itself is never read.
    """
    if not runs_dir.is_dir():
        raise HarnessError(f"{runs_dir}: no such runs folder; run `harness run` first or pass --runs-dir")
    records = []
    cell_dirs: dict[str, Path] = {}
    for path in sorted(runs_dir.rglob(RESULT_FILE)):
        record = read_record(path)
        records.append(record)
        cell_dirs[str(record["cell_key"])] = path.parent
    return build_report(
        records,
        suite=suite,
        metrics=metrics,
        merge_suites=merge_suites,
        per_query=_per_query_loader(cell_dirs),
        significance=significance,
        published=published,
    )


def _per_query_loader(cell_dirs: dict[str, Path]) -> PerQueryLoader:
    """Per-query values by cell key; the loaded file's own cell key is checked against the record's."""
    from harness.metrics.per_query import PER_QUERY_FILE, PerQuery, load_per_query

    def load(record: ResultRecord) -> PerQuery | None:
        folder = cell_dirs.get(str(record.get("cell_key")))
        return None if folder is None else load_per_query(folder / PER_QUERY_FILE)

    return load
