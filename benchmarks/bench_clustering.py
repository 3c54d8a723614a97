"""Benchmark: label clustering at XMC scale (PIFA features, balanced 2-means tree, random-walk label graph).

Usage::

    python benchmarks/bench_clustering.py                         # 1,000,000 labels; graph on 100,000
    python benchmarks/bench_clustering.py --labels 200000 --graph-labels 50000 --out /tmp/c.json

A synthetic training split is generated first (not timed): every label on at least one point plus twice as many
long-tailed extra assignments, and ~8 words per point drawn from a Zipf-like vocabulary, so label features have a
realistic mix of thin tail rows and capped head rows. Then, each on one thread as the harness runs it:
``label_features`` (PIFA, top-1000), ``balanced_tree`` to ``max_leaf=100`` (LightXML) and to 2^16 clusters
(SyncXML), and on a smaller label set the rest of SyncXML's pipeline: ``label_graph``, ``augment_features`` and
the tree on the (much denser) augmented features. Peak RSS per step is the
``VmHWM`` high-water mark, reset before each step through ``/proc/self/clear_refs`` (where the kernel allows it;
otherwise the process-wide peak so far). Results go to results/benchmarks/clustering.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import scipy
import scipy.sparse as sp
from tabulate import tabulate

from harness.clustering import augment_features, balanced_tree, label_features, label_graph
from harness.profiling.memory import peak_rss_mb


def reset_peak_rss() -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux >= 4.0); False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def long_tail(rng: np.random.Generator, size: int, n: int, power: float = 0.9) -> np.ndarray:
    """Draws from ``range(n)`` with p ∝ 1/(rank+10)^power, the long tail of XMC label and word frequencies."""
    p = 1.0 / (np.arange(n) + 10.0) ** power
    cdf = np.cumsum(p / p.sum())
    return np.minimum(np.searchsorted(cdf, rng.random(size)), n - 1)


def make_split(n_labels: int, n_docs: int, n_features: int, seed: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """(Y, X): binary labels with every label used at least once, and TF-IDF-like word features."""
    rng = np.random.default_rng(seed)
    labels = np.concatenate([np.arange(n_labels), long_tail(rng, 2 * n_labels, n_labels)])
    docs = rng.integers(0, n_docs, labels.size)
    Y = sp.csr_matrix((np.ones(labels.size, dtype=np.float32), (docs, labels)), shape=(n_docs, n_labels))
    Y.data[:] = 1
    words_per_doc = rng.integers(4, 13, n_docs)
    rows = np.repeat(np.arange(n_docs), words_per_doc)
    words = long_tail(rng, rows.size, n_features, power=1.0)
    X = sp.csr_matrix((rng.random(rows.size).astype(np.float32) + 0.5, (rows, words)), shape=(n_docs, n_features))
    return Y, X


def timed(fn, *args, **kwargs) -> tuple[float, float | None, object]:
    """(seconds, peak RSS MiB during the call, result)."""
    reset_peak_rss()
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, peak_rss_mb(), out


def tree_record(name: str, seconds: float, peak: float | None, clusters) -> dict:
    levels = clusters.info["per_level"]
    return {
        "step": name,
        "seconds": seconds,
        "peak_rss_mib": peak,
        "clusters": clusters.num_clusters,
        "cluster_size_min": int(clusters.sizes.min()),
        "cluster_size_max": int(clusters.sizes.max()),
        "levels": len(levels),
        "iterations_mean_per_level": [lv["iterations_mean"] for lv in levels],
        "iterations_max_per_level": [lv["iterations_max"] for lv in levels],
        "seconds_per_level": [lv["seconds"] for lv in levels],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", type=int, default=1_000_000)
    parser.add_argument("--docs", type=int, default=None, help="training points (default: labels / 2)")
    parser.add_argument("--features", type=int, default=150_000)
    parser.add_argument("--graph-labels", type=int, default=100_000, help="label count for the graph step (0: skip)")
    parser.add_argument(
        "--no-graph-tree", dest="graph_tree", action="store_false", help="skip the tree on the augmented features"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/clustering.json"))
    args = parser.parse_args(argv)
    n_docs = args.docs or max(args.labels // 2, 1)
    syncxml_clusters = min(2**16, 1 << (args.labels.bit_length() - 1))

    t0 = time.perf_counter()
    Y, X = make_split(args.labels, n_docs, args.features, args.seed)
    gen_s = time.perf_counter() - t0
    print(
        f"synthetic split: {n_docs:,} points, {args.labels:,} labels (Y nnz {Y.nnz:,}), X nnz {X.nnz:,} "
        f"over {args.features:,} features; generated in {gen_s:.1f}s"
    )

    steps = []
    s, peak, Z = timed(label_features, X, Y, 1000)
    steps.append({"step": "label_features (PIFA, top-1000)", "seconds": s, "peak_rss_mib": peak, "Z_nnz": int(Z.nnz)})
    s, peak, c = timed(balanced_tree, Z, max_leaf=100, seed=0)
    steps.append(tree_record("balanced_tree max_leaf=100 (LightXML)", s, peak, c))
    s, peak, c = timed(balanced_tree, Z, num_clusters=syncxml_clusters, seed=0)
    steps.append(tree_record(f"balanced_tree num_clusters={syncxml_clusters} (SyncXML)", s, peak, c))
    del Z, c

    graph = None
    if args.graph_labels:
        gl = min(args.graph_labels, args.labels)
        Yg, Xg = make_split(gl, max(gl // 2, 1), args.features, args.seed + 1)
        Zg = label_features(Xg, Yg, 1000)
        s_g, peak_g, G = timed(label_graph, Yg, 400, 0.8, 10, 500, 0)
        s_a, peak_a, Za = timed(augment_features, Zg, G, 1000)
        graph = {"labels": gl, "points": Yg.shape[0], "Y_nnz": int(Yg.nnz), "G_nnz": int(G.nnz), "Z_nnz": int(Zg.nnz)}
        steps.append({"step": f"label_graph walk 400 ({gl:,} labels)", "seconds": s_g, "peak_rss_mib": peak_g, **graph})
        steps.append(
            {
                "step": f"augment_features ({gl:,} labels)",
                "seconds": s_a,
                "peak_rss_mib": peak_a,
                "Z_aug_nnz": int(Za.nnz),
            }
        )
        del G, Zg
        if args.graph_tree:
            # SyncXML's clusters hold ~8-20 labels (methods.md §2.1): 2^b with about 10 labels per cluster.
            k = 1 << max((gl // 10).bit_length() - 1, 0)
            s, peak, c = timed(balanced_tree, Za, num_clusters=k, seed=0)
            rec = tree_record(f"balanced_tree num_clusters={k} on augmented features ({gl:,} labels)", s, peak, c)
            steps.append({**rec, "Z_nnz": int(Za.nnz)})

    rows = [[st["step"], st["seconds"], st["peak_rss_mib"], st.get("clusters", "")] for st in steps]
    print(tabulate(rows, headers=["step", "seconds", "peak RSS MiB", "clusters"], floatfmt=".1f"))

    record = {
        "labels": args.labels,
        "points": n_docs,
        "features": args.features,
        "Y_nnz": int(Y.nnz),
        "X_nnz": int(X.nnz),
        "seed": args.seed,
        "generate_s": gen_s,
        "peak_rss_per_step": reset_peak_rss(),
        "steps": steps,
        "env": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "machine": platform.machine(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
