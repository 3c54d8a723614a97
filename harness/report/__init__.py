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
from harness.results import load_records

__all__ = [
    "DEFAULT_METRICS",
    "Column",
    "Report",
    "Row",
    "Stat",
    "Table",
    "build_report",
    "load_report",
    "plot_accuracy_vs_latency",
    "render",
]


def load_report(
    runs_dir: Path, *, suite: str | None = None, metrics: Sequence[str] | None = None, merge_suites: bool = False
) -> Report:
    """Read every ``result.json`` under ``runs_dir`` and aggregate them (see :func:`build_report`)."""
    if not runs_dir.is_dir():
        raise HarnessError(f"{runs_dir}: no such runs folder; run `harness run` first or pass --runs-dir")
    return build_report(load_records(runs_dir), suite=suite, metrics=metrics, merge_suites=merge_suites)
