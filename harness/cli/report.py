"""``harness report``: comparison tables (Markdown, CSV, LaTeX) and a P@1-vs-latency plot from results on disk.

Usage::

    harness report > results/table.md                       # Markdown on stdout, every suite under results/runs
    harness report --suite smoke --out results/table.md     # also writes results/p1_vs_latency.png beside it
    harness report --format csv --metrics p@1,psp@1,ndcg@5
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.report.significance import SignificanceSettings

log = logging.getLogger(__name__)

PLOT_NAME = "p1_vs_latency.png"
#: SignificanceSettings' defaults, repeated here so that building the parser does not import the report
#: package (numpy, matplotlib); a test keeps the two equal.
DEFAULT_ALPHA = 0.05
DEFAULT_RESAMPLES = 10_000

DESCRIPTION = """\
Render the results on disk (every result.json under --runs-dir) as one table per dataset, one row per
model: P@1/3/5 and PSP@1/3/5 (or --metrics), MACs per query, parameters, model size, latency p50 and
training time, each as mean ± std over seeds with the best value per column in bold. Seeds are averaged
only when dataset sha256, split hash, metrics version and config agree; any other result becomes its own,
flagged row. Deviations from the paper or protocol become numbered footnotes; failed cells are listed
below their table. Accuracy values not significantly different from their column's best are marked ≈
(paired sign-flip test over the test queries, Holm-corrected; from each cell's per_query.npz), and rows
whose training a budget cut before convergence are marked "not converged". Tables of datasets with
published numbers (harness published) show each model's published reference below its row, and Δ columns
(ours − published, in points); --no-published leaves them out. See docs/report.md.
"""

EPILOG = f"""\
examples:
  harness report > results/table.md
  harness report --suite short-text --out results/table.md       # + results/{PLOT_NAME}
  harness report --suite xc-bow,peers-pecos --merge-suites       # one table per dataset across both suites
  harness report --format latex --metrics p@1,p@5,psp@5 --out paper/table.tex --no-plot
  harness report --alpha 0.01 --resamples 20000                   # a stricter significance test
  harness report --no-published                                   # without the published reference rows
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``harness report``."""
    parser = subparsers.add_parser(
        "report",
        help="comparison tables and a P@1-vs-latency plot from the results on disk",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--runs-dir", type=Path, help="where the cells are (default $HARNESS_RUNS or results/runs)")
    parser.add_argument(
        "--suite", help="only this suite, or comma-separated suites (default: every suite found, one section each)"
    )
    parser.add_argument(
        "--merge-suites",
        action="store_true",
        help="one table per dataset across the suites (rows of a different split or k are flagged)",
    )
    parser.add_argument("--format", choices=("md", "csv", "latex"), default="md", help="default md")
    parser.add_argument("--metrics", help="accuracy columns, comma-separated (default p@1,p@3,p@5,psp@1,psp@3,psp@5)")
    parser.add_argument("--out", type=Path, help="write the table here instead of stdout")
    parser.add_argument(
        "--plot", type=Path, metavar="FILE.png", help=f"save the plot here (default with --out: {PLOT_NAME} beside it)"
    )
    parser.add_argument("--no-plot", action="store_true", help="do not draw the plot")
    parser.add_argument("--alpha", type=float, default=DEFAULT_ALPHA, help="significance level (default %(default)s)")
    parser.add_argument(
        "--resamples",
        type=int,
        default=DEFAULT_RESAMPLES,
        help="random sign flips of the paired test (default %(default)s; 0: no test)",
    )
    parser.add_argument(
        "--no-published",
        action="store_true",
        help="leave out the published reference rows and the Δ columns (harness published)",
    )
    parser.set_defaults(func=run)


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this report, with only the options that differ from the defaults."""
    parts = ["harness", "report"]
    for flag, value in (
        ("--runs-dir", args.runs_dir),
        ("--suite", args.suite),
        ("--metrics", args.metrics),
        ("--out", args.out),
    ):
        if value is not None:
            parts += [flag, str(value)]
    if args.merge_suites:
        parts.append("--merge-suites")
    if args.format != "md":
        parts += ["--format", args.format]
    if args.plot is not None:
        parts += ["--plot", str(args.plot)]
    if args.no_plot:
        parts.append("--no-plot")
    if args.alpha != DEFAULT_ALPHA:
        parts += ["--alpha", str(args.alpha)]
    if args.resamples != DEFAULT_RESAMPLES:
        parts += ["--resamples", str(args.resamples)]
    if args.no_published:
        parts.append("--no-published")
    return shlex.join(parts)


def _significance(alpha: float, resamples: int) -> SignificanceSettings | None:
    """Validated test settings; ``None`` for ``--resamples 0``."""
    from harness.report.significance import SignificanceSettings

    if not 0.0 < alpha < 1.0:
        raise HarnessError(f"--alpha must lie in (0, 1), got {alpha}")
    if resamples < 0:
        raise HarnessError(f"--resamples must be >= 0, got {resamples}")
    if resamples == 0:
        return None
    if (1 + resamples) * alpha < 2:  # the smallest p-value, 1 / (1 + resamples), could never reach alpha
        raise HarnessError(f"--resamples {resamples} is too few for --alpha {alpha}; use at least {int(2 / alpha)}")
    return SignificanceSettings(alpha=alpha, resamples=resamples)


def run(args: argparse.Namespace) -> int:
    """Load, aggregate, render; warnings about mixed results go to the log as well as into the table."""
    from harness.report import load_report, plot_accuracy_vs_latency, render
    from harness.results import printable
    from harness.tracking import default_runs_dir

    if args.plot is not None and args.no_plot:
        raise HarnessError("--plot and --no-plot contradict each other")
    if args.plot is not None:
        _check_plot_path(args.plot)
    runs_dir = args.runs_dir or default_runs_dir()
    if runs_dir.exists() and not runs_dir.is_dir():
        raise HarnessError(f"--runs-dir {runs_dir}: is a file, not a folder of runs")
    metrics = [m for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    report = load_report(
        runs_dir,
        suite=args.suite,
        metrics=metrics,
        merge_suites=args.merge_suites,
        significance=_significance(args.alpha, args.resamples),
        published=not args.no_published,
    )
    for warning in report.warnings:
        log.warning("%s", printable(warning))
    text = render(report, args.format, command=command_line(args))
    if args.out is None:
        sys.stdout.write(text)
    else:
        try:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise HarnessError(f"--out {args.out}: cannot write the table ({exc.strerror or exc})") from None
        log.info("table written to %s", args.out)
    plot = args.plot
    if plot is None and args.out is not None and not args.no_plot:
        plot = args.out.parent / PLOT_NAME
    if plot is not None:
        try:
            drawn = plot_accuracy_vs_latency(report, plot)
        except OSError as exc:
            raise HarnessError(f"{plot}: cannot write the plot ({exc.strerror or exc})") from None
        log.info("plot written to %s (%d points)", plot, drawn)
    return 0


def _check_plot_path(path: Path) -> None:
    """The plot's format comes from its extension: refuse one matplotlib cannot write before any work is done."""
    from matplotlib.backend_bases import FigureCanvasBase

    kinds = FigureCanvasBase.get_supported_filetypes()
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in kinds:
        got = f"'.{suffix}'" if suffix else "no extension"
        raise HarnessError(
            f"--plot {path}: the file name must end in an image type ({', '.join(f'.{k}' for k in sorted(kinds))}), "
            f"got {got}"
        )
    if path.is_dir():
        raise HarnessError(f"--plot {path}: is a folder; name the image file")
