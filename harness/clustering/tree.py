"""Balanced hierarchical spherical 2-means over label features: the meta-labels of SyncXML and LightXML.

Every node of the tree is split into two halves whose sizes differ by at most one: start from two random member
labels as centroids, then alternate (a) rank the node's labels by ``sim(c₂) − sim(c₁)`` and cut the ranking
exactly in half, (b) recompute both centroids as the L2-normalised sums of their halves, until the node's mean
within-half cosine similarity improves by less than ``tol`` (methods.md §2.1 step 3, §3.2). A level of the tree is
split at once, with every node advanced in the same numpy passes, which is what makes 1M labels take a minute
rather than hours (docs/clustering.md describes the layout; no dense L × f or L × clusters array is formed).

Usage::

    from harness.clustering.tree import balanced_tree, LabelClusters
    clusters = balanced_tree(Z, max_leaf=100, seed=0)         # LightXML: leaves of <= 100 labels
    clusters = balanced_tree(Z, num_clusters=2**16, seed=0)    # SyncXML: 2^b clusters
    clusters.members        # (C, M) int64 member labels, padded with L (the dummy label)
    clusters.save(path); LabelClusters.load(path)              # .npz, no pickle
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from harness.errors import HarnessError
from harness.features.tfidf import l2_normalize_rows

METHOD = "balanced hierarchical spherical 2-means (all nodes of a level at once)"


@dataclass
class LabelClusters:
    """A flat partition of the labels into balanced clusters (the leaves of the tree).

    Attributes:
        label_cluster: int64 ``[L]``, the cluster of each label.
        members: int64 ``[C, M]``, each cluster's labels in increasing order, padded with ``L`` (the dummy label
            whose classifier row is all zero) up to the largest cluster size ``M``.
        sizes: int64 ``[C]``, real members per cluster; sizes differ by at most one (except the clusters of a
            verbose-label set, :func:`tree_with_verbose_set`).
        info: JSON-able description: method, seed, levels, iterations per level, seconds, config, features,
            cache hit or miss.
    """

    label_cluster: np.ndarray
    members: np.ndarray
    sizes: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_labels(self) -> int:
        return int(self.label_cluster.shape[0])

    @property
    def num_clusters(self) -> int:
        return int(self.members.shape[0])

    def validate(self) -> None:
        """Raise :class:`HarnessError` unless the three arrays describe the same partition of ``range(L)``."""
        L, C = self.num_labels, self.num_clusters
        lc, mem, sizes = self.label_cluster, self.members, self.sizes
        if mem.ndim != 2 or sizes.shape != (C,) or lc.ndim != 1:
            raise HarnessError(f"bad cluster array shapes: members {mem.shape}, sizes {sizes.shape}, labels {lc.shape}")
        if L and (lc.min() < 0 or lc.max() >= C):
            raise HarnessError("label_cluster holds an out-of-range cluster id")
        real = mem < L
        if mem.size and (mem.min() < 0 or mem.max() > L):
            raise HarnessError("members holds an out-of-range label")
        if not np.array_equal(real.sum(axis=1), sizes) or int(sizes.sum()) != L:
            raise HarnessError("cluster sizes do not match the members table")
        labels = mem[real]
        if np.unique(labels).size != L:
            raise HarnessError("a label is missing from, or repeated in, the members table")
        if not np.array_equal(lc[labels], np.nonzero(real)[0]):
            raise HarnessError("members and label_cluster disagree")

    def save(self, path: str | Path) -> None:
        """Write one ``.npz`` (the arrays plus ``info`` as UTF-8 JSON bytes) atomically: tmp file + ``os.replace``."""
        from harness.io import write_npz_atomic

        info = np.frombuffer(json.dumps(self.info, sort_keys=True).encode("utf-8"), dtype=np.uint8)
        arrays = {"label_cluster": self.label_cluster, "members": self.members, "sizes": self.sizes}
        write_npz_atomic(path, compressed=False, **arrays, info_json=info)

    @classmethod
    def load(cls, path: str | Path) -> LabelClusters:
        """Read a file written by :meth:`save` (``allow_pickle=False``) and check its consistency."""
        try:
            with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as npz:
                out = cls(
                    label_cluster=npz["label_cluster"].astype(np.int64, copy=False),
                    members=npz["members"].astype(np.int64, copy=False),
                    sizes=npz["sizes"].astype(np.int64, copy=False),
                    info=json.loads(npz["info_json"].tobytes().decode("utf-8")),
                )
        except Exception as exc:  # OSError, ValueError, KeyError, zipfile.BadZipFile: a truncated or foreign file
            raise HarnessError(f"cannot read label clusters from {path}: {type(exc).__name__}: {exc}") from exc
        out.validate()
        return out


def num_levels(n_labels: int, num_clusters: int | None = None, max_leaf: int | None = None) -> int:
    """Depth of the tree: ``log2(num_clusters)``, or the fewest halvings that bring every leaf to ``<= max_leaf``."""
    if (num_clusters is None) == (max_leaf is None):
        raise HarnessError("give exactly one of num_clusters and max_leaf")
    if n_labels < 1:
        raise HarnessError("cannot cluster zero labels")
    if num_clusters is not None:
        if num_clusters < 1 or num_clusters & (num_clusters - 1):
            raise HarnessError(f"num_clusters must be a power of two, got {num_clusters}")
        if num_clusters > n_labels:
            raise HarnessError(f"num_clusters {num_clusters} exceeds the number of labels {n_labels}")
        return int(num_clusters).bit_length() - 1
    assert max_leaf is not None
    if max_leaf < 1:
        raise HarnessError(f"max_leaf must be >= 1, got {max_leaf}")
    depth = 0
    while -(-n_labels // 2**depth) > max_leaf:  # the largest leaf after `depth` balanced halvings
        depth += 1
    return depth


class _Level:
    """The non-zeros of Z grouped by (node, feature) for one level: every 2-means pass is two sparse mat-vecs.

    Within a level node membership is fixed, so each (node, feature) pair is a *key*, and the non-zeros form a
    key × label matrix ``KT`` (CSR, one row per key, in (node, feature) order). A half's centroid sums are
    ``KT @ indicator(half)``; every label's similarity to its node's centroid is ``KTᵀ @ centroid``. Both are
    single C passes over the non-zeros in scipy, with no dense L × f or L × clusters array. Per-key work arrays
    are allocated once per level and overwritten (``out=``): at deep levels there are about as many keys as
    non-zeros, and fresh allocations of that size cost more in page faults than the arithmetic.
    """

    def __init__(self, KT: sp.csr_matrix, key_node: np.ndarray, n_nodes: int) -> None:
        self.KT = KT
        self.key_node = key_node
        self.n_nodes = n_nodes
        self.total = KT @ np.ones(KT.shape[1])
        self.scratch = np.empty_like(self.total)

    @classmethod
    def from_grouped(
        cls, data: np.ndarray, row: np.ndarray, col: np.ndarray, node: np.ndarray, n_nodes: int, n_labels: int
    ) -> _Level:
        nnz = data.size
        boundary = np.ones(nnz, dtype=bool)
        if nnz > 1:
            np.not_equal(node[1:], node[:-1], out=boundary[1:])
            boundary[1:] |= col[1:] != col[:-1]
        starts = np.flatnonzero(boundary).astype(row.dtype)
        del boundary
        indptr = np.append(starts, np.asarray(nnz, dtype=row.dtype))
        KT = sp.csr_matrix((data, row, indptr), shape=(starts.size, n_labels), copy=False)
        return cls(KT, node[starts].astype(np.intp), n_nodes)

    def subset(self, keep: np.ndarray) -> _Level:
        """The keys where ``keep`` is True (the nodes still iterating), so frozen nodes cost nothing."""
        return _Level(self.KT[keep], self.key_node[keep], self.n_nodes)

    @property
    def nnz(self) -> int:
        return int(self.KT.nnz)

    def half_sum(self, in_half: np.ndarray) -> np.ndarray:
        """Per-key sums over the labels where ``in_half`` (float64 per label) is 1."""
        return self.KT @ in_half

    def node_sum(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Per node, ``Σ_keys a·b`` (float64, length ``n_nodes``)."""
        np.multiply(a, b, out=self.scratch)
        return np.bincount(self.key_node, weights=self.scratch, minlength=self.n_nodes)

    def normalise(self, sums: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Per-key centroid values scaled so that each node's centroid has unit norm (zero stays zero)."""
        sq = self.node_sum(sums, sums)
        inv = np.divide(1.0, np.sqrt(sq), out=np.zeros(self.n_nodes), where=sq > 0)
        np.take(inv, self.key_node, out=self.scratch)
        return np.multiply(sums, self.scratch, out=out)

    def label_dot(self, centroid: np.ndarray) -> np.ndarray:
        """``⟨z_label, centroid of the label's node⟩`` for every label (0 for labels without features here)."""
        return self.KT.T @ centroid


def _members_table(node_of_label: np.ndarray, n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """(n_nodes, max size) table of each node's labels in increasing order, padded with L; and the sizes."""
    L = node_of_label.size
    order = np.argsort(node_of_label, kind="stable")  # stable: labels stay in increasing order within a node
    sizes = np.bincount(node_of_label, minlength=n_nodes)
    width = int(sizes.max()) if L else 0
    starts = np.cumsum(sizes) - sizes
    grouped = node_of_label[order]
    table = np.full((n_nodes, width), L, dtype=np.int64)
    table[grouped, np.arange(L) - starts[grouped]] = order
    return table, sizes.astype(np.int64)


def _balanced_cut(diff: np.ndarray, table: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Per label: True for the second half (B) of its node after ranking by ``diff`` and cutting in half.

    The first ``size // 2`` labels of each node's ranking (lowest ``sim(B) − sim(A)``) form half A. The table rows
    are in increasing label order and the sort is stable, so ties go to the lower label: deterministic.
    """
    L = diff.size
    keyed = np.append(diff, np.inf)[table]  # pads (label L) rank last
    order = np.argsort(keyed, axis=1, kind="stable")
    ranked = np.take_along_axis(table, order, axis=1)
    first = np.arange(table.shape[1])[None, :] < (sizes // 2)[:, None]
    in_b = np.ones(L + 1, dtype=bool)
    in_b[ranked[first]] = False
    return in_b[:L]


def _split_level(
    level: _Level,
    table: np.ndarray,
    sizes: np.ndarray,
    node_of_label: np.ndarray,
    rng: np.random.Generator,
    tol: float,
    max_iter: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Run 2-means on every node of a level at once; returns (in_b per label, iterations per node).

    Nodes that have converged keep their last cut; once they hold more than half of the level's non-zeros
    the working set is cut down to the nodes still iterating, so the slow tail of a level costs what it touches.
    """
    L = node_of_label.size
    n = level.n_nodes
    # Two distinct random members per node as the initial centroids (every node split has >= 2 labels).
    a = np.minimum((rng.random(n) * sizes).astype(np.int64), sizes - 1)
    b = np.minimum((rng.random(n) * (sizes - 1)).astype(np.int64), sizes - 2)
    b += b >= a
    seed_a = np.zeros(L)
    seed_b = np.zeros(L)
    seed_a[table[np.arange(n), a]] = 1.0
    seed_b[table[np.arange(n), b]] = 1.0
    c_a = level.normalise(level.half_sum(seed_a), out=np.empty(level.total.size))
    c_b = level.normalise(level.half_sum(seed_b), out=np.empty(level.total.size))
    s_a = np.empty_like(c_a)

    active = np.ones(n, dtype=bool)
    work_table, work_sizes = table, sizes
    prev = np.full(n, -np.inf)
    iterations = np.zeros(n, dtype=np.int64)
    in_b: np.ndarray | None = None
    for _ in range(max_iter):
        diff = level.label_dot(np.subtract(c_b, c_a, out=s_a))  # s_a lends its buffer; it is set again below
        cut = _balanced_cut(diff, work_table, work_sizes)
        in_b = cut if in_b is None else np.where(active[node_of_label], cut, in_b)
        s_b = level.half_sum(in_b.astype(np.float64))
        np.subtract(level.total, s_b, out=s_a)
        # Mean similarity of each node's labels to the centroid of their half (the centroids the cut was made with).
        obj = (level.node_sum(c_a, s_a) + level.node_sum(c_b, s_b)) / sizes
        iterations += active
        active &= obj - prev >= tol
        prev = obj
        if not active.any():
            break
        level.normalise(s_a, out=c_a)
        level.normalise(s_b, out=c_b)
        keep = active[level.key_node]
        if level.nnz and np.diff(level.KT.indptr)[keep].sum() < level.nnz // 2:
            level = level.subset(keep)
            c_a, c_b, s_a = c_a[keep], c_b[keep], np.empty(int(keep.sum()))
            work_table, work_sizes = table[active], sizes[active]
    assert in_b is not None
    return in_b, iterations


def _next_level_order(
    data: np.ndarray, row: np.ndarray, col: np.ndarray, node: np.ndarray, in_b: np.ndarray, n_nodes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Re-group the non-zeros by (child node, feature) in O(nnz), without sorting.

    The non-zeros are grouped by (node, feature); child ``2p`` takes half A of node ``p`` and ``2p+1`` half B, so a
    stable partition of each node's run by the half bit yields the (child, feature) grouping. A non-zero of half A
    moves to its position minus the B non-zeros before it in its node's run; one of half B to its node's start
    plus the node's A count plus the B non-zeros before it. Per-node constants are expanded with ``np.repeat``
    (sequential) rather than gathered, and the bit is counted as int8 (numpy's bool cumsum is slow).
    """
    nnz = data.size
    if nnz == 0:
        return data, row, col, node
    bit = in_b.view(np.int8)[row]
    per_node = np.diff(np.searchsorted(node, np.arange(n_nodes + 1)))  # node is sorted
    node_start = np.cumsum(per_node) - per_node
    ones = np.cumsum(bit, dtype=np.intp)
    ones -= bit  # B non-zeros before each non-zero, over the whole array
    busy = per_node > 0
    b_before_node = np.zeros(n_nodes, dtype=np.intp)
    b_before_node[busy] = ones[node_start[busy]]
    b_in_node = np.zeros(n_nodes, dtype=np.intp)
    last = node_start[busy] + per_node[busy] - 1
    b_in_node[busy] = ones[last] + bit[last] - b_before_node[busy]
    a_in_node = per_node - b_in_node
    # B: node_start + a_in_node + (ones - b_before_node);  A: position - (ones - b_before_node).
    b_dest = np.repeat(node_start + a_in_node - b_before_node, per_node)
    b_dest += ones
    a_dest = np.repeat(b_before_node, per_node)
    a_dest += np.arange(nnz, dtype=np.intp)
    a_dest -= ones
    del ones
    dest = np.where(bit.view(bool), b_dest, a_dest)
    del b_dest, a_dest
    out_data, out_row, out_col = (np.empty_like(x) for x in (data, row, col))
    out_data[dest] = data
    out_row[dest] = row
    out_col[dest] = col
    child_sizes = np.stack([a_in_node, b_in_node], axis=1).ravel()
    out_node = np.repeat(np.arange(2 * n_nodes, dtype=node.dtype), child_sizes)
    return out_data, out_row, out_col, out_node


def balanced_tree(
    Z: sp.spmatrix,
    *,
    num_clusters: int | None = None,
    max_leaf: int | None = None,
    seed: int = 0,
    tol: float = 1e-4,
    max_iter: int = 20,
) -> LabelClusters:
    """Split the labels (rows of ``Z``) level by level into ``2^depth`` balanced clusters.

    Args:
        Z: (L, f) label features, e.g. :func:`~harness.clustering.pifa.label_features`. Rows are L2-normalised
            here; an all-zero row (a label without training points) has similarity 0 to every centroid and is
            placed by the balanced cut like any other label.
        num_clusters: a power of two ``<= L`` (SyncXML: 2^b). Exactly one of this and ``max_leaf``.
        max_leaf: split until every leaf has at most this many labels (LightXML: 100); gives
            ``2^ceil(log2(L / max_leaf))`` clusters.
        seed: seeds the choice of the initial centroids; the same seed gives identical clusters.
        tol: a node stops when its mean within-half cosine similarity improves by less than this (1e-4 in both
            reference implementations); it then keeps its last cut while the rest of the level goes on.
        max_iter: cap on the cut/update rounds per level.

    Returns:
        :class:`LabelClusters`; cluster ``c``'s labels are those whose root-to-leaf path spells ``c`` in binary.
    """
    t0 = time.perf_counter()
    Z = l2_normalize_rows(sp.csr_matrix(Z, dtype=np.float32))
    Z.sum_duplicates()
    Z.eliminate_zeros()
    L, f = Z.shape
    depth = num_levels(L, num_clusters, max_leaf)
    if max_iter < 1:
        raise HarnessError(f"max_iter must be >= 1, got {max_iter}")
    rng = np.random.default_rng(seed)

    # Non-zeros grouped by feature (the CSC order) = grouped by (node 0, feature). Index arrays are int32 while
    # they fit, which halves their memory and is what scipy's mat-vec kernels take without a copy.
    idx = np.int32 if max(Z.nnz, L, f) < 2**31 - 1 else np.int64
    csc = Z.tocsc()
    csc.sort_indices()
    data = csc.data.astype(np.float64)
    row = csc.indices.astype(idx)
    col = np.repeat(np.arange(f, dtype=idx), np.diff(csc.indptr))
    node = np.zeros(data.size, dtype=idx)
    del csc
    node_of_label = np.zeros(L, dtype=np.int64)
    table, sizes = _members_table(node_of_label, 1)

    per_level = []
    for d in range(depth):
        n_nodes = 2**d
        t_level = time.perf_counter()
        level = _Level.from_grouped(data, row, col, node, n_nodes, L)
        in_b, iterations = _split_level(level, table, sizes, node_of_label, rng, tol, max_iter)
        del level
        data, row, col, node = _next_level_order(data, row, col, node, in_b, n_nodes)
        node_of_label = 2 * node_of_label + in_b
        table, sizes = _members_table(node_of_label, 2 * n_nodes)
        per_level.append(
            {
                "level": d,
                "nodes": n_nodes,
                "iterations_mean": float(iterations.mean()),
                "iterations_max": int(iterations.max()),
                "seconds": round(time.perf_counter() - t_level, 4),
            }
        )

    info = {
        "method": METHOD,
        "seed": seed,
        "levels": depth,
        "num_clusters": 2**depth,
        "cluster_size_min": int(sizes.min()),
        "cluster_size_max": int(sizes.max()),
        "per_level": per_level,
        "config": {"num_clusters": num_clusters, "max_leaf": max_leaf, "tol": tol, "max_iter": max_iter},
        "label_features": {
            "labels": L,
            "features": f,
            "nnz": int(Z.nnz),
            "empty_rows": int((np.diff(Z.indptr) == 0).sum()),
        },
        "seconds": round(time.perf_counter() - t0, 4),
    }
    return LabelClusters(label_cluster=node_of_label.astype(np.int64), members=table, sizes=sizes, info=info)


def tree_with_verbose_set(
    Z: sp.spmatrix,
    verbose: np.ndarray,
    *,
    num_clusters: int | None = None,
    max_leaf: int | None = None,
    seed: int = 0,
    tol: float = 1e-4,
    max_iter: int = 20,
) -> LabelClusters:
    """ECLARE's tree with its verbose-label set: frequent labels are split apart from the others (methods.md §2.1).

    ECLARE holds the verbose labels (``verbose``: more training points than the graph's threshold, 500) out of
    the tree as one set; the set joins the list of clusters as one more cluster at the first level whose
    ordinary clusters are smaller than it, and is split with every level from then on. Nodes are split
    independently, so this equals two trees: the ordinary labels into ``2^b`` clusters, and the verbose labels
    into ``2^(b - d)`` where ``d`` is that joining level (one cluster if it joins only after the last split).
    The total is therefore slightly more than ``2^b``, as in the reference. With ``max_leaf`` the verbose set is
    split until its leaves also hold at most ``max_leaf`` labels. Without verbose labels this is
    :func:`balanced_tree`.
    """
    verbose = np.asarray(verbose, dtype=bool)
    Z = sp.csr_matrix(Z)
    n_verbose = int(verbose.sum())
    ordinary_ids, verbose_ids = np.flatnonzero(~verbose), np.flatnonzero(verbose)
    if n_verbose == 0 or ordinary_ids.size == 0:
        return balanced_tree(Z, num_clusters=num_clusters, max_leaf=max_leaf, seed=seed, tol=tol, max_iter=max_iter)
    t0 = time.perf_counter()
    ordinary = balanced_tree(
        Z[ordinary_ids], num_clusters=num_clusters, max_leaf=max_leaf, seed=seed, tol=tol, max_iter=max_iter
    )
    depth = int(ordinary.info["levels"])
    if num_clusters is not None:
        join = next((d for d in range(depth + 1) if ordinary_ids.size / 2**d < n_verbose), depth)
        verbose_levels = min(depth - join, n_verbose.bit_length() - 1)
        rest = balanced_tree(Z[verbose_ids], num_clusters=2**verbose_levels, seed=seed + 1, tol=tol, max_iter=max_iter)
    else:
        rest = balanced_tree(Z[verbose_ids], max_leaf=max_leaf, seed=seed + 1, tol=tol, max_iter=max_iter)
    L = Z.shape[0]
    label_cluster = np.empty(L, dtype=np.int64)
    label_cluster[ordinary_ids] = ordinary.label_cluster
    label_cluster[verbose_ids] = ordinary.num_clusters + rest.label_cluster
    members, sizes = _members_table(label_cluster, ordinary.num_clusters + rest.num_clusters)
    info = dict(ordinary.info)
    info.update(
        num_clusters=int(sizes.size),
        cluster_size_min=int(sizes.min()),
        cluster_size_max=int(sizes.max()),
        verbose_set={
            "labels": n_verbose,
            "clusters": rest.num_clusters,
            "levels": int(rest.info["levels"]),
            "ordinary_clusters": ordinary.num_clusters,
        },
        seconds=round(time.perf_counter() - t0, 4),
    )
    return LabelClusters(label_cluster=label_cluster, members=members, sizes=sizes, info=info)


def clusters_equal(a: LabelClusters, b: LabelClusters) -> bool:
    """Same partition arrays (``info`` is ignored: it holds timings)."""
    return all(
        np.array_equal(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a) if f.name != "info"
    )
