"""``harness run``: run a benchmark suite, one subprocess per (dataset, model, seed) cell, resumable.

Usage::

    harness run --suite smoke --no-mlflow                  # seconds; a synthetic dataset
    harness run --suite offline                            # the embedded wordnet-nouns, the README's main job
    harness run --suite short-text --models inceptionxml --data-dir ~/xc --seeds 0,1,2 --missing skip
    harness run --suite offline --show-config              # resolved per-cell configs and keys, then exit
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.runner.execute import RunSummary
    from harness.tracking import Tracker

log = logging.getLogger(__name__)

DESCRIPTION = """\
Run a suite: every (dataset, model, seed) cell in its own process, each writing its folder
<runs-dir>/<suite>/<dataset>/<model>/seed-<n>/<key>/ with result.json (written last and atomically),
topk.npz, env.json and log.txt. The key hashes everything that moves the numbers (resolved model
config, dataset and split hashes, seed, metrics version, k, device), so a changed setting gets a new
folder and an unchanged one is found again. A failing cell is recorded (status "failed", with the
error) and the suite goes on; the exit status is 1 if any cell failed, 130 after Ctrl-C, 0 when every
cell is ok on disk. A cell another harness run is running is waited for at the end and counts as done
when it finishes ok. Results are mirrored to MLflow after each cell unless --no-mlflow. See
docs/running.md.
"""

EPILOG = """\
examples:
  harness run --suite smoke --no-mlflow
  harness run --suite offline
  harness run --suite short-text --models inceptionxml --data-dir ~/xc --glove ~/glove/glove.6B.300d.txt
  harness run --suite short-text --datasets AmazonTitles-670K --glove G.txt --show-config   # the paper profile
  harness run --suite offline --models syncxml --set syncxml.top_k_clusters=50 --set max_steps=200
  harness run --suite offline --rerun never                  # only report what is on disk
  harness run --suite offline --progress lines | tee run.log # line-based progress (the default in a pipe)
  harness ls suites                                          # what each suite holds
"""


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in _csv(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be comma-separated integers, got {text!r}") from None
    if not seeds or any(s < 0 for s in seeds):
        raise argparse.ArgumentTypeError(f"seeds must be non-negative integers, got {text!r}")
    return list(dict.fromkeys(seeds))


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``harness run``."""
    p = subparsers.add_parser(
        "run",
        help="run a benchmark suite (resumable, one process per cell)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--suite", required=True, help="suite name (harness ls suites) or a suite YAML file")
    p.add_argument("--models", type=_csv, help="comma-separated models (default: the suite's)")
    p.add_argument("--datasets", type=_csv, help="comma-separated datasets (default: the suite's)")
    p.add_argument("--seeds", type=_seeds, help="comma-separated model seeds, e.g. 0,1,2 (default: the suite's)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="default: the suite's (usually auto)")
    p.add_argument("--threads", type=int, help="torch threads per cell (default: the suite's, else every CPU)")
    p.add_argument(
        "--rerun",
        choices=("missing", "always", "never"),
        default="missing",
        help="missing (default): run cells without an ok result, failed ones included; always: run all "
        "again; never: run nothing, report what is on disk",
    )
    p.add_argument("--runs-dir", type=Path, help="where cells are written (default $HARNESS_RUNS or results/runs)")
    tracking = p.add_mutually_exclusive_group()
    tracking.add_argument("--mlflow-uri", help="MLflow tracking URI (default $MLFLOW_TRACKING_URI or a local SQLite)")
    tracking.add_argument("--no-mlflow", action="store_true", help="do not mirror results to MLflow")
    p.add_argument("--show-config", action="store_true", help="print the resolved per-cell configs as JSON, exit")
    p.add_argument("--data-dir", help="parent folder of downloaded datasets (default $HARNESS_DATA)")
    p.add_argument(
        "--missing",
        choices=("skip", "fail"),
        default="fail",
        help="a dataset that is not on disk: fail (default, before anything runs) or skip it",
    )
    p.add_argument("--timeout-per-cell", type=float, metavar="S", help="kill and fail a cell after S seconds")
    p.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="[MODEL.]FIELD=VALUE",
        help="override a model setting for this run (repeatable; VALUE is YAML): syncxml.top_k_clusters=100, or "
        "max_steps=20 for every model that has the field; shown by --show-config and part of the cell key",
    )
    p.add_argument(
        "--glove",
        metavar="PATH",
        help="word vectors in GloVe text format (glove.6B.300d.txt) for models with embeddings: glove-text, as "
        "the short-text suite's paper profiles; default $HARNESS_GLOVE. Checked line by line before any cell",
    )
    p.add_argument(
        "--progress",
        choices=("auto", "bar", "lines", "off"),
        default="auto",
        help="live progress: bar (a terminal: suite bar and the running cell's phase/epoch), lines (a pipe or "
        "CI: one line per phase and epoch, throttled), off (one line per cell); auto (default): bar on a "
        "terminal, else lines",
    )
    p.set_defaults(func=run)


