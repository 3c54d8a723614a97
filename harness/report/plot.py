"""Plot P@1 against latency p50: one labelled point per (dataset, model) row of a report, saved as PNG.

Uses matplotlib's object API with the Agg canvas (no pyplot, no display, no global backend switch), and
imports matplotlib only when a plot is requested.

Usage::

    from harness.report.plot import plot_accuracy_vs_latency
    plot_accuracy_vs_latency(report, Path("results/p1_vs_latency.png"))
"""

from __future__ import annotations

import logging
from pathlib import Path

from harness.report.aggregate import Report

log = logging.getLogger(__name__)


def plot_accuracy_vs_latency(report: Report, path: Path, *, metric: str = "p@1") -> int:
    """Draw ``metric`` (%) against latency p50 (ms, log scale) and save it to ``path``.

    Rows without a latency or without the metric are left out (named in a log message); flagged rows
    (not comparable) are drawn hollow so they are not read as part of the comparison.

    Returns:
        The number of points drawn.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    many_suites = len({t.suite for t in report.tables}) > 1
    datasets = [f"{t.suite}/{t.dataset}" if many_suites else t.dataset for t in report.tables]
    models = sorted({row.model for t in report.tables for row in t.rows})
    fig = Figure(figsize=(7.0, 4.8), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    markers = "osD^v<>pPX*h"
    colours = {m: f"C{i % 10}" for i, m in enumerate(models)}
    drawn, skipped = 0, []
    for t_index, (table, dataset) in enumerate(zip(report.tables, datasets, strict=True)):
        for row in table.rows:
            acc, lat = row.stats.get(metric), row.stats.get("latency_ms_p50_bs1")
            if acc is None or lat is None:
                skipped.append(f"{dataset}/{row.label}")
                continue
            colour = colours[row.model]
            ax.errorbar(
                lat.mean,
                acc.mean * 100,
                xerr=lat.std,
                yerr=None if acc.std is None else acc.std * 100,
                fmt=markers[t_index % len(markers)],
                color=colour,
                ecolor=colour,
                capsize=2,
                markerfacecolor="none" if row.flagged else colour,
                markersize=7,
            )
            label = row.label if len(report.tables) == 1 else f"{row.label} ({dataset})"
            ax.annotate(
                label + (" (!)" if row.flagged else ""),
                (lat.mean, acc.mean * 100),
                textcoords="offset points",
                xytext=(5, 4),
                fontsize=8,
            )
            drawn += 1
    if skipped:
        log.info("plot: left out (no latency or no %s): %s", metric, ", ".join(skipped))
    ax.set_xscale("log")
    # Plain numbers at 1-2-5 steps: the default 2x10^-1 minor labels collide on a short range.
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.margins(x=0.15, y=0.08)  # room for the point labels, which sit up and right of each point
    ax.set_xlabel("latency p50 at batch size 1 (ms, log scale)")
    ax.set_ylabel(f"{metric.upper()} (%)")
    ax.set_title(f"{metric.upper()} against latency" + ("" if len(datasets) > 1 else f": {datasets[0]}"))
    ax.grid(True, which="both", alpha=0.3)
    if len(datasets) > 1:  # marker shape names the dataset; colour names the model (labels say both)
        for t_index, dataset in enumerate(datasets):
            ax.plot([], [], markers[t_index % len(markers)], color="grey", label=dataset)
        ax.legend(fontsize=8, loc="best")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    return drawn
