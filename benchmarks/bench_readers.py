"""Time the XC-format readers on generated files: rows/s, MB/s and peak memory of the reading process.

Each timed read runs in a fresh subprocess, so its peak RSS is the reader's own (not the generator's).

Usage::

    python benchmarks/bench_readers.py                       # 1M-row label file, 500k-row combined file
    python benchmarks/bench_readers.py --rows 200000 --repeats 1 --out /tmp/readers.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from harness.data.formats import (  # noqa: E402
    read_combined,
    read_sparse_matrix,
    write_combined,
    write_sparse_matrix,
)

NUM_LABELS = 670_091  # AmazonTitles-670K's label space: realistic index widths
NUM_FEATURES = 66_666


def _random_rows(rng: np.random.Generator, n: int, cols: int, mean: int, binary: bool) -> sp.csr_matrix:
    """n rows with 1..2*mean-1 distinct sorted columns each (mean ``mean``)."""
    counts = rng.integers(1, 2 * mean, size=n)
    indptr = np.concatenate(([0], np.cumsum(counts)))
    indices = rng.integers(0, cols, size=int(indptr[-1]))
    data = np.ones(indices.size, np.float32) if binary else rng.random(indices.size, dtype=np.float32)
    out = sp.csr_matrix((data, indices, indptr), shape=(n, cols))
    out.sum_duplicates()  # drops repeated columns within a row (the readers reject duplicates)
    if binary:
        out.data[:] = 1.0
    return out


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc (Linux): VmRSS now, VmHWM its peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _worker(kind: str, path: str) -> None:
    """Child process: one timed read; prints seconds, nnz and memory as JSON."""
    base = _status_mb("VmRSS")
    start = time.perf_counter()
    if kind == "combined":
        X, Y = read_combined(path)
        nnz, rows = X.nnz + Y.nnz, X.shape[0]
    else:
        M = read_sparse_matrix(path, binary=True)
        nnz, rows = M.nnz, M.shape[0]
    seconds = time.perf_counter() - start
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child would report the peak of the
    # (large) benchmark parent it was forked from.
    peak = _status_mb("VmHWM")
    print(json.dumps({"seconds": seconds, "rows": rows, "nnz": nnz, "peak_rss_mb": peak, "base_rss_mb": base}))


def _time(kind: str, path: Path, repeats: int) -> dict:
    runs = []
    for _ in range(repeats):
        cmd = [sys.executable, __file__, "--worker", kind, str(path)]
        runs.append(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout))
    seconds = statistics.median(r["seconds"] for r in runs)
    size_mb = path.stat().st_size / 2**20
    return {
        "reader": "read_combined" if kind == "combined" else "read_sparse_matrix",
        "file": path.name,
        "rows": runs[0]["rows"],
        "nnz": runs[0]["nnz"],
        "file_mb": round(size_mb, 1),
        "seconds_median": round(seconds, 3),
        "seconds_all": [round(r["seconds"], 3) for r in runs],
        "rows_per_s": round(runs[0]["rows"] / seconds),
        "mb_per_s": round(size_mb / seconds, 1),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
        "reader_rss_mb": round(max(r["peak_rss_mb"] - r["base_rss_mb"] for r in runs), 1),
        "csr_mb": round(runs[0]["nnz"] * 8 / 2**20, 1),  # int32 index + float32 value per nonzero
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the label file")
    parser.add_argument("--combined-rows", type=int, default=500_000, help="rows of the combined file")
    parser.add_argument("--repeats", type=int, default=3, help="timed reads per file (median reported)")
    parser.add_argument("--out", type=Path, default=REPO / "results" / "benchmarks" / "readers.json")
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(*args.worker)
        return 0

    from tabulate import tabulate

    rng = np.random.default_rng(0)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_readers_") as tmp:
        labels = _random_rows(rng, args.rows, NUM_LABELS, 5, binary=True)
        for name in ("trn_X_Y.txt", "trn_X_Y.txt.gz"):
            write_sparse_matrix(Path(tmp) / name, labels)
            results.append(_time("sparse", Path(tmp) / name, args.repeats))
        del labels
        n = args.combined_rows
        X = _random_rows(rng, n, NUM_FEATURES, 15, binary=False)
        Y = _random_rows(rng, n, NUM_LABELS, 5, binary=True)
        write_combined(Path(tmp) / "train.txt", X, Y)
        results.append(_time("combined", Path(tmp) / "train.txt", args.repeats))

    cols = ["reader", "file", "rows", "nnz", "file_mb", "seconds_median", "rows_per_s", "mb_per_s", "peak_rss_mb"]
    print(tabulate([[r[c] for c in cols] for r in results], headers=cols, intfmt=",", floatfmt=".2f"))
    record = {
        "benchmark": "bench_readers",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": _cpus()},
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


def _cpus() -> int | None:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    sys.exit(main())