def _on_sigterm(signum: int, frame: object) -> None:
    # A polite kill (timeout, CI cancel) stops the current cell cleanly, like Ctrl-C.
    raise KeyboardInterrupt


def _say(line: str) -> None:
    from harness.results import printable

    print(printable(line, newlines=True), flush=True)  # names and messages are data: no terminal escapes


def run(args: argparse.Namespace) -> int:
    """Plan, (optionally) show the config, execute, then summarise and point at the results."""
    from harness.runner.execute import execute
    from harness.runner.plan import plan_suite, show_config
    from harness.runner.progress import make_progress
    from harness.suites import load_suite

    if args.threads is not None and args.threads < 1:
        raise HarnessError(f"--threads must be positive, got {args.threads}")
    suite = load_suite(args.suite)
    from harness.paths import default_runs_dir

    runs_dir = args.runs_dir or default_runs_dir()
    plan = plan_suite(
        suite,
        runs_dir,
        models=args.models,
        datasets=args.datasets,
        seeds=args.seeds,
        device=args.device,
        threads=args.threads,
        data_dir=args.data_dir,
        missing=args.missing,
        timeout=args.timeout_per_cell,
        settings=args.settings,
        word_vectors=args.glove,
    )
    if args.show_config:
        show_config(plan, sys.stdout)
        return 0
    _check_runs_dir(runs_dir)
    from harness.results import printable

    for name, why in plan.skipped.items():
        log.warning("skipping dataset %s: %s", printable(name), printable(why))
    models = sorted({c.model for c in plan.cells})
    _say(f"suite {suite.name}: {len(plan.cells)} cells ({', '.join(models)}) -> {runs_dir}")

    from harness.tracking import get_tracker, new_invocation_id

    track = not args.no_mlflow and args.rerun != "never"
    tracker = get_tracker(args.mlflow_uri, enabled=track, runs_dir=runs_dir, check=True)  # a bad URI: error now
    invocation_id = new_invocation_id()
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    status, summary = "FAILED", None
    try:
        progress = make_progress(args.progress, sys.stdout)
        summary = execute(plan, rerun=args.rerun, tracker=tracker, invocation_id=invocation_id, progress=progress)
        status = "KILLED" if summary.interrupted else ("FINISHED" if summary.failed == 0 else "FAILED")
    except KeyboardInterrupt:
        status = "KILLED"
    finally:
        signal.signal(signal.SIGTERM, previous)
        tracker.close_invocation(invocation_id, status)
    if summary is None:
        _say("interrupted; finished cells are on disk, run the same command again to resume")
        return 130
    _closing(summary, runs_dir, tracker)
    return summary.exit_code


def _check_runs_dir(runs_dir: Path) -> None:
    """Create the runs folder now, so that a file in its place or no permission is one error before any cell."""
    if runs_dir.exists() and not runs_dir.is_dir():
        raise HarnessError(f"--runs-dir {runs_dir}: is a file, not a folder")
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HarnessError(f"--runs-dir {runs_dir}: cannot create the folder ({exc.strerror or exc})") from None
    if not os.access(runs_dir, os.W_OK | os.X_OK):
        raise HarnessError(f"--runs-dir {runs_dir}: the folder is not writable")


def _closing(summary: RunSummary, runs_dir: Path, tracker: Tracker) -> None:
    """Counts, failures with their logs, the results table, and where everything is."""
    from harness.runner.measure import summary_table
    from harness.tracking import redact_uri, sync_command

    plan = summary.plan
    _say("")
    not_run = len(plan.cells) - len(summary.outcomes) + summary.count("missing", "busy", "interrupted")
    elsewhere = summary.count("elsewhere")
    _say(
        f"{len(plan.cells)} cells: {summary.count('ok')} ran ok, {summary.count('cached')} already on disk, "
        + (f"{elsewhere} done by another harness run, " if elsewhere else "")
        + f"{summary.failed} failed, {not_run} not run"
    )
    for o in summary.outcomes:
        if o.status in ("failed", "cached-failed") and o.record is not None:
            err = o.record.get("error") or {}
            _say(f"  FAILED {o.spec.label}: {err.get('type')}: {str(err.get('message', ''))[:300]}")
            _say(f"         log: {o.spec.path / 'log.txt'}")
    if summary.interrupted:
        _say("interrupted; finished cells are on disk, run the same command again to resume")
    table = summary_table(runs_dir, plan.suite.name) if summary.count("ok", "cached", "failed") else None
    if table:
        _say("")
        _say(table.rstrip())
    _say("")
    _say(f"results: {runs_dir / plan.suite.name}/  (harness report --runs-dir {runs_dir} --suite {plan.suite.name})")
    if tracker.failed:
        _say(f"MLflow tracking failed; the results on disk are complete: {sync_command(runs_dir, tracker.uri)}")
    elif tracker.uri:
        shown = redact_uri(tracker.uri)
        _say(f"MLflow: {shown}  (mlflow ui --backend-store-uri {shown})")
