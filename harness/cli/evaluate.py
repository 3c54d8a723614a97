r"""``harness evaluate``: score an XC-format prediction file against a ground-truth file.

Usage::

    harness evaluate --pred score.txt --truth tst_X_Y.txt                 # P, nDCG, R @1..5 table
    harness evaluate --pred score.txt --truth tst_X_Y.txt --train-labels trn_X_Y.txt \
        --A 0.6 --B 2.6 --filter filter_labels_test.txt -k 5 --json       # + PSP, PSnDCG, as JSON
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from harness.errors import DataFormatError, HarnessError

log = logging.getLogger(__name__)

#: pyxclib's defaults for datasets that are neither Wikipedia nor Amazon (methods.md §5).
DEFAULT_A, DEFAULT_B = 0.55, 1.5
#: The XC convention's largest rank; kept as the default even for a file with fewer labels (missing slots miss).
DEFAULT_K = 5

DESCRIPTION = """\
Score predictions the XC-repository (pyxclib) way: P@k, nDCG@k, R@k and, with --train-labels,
PSP@k and PSnDCG@k (propensities from the unfiltered training labels), for k = 1..K.

PRED, TRUTH and TRN are XC sparse label files: a header "num_rows num_cols", then one line per row
of space-separated "label:value" pairs (0-based labels, an empty line is an empty row). PRED values
are scores: each row's stored entries are ranked by decreasing score (ties: lower label first) and
rows with fewer than K entries count the missing slots as misses. TRUTH values are binarised.
PRED must have as many rows as TRUTH and at most as many label columns; TRN must have exactly as
many label columns as TRUTH. --filter pairs ("row label" per line, 0-based) are removed from both
the predictions (before top-k) and the truth. Empty truth rows stay in the average.
"""

EPILOG = """\
examples:
  harness evaluate --pred score.txt --truth tst_X_Y.txt
  harness evaluate --pred score.txt --truth tst_X_Y.txt --train-labels trn_X_Y.txt --A 0.6 --B 2.6 \\
      --filter filter_labels_test.txt --json
A/B per dataset: Amazon* 0.6/2.6, WikiSeeAlso* 0.55/1.5, WikiTitles-500K 0.5/0.4 (docs/metrics.md).
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``harness evaluate``."""
    parser = subparsers.add_parser(
        "evaluate",
        help="score a prediction file (P/nDCG/PSP/PSnDCG/R@k)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--pred", required=True, type=Path, metavar="PRED", help="XC sparse score file")
    parser.add_argument("--truth", required=True, type=Path, metavar="TRUTH", help="XC sparse label file")
    parser.add_argument("--train-labels", type=Path, metavar="TRN", help="training labels; enables PSP@k and PSnDCG@k")
    parser.add_argument("--A", type=float, help=f"propensity constant A (default {DEFAULT_A})")
    parser.add_argument("--B", type=float, help=f"propensity constant B (default {DEFAULT_B})")
    parser.add_argument("--filter", type=Path, metavar="FILE", help="(row, label) pairs to remove (LF datasets)")
    parser.add_argument(
        "-k", type=int, default=None, help=f"largest rank K, at most the number of labels (default {DEFAULT_K})"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read the files, score, print; every input problem is raised as one HarnessError."""
    import numpy as np

    from harness.data.formats import read_filter_pairs, read_sparse_matrix
    from harness.metrics import evaluate, inverse_propensity

    explicit_k = args.k is not None
    args.k = args.k if explicit_k else DEFAULT_K
    if args.k < 1:
        raise HarnessError(f"-k must be at least 1, got {args.k}")
    for path in (args.pred, args.truth, args.train_labels, args.filter):
        if path is not None and not path.is_file():
            raise HarnessError(f"{path}: no such file")

    truth = read_sparse_matrix(args.truth, binary=True)
    if explicit_k and args.k > truth.shape[1]:
        # Refused rather than capped: ranks past L do not exist, and the metric arrays are sized by k (a huge -k
        # allocated (n, k) arrays until the OOM killer came). The default 5 stays, as always, on any file.
        raise HarnessError(
            f"-k {args.k} is more than the {truth.shape[1]} labels of {args.truth}; use -k {truth.shape[1]} or less"
        )
    # float64 scores: a float32 round trip could create ties the file does not have.
    pred = read_sparse_matrix(args.pred, dtype=np.float64)
    if pred.shape[0] != truth.shape[0]:
        raise DataFormatError(
            args.pred, None, f"{pred.shape[0]} rows, but the truth file {args.truth} has {truth.shape[0]}"
        )
    if pred.shape[1] > truth.shape[1]:
        raise DataFormatError(
            args.pred, None, f"{pred.shape[1]} label columns, more than the {truth.shape[1]} of {args.truth}"
        )

    a = DEFAULT_A if args.A is None else args.A
    b = DEFAULT_B if args.B is None else args.B
    inv_prop = None
    if args.train_labels is not None:
        train = read_sparse_matrix(args.train_labels, binary=True)
        if train.shape[1] != truth.shape[1]:
            raise DataFormatError(
                args.train_labels,
                None,
                f"{train.shape[1]} label columns, but the truth file {args.truth} has {truth.shape[1]}",
            )
        try:
            inv_prop = inverse_propensity(train, A=a, B=b)
        except ValueError as exc:
            raise HarnessError(f"{args.train_labels}: {exc}") from exc
    elif args.A is not None or args.B is not None:
        log.warning("--A/--B have no effect without --train-labels")

    pairs = None
    if args.filter is not None:
        # The reader names the file and line of a pair outside the truth's rows or labels.
        pairs = read_filter_pairs(args.filter, num_rows=truth.shape[0], num_labels=truth.shape[1])

    try:
        metrics = evaluate(pred, truth, inv_prop=inv_prop, k=args.k, filter_pairs=pairs)
    except ValueError as exc:
        raise HarnessError(f"{args.pred}: {exc}") from exc

    if args.json:
        print(json.dumps(metrics))
    else:
        n_pairs = 0 if pairs is None else len(pairs)
        print(_table(metrics, args, truth.shape, n_pairs, (a, b)))
    return 0


def _table(
    metrics: dict[str, float],
    args: argparse.Namespace,
    shape: tuple[int, int],
    n_pairs: int,
    constants: tuple[float, float],
) -> str:
    """One row per k, one column per metric family, in percent."""
    from tabulate import tabulate

    from harness import METRICS_VERSION

    names = {"p": "P@k", "ndcg": "nDCG@k", "psp": "PSP@k", "psndcg": "PSnDCG@k", "r": "R@k"}
    families = [f for f in names if f"{f}@1" in metrics]
    rows = [[k] + [100 * metrics[f"{f}@{k}"] for f in families] for k in range(1, args.k + 1)]
    table = tabulate(rows, headers=["k"] + [names[f] for f in families], floatfmt=".2f")
    notes = [f"{shape[0]} test rows, {shape[1]} labels; values in %; metrics version {METRICS_VERSION}"]
    if args.train_labels is not None:
        notes.append(f"propensities from {args.train_labels} with A={constants[0]}, B={constants[1]}")
    if n_pairs:
        notes.append(f"{n_pairs} filter pairs from {args.filter} removed from predictions and truth")
    return table + "\n\n" + "\n".join(notes)
