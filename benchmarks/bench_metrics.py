"""Benchmark: `harness evaluate`'s metric core vs napkinxc.metrics, plus the end-to-end CLI path.

Usage::

    python benchmarks/bench_metrics.py                      # 100,000 rows x 100,000 labels, top-5
    python benchmarks/bench_metrics.py --rows 20000 --out /tmp/m.json

Both sides compute P, nDCG, PSP, PSnDCG and R at 1..5 from the same inputs (napkinXC gets lists of
label lists, its pyxclib-equivalent form, built before its clock starts; propensities are computed
once, outside both clocks). The values are cross-checked, then written with the timings to
results/benchmarks/metrics.json.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy
import scipy.sparse as sp
from tabulate import tabulate

from harness.metrics import RankedLabels, evaluate, inverse_propensity

K = 5
FAMILIES = ("p", "ndcg", "psp", "psndcg", "r")


def power_law_labels(rng: np.random.Generator, shape: tuple[int, int], n_labels: int) -> np.ndarray:
    """Labels with a long-tailed frequency (p ∝ 1/(rank+10)^0.9), like XMC label distributions."""
    p = 1.0 / (np.arange(n_labels) + 10.0) ** 0.9
    cdf = np.cumsum(p / p.sum())
    return np.minimum(np.searchsorted(cdf, rng.random(shape)), n_labels - 1)


def label_matrix(rows: np.ndarray, n_labels: int) -> sp.csr_matrix:
    """Binary CSR from an (n, w) label array with -1 holes; duplicates within a row collapse."""
    n, w = rows.shape
    r = np.repeat(np.arange(n), w)
    keep = rows.ravel() >= 0
    y = sp.csr_matrix((np.ones(keep.sum(), np.float32), (r[keep], rows.ravel()[keep])), shape=(n, n_labels))
    y.data[:] = 1
    return y


def make_data(n: int, n_labels: int, seed: int) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, sp.csr_matrix]:
    """Truth (3-5 labels, 2% empty rows), top-5 predictions (~40% true, some short rows), scores, train labels."""
    rng = np.random.default_rng(seed)
    true = power_law_labels(rng, (n, 5), n_labels)
    count = rng.integers(3, 6, size=n) * (rng.random(n) > 0.02)
    true[np.arange(5)[None, :] >= count[:, None]] = -1
    truth = label_matrix(true, n_labels)

    pred = power_law_labels(rng, (n, K), n_labels)
    take_true = (rng.random((n, K)) < 0.4) & (true >= 0)
    pred = np.where(take_true, true, pred)
    pred[rng.random((n, K)) < 0.03] = -1  # some rows have fewer than 5 predictions
    # Drop repeats within a row (the metric core rejects them), keeping the first occurrence.
    order = np.argsort(pred, axis=1, kind="stable")
    s = np.take_along_axis(pred, order, axis=1)
    dup_sorted = np.zeros_like(s, dtype=bool)
    dup_sorted[:, 1:] = (s[:, 1:] == s[:, :-1]) & (s[:, 1:] >= 0)
    dup = np.zeros_like(dup_sorted)
    np.put_along_axis(dup, order, dup_sorted, axis=1)
    pred[dup] = -1
    scores = np.where(pred >= 0, np.linspace(1.0, 0.5, K)[None, :] + rng.random((n, K)) * 1e-3, 0.0)

    train = label_matrix(power_law_labels(rng, (2 * n, 4), n_labels), n_labels)
    return truth, pred, scores, train


def score_matrix(pred: np.ndarray, scores: np.ndarray, n_labels: int) -> sp.csr_matrix:
    """CSR score matrix of the predictions (what a prediction file holds)."""
    n, k = pred.shape
    keep = pred.ravel() >= 0
    rows = np.repeat(np.arange(n), k)[keep]
    return sp.csr_matrix((scores.ravel()[keep], (rows, pred.ravel()[keep])), shape=(n, n_labels))


def napkinxc_all(truth: list, pred: list, weights: np.ndarray) -> dict[str, np.ndarray]:
    import napkinxc.metrics as nm

    return {
        "p": nm.precision_at_k(truth, pred, k=K),
        "ndcg": nm.ndcg_at_k(truth, pred, k=K),
        "psp": nm.psprecision_at_k(truth, pred, weights, k=K),
        "psndcg": nm.psndcg_at_k(truth, pred, weights, k=K),
        "r": nm.recall_at_k(truth, pred, k=K),
    }


def best_of(repeats: int, fn) -> tuple[float, object]:
    """Minimum wall time over ``repeats`` calls (and the last result)."""
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def cli_path(truth: sp.csr_matrix, scores: sp.csr_matrix, train: sp.csr_matrix, repeats: int) -> dict:
    """Write XC files of this size and time `harness evaluate --json` on them (reading + scoring)."""
    from harness.cli.main import main
    from harness.data.formats import read_sparse_matrix, write_sparse_matrix

    with tempfile.TemporaryDirectory() as tmp:
        paths = {name: Path(tmp) / f"{name}.txt" for name in ("truth", "pred", "train")}
        for name, mat in (("truth", truth), ("pred", scores), ("train", train)):
            write_sparse_matrix(paths[name], mat)
        argv = ["evaluate", "--pred", str(paths["pred"]), "--truth", str(paths["truth"])]
        argv += ["--train-labels", str(paths["train"]), "--A", "0.55", "--B", "1.5", "-k", str(K), "--json"]

        def run_cli() -> dict:
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                if main(argv) != 0:
                    raise RuntimeError("harness evaluate failed")
            return json.loads(buf.getvalue())

        total, metrics = best_of(repeats, run_cli)
        read_s, _ = best_of(
            repeats,
            lambda: [read_sparse_matrix(paths[name], binary=name != "pred") for name in paths],
        )
        sizes = {name: path.stat().st_size for name, path in paths.items()}
    return {"total_s": total, "read_s": read_s, "file_bytes": sizes, "metrics": metrics}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--labels", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="ours: best of N (napkinXC runs once)")
    parser.add_argument("--no-cli", action="store_true", help="skip the end-to-end file/CLI timing")
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/metrics.json"))
    args = parser.parse_args(argv)

    truth, pred, scores, train = make_data(args.rows, args.labels, args.seed)
    weights = inverse_propensity(train, A=0.55, B=1.5)
    score_csr = score_matrix(pred, scores, args.labels)

    ours_s, ours = best_of(args.repeats, lambda: evaluate(RankedLabels(pred), truth, inv_prop=weights, k=K))
    ours_sparse_s, ours_sparse = best_of(args.repeats, lambda: evaluate(score_csr, truth, inv_prop=weights, k=K))

    pred_lists = [[int(c) for c in row if c >= 0] for row in pred]
    truth_lists = [truth.indices[truth.indptr[i] : truth.indptr[i + 1]].tolist() for i in range(truth.shape[0])]
    t0 = time.perf_counter()
    ref = napkinxc_all(truth_lists, pred_lists, weights)
    nxc_s = time.perf_counter() - t0

    max_diff = max(abs(ours[f"{f}@{j + 1}"] - float(ref[f][j])) for f in FAMILIES for j in range(K))
    sparse_diff = max(abs(ours[key] - ours_sparse[key]) for key in ours)
    if max_diff > 1e-9 or sparse_diff > 1e-12:
        print(f"MISMATCH: napkinXC max |diff| {max_diff:.3g}, sparse vs index {sparse_diff:.3g}", file=sys.stderr)
        return 1

    rows = [
        ["ours: RankedLabels indices (n x 5) -> all 25 metrics", ours_s, nxc_s / ours_s],
        ["ours: sparse score matrix -> all 25 metrics", ours_sparse_s, nxc_s / ours_sparse_s],
        ["napkinxc.metrics (lists) -> same 25 metrics", nxc_s, 1.0],
    ]
    record = {
        "rows": args.rows,
        "labels": args.labels,
        "k": K,
        "truth_nnz": int(truth.nnz),
        "empty_truth_rows": int((np.diff(truth.indptr) == 0).sum()),
        "pred_nnz": int(score_csr.nnz),
        "seed": args.seed,
        "ours_topk_s": ours_s,
        "ours_sparse_s": ours_sparse_s,
        "napkinxc_s": nxc_s,
        "speedup_topk_vs_napkinxc": nxc_s / ours_s,
        "speedup_sparse_vs_napkinxc": nxc_s / ours_sparse_s,
        "max_abs_diff_vs_napkinxc": max_diff,
        "metrics": ours,
    }
    if not args.no_cli:
        cli = cli_path(truth, score_csr, train, args.repeats)
        cli_diff = max(abs(cli["metrics"][key] - ours_sparse[key]) for key in ours)
        rows.append(["ours: `harness evaluate` CLI, reading 3 files + scoring", cli["total_s"], nxc_s / cli["total_s"]])
        rows.append(["  of which reading the 3 XC files", cli["read_s"], None])
        record.update(
            cli_total_s=cli["total_s"], cli_read_s=cli["read_s"], cli_file_bytes=cli["file_bytes"], cli_diff=cli_diff
        )

    import napkinxc

    record["env"] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "napkinxc": getattr(napkinxc, "__version__", "unknown"),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
    }
    print(f"{args.rows:,} rows x {args.labels:,} labels, top-{K}; truth nnz {truth.nnz:,}")
    print(f"max |ours - napkinXC| over the 25 values: {max_diff:.2g}")
    print(tabulate(rows, headers=["path", "seconds", "speed-up vs napkinXC"], floatfmt=".3f"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
