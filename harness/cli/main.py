"""The ``harness`` command: argparse root that dispatches to one module per subcommand.

Usage::

    harness ls datasets
    harness data info wordnet-nouns
    harness evaluate --pred pred.txt --truth tst_X_Y.txt --json
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from harness import __version__
from harness.errors import HarnessError
from harness.registry import did_you_mean

#: Subcommand name -> module implementing ``add_parser(subparsers)`` and ``run(args) -> int``.
#: Modules are imported only to build the parser; heavy imports stay inside their ``run``.
SUBCOMMANDS = {
    "ls": "harness.cli.ls",
    "data": "harness.cli.data",
    "evaluate": "harness.cli.evaluate",
    "run": "harness.cli.run",
    "report": "harness.cli.report",
    "sync": "harness.cli.sync",
    "profile": "harness.cli.profile",
    "published": "harness.cli.published",
}

EPILOG = """\
examples:
  harness run --suite offline                 # the main job: every model on the embedded dataset (CPU, < 10 min)
  harness run --suite short-text --models inceptionxml --data-dir ~/xc --glove ~/glove.6B.300d.txt --seeds 0,1,2
  harness report > results/table.md           # comparison tables from the results on disk
  harness profile --model inceptionxml --num-labels 670091 --vocab-size 66667 --embedding-dim 300 --json
  harness ls datasets                         # the embedded dataset and the paper's benchmarks
  harness data info wordnet-nouns             # XC-repository statistics and file checksums
  harness data validate ~/xc/LF-AmazonTitles-131K
  harness data build wordnet-nouns --out /tmp/wn   # rebuild the embedded dataset from WordNet 3.0
  harness data synth LF-AmazonTitles-131K --out /tmp/rh --glove   # a stand-in in the exact layout, to rehearse
  harness published AmazonTitles-670K          # the published numbers the report compares with, with sources
  harness evaluate --pred score.txt --truth tst_X_Y.txt --train-labels trn_X_Y.txt --A 0.6 --B 2.6 --json

Datasets not shipped with the harness are read from --data-dir or $HARNESS_DATA (one folder per dataset).
"""


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose unknown-subcommand error suggests the closest name."""

    def error(self, message: str) -> None:  # type: ignore[override]
        if "invalid choice:" in message:
            bad = message.split("invalid choice:", 1)[1].split("(", 1)[0].strip().strip("'\"")
            choices = []
            for action in self._actions:
                if isinstance(action, argparse._SubParsersAction):
                    choices = list(action.choices)
            if choices:
                message = f"unknown command {bad!r}.{did_you_mean(bad, choices)} Commands: {', '.join(choices)}"
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    """Build the full parser (imports each subcommand module, none of which imports torch at top level)."""
    parser = _Parser(
        prog="harness",
        description="Benchmarking and reproducibility harness for short-text extreme multi-label classification.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"xmc-harness {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for module_name in SUBCOMMANDS.values():
        importlib.import_module(module_name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit status (2 for user errors, printed without a traceback)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args) or 0)
    except HarnessError as exc:
        print(f"harness {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `harness report | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
