"""Label-graph augmentation of the label features (ECLARE "AugParabel", methods.md §2.1 step 2).

A label with few training points has a thin PIFA vector. ECLARE borrows features from labels that co-occur with
it: random walks with restart on the label → document → label graph give each label a handful of neighbours,
and the clustering features become ``Z' = Ĝ Z`` with ``Ĝ`` the symmetrically normalised walk graph.

Usage::

    from harness.clustering.graph import label_graph, augment_features
    G = label_graph(Y_train, walk_len=400, p_reset=0.8, top_k=10, verbose_labels=500, seed=0)
    Z_aug = augment_features(Z, G, top_features=1000)

The walk follows pyxclib's ``RandomWalk`` as ECLARE uses it: every one of the ``walk_len`` hops goes from a label
to a uniformly drawn training point of it and on to a uniformly drawn label of that point; a hop starts from the
walk's own label with probability ``p_reset`` (restart), otherwise from where the previous hop landed (the first
hop always starts at the label). Each landing counts one visit. All walkers of a chunk of labels move together
as numpy arrays, so there is no Python loop over labels.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from harness.clustering.pifa import binary_csr, top_per_row
from harness.errors import HarnessError
from harness.features.tfidf import l2_normalize_rows

#: Walkers simulated together. Part of the determinism contract: chunk ``i`` draws from ``default_rng([seed, i])``,
#: so the graph depends on (Y, parameters, seed) only, never on the machine. 16,384 walkers × 400 hops of int32
#: visits is 26 MB.
CHUNK = 16_384

#: Bits available for packing (walker, count, label) into one sortable int64 key.
_PACK_BITS = 63


def _walk_chunk(
    starts: np.ndarray,
    lab_ptr: np.ndarray,
    lab_doc: np.ndarray,
    doc_ptr: np.ndarray,
    doc_lab: np.ndarray,
    walk_len: int,
    p_reset: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Landing label of every hop of every walker: int32 ``(len(starts), walk_len)``."""
    m = starts.size
    visits = np.empty((walk_len, m), dtype=np.int32)  # hop-major: each hop writes one contiguous row
    pos = starts
    lab_deg = np.diff(lab_ptr)
    doc_deg = np.diff(doc_ptr)
    for t in range(walk_len):
        u = rng.random((3, m))
        src = starts if t == 0 else np.where(u[0] < p_reset, starts, pos)
        deg = lab_deg[src]
        doc = lab_doc[lab_ptr[src] + np.minimum((u[1] * deg).astype(np.int64), deg - 1)]
        deg = doc_deg[doc]
        pos = doc_lab[doc_ptr[doc] + np.minimum((u[2] * deg).astype(np.int64), deg - 1)].astype(np.int64)
        visits[t] = pos
    return np.ascontiguousarray(visits.T)


def _count_visits(starts: np.ndarray, visits: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, col, count) of each walker's ``top_k`` most visited labels, plus its own label (always kept)."""
    m, w = visits.shape
    visits.sort(axis=1)
    new_run = np.ones((m, w), dtype=bool)
    new_run[:, 1:] = visits[:, 1:] != visits[:, :-1]
    run_start = np.flatnonzero(new_run.ravel())
    counts = np.diff(np.append(run_start, m * w))
    label = visits.ravel()[run_start].astype(np.int64)
    walker = run_start // w
    # Rank each walker's visited labels by (count desc, label asc); keep the top_k and the walker's own label.
    # The three fields are packed into one int64 when they fit (always, for the chunk size and any real
    # walk length and label count), which sorts several times faster than a three-key lexsort.
    label_bits = max(int(label.max()).bit_length(), 1) if label.size else 1
    count_bits, walker_bits = int(w).bit_length(), int(m).bit_length()
    if label_bits + count_bits + walker_bits <= _PACK_BITS:
        key = (walker.astype(np.int64) << (count_bits + label_bits)) | ((w - counts) << label_bits) | label
        key.sort()
        walker = key >> (count_bits + label_bits)
        counts = w - ((key >> label_bits) & ((1 << count_bits) - 1))
        label = key & ((1 << label_bits) - 1)
    else:
        order = np.lexsort((label, -counts, walker))
        walker, label, counts = walker[order], label[order], counts[order]
    rank = np.arange(walker.size) - np.searchsorted(walker, walker, side="left")
    is_self = label == starts[walker]
    keep = (rank < top_k) | is_self
    rows, cols, vals = starts[walker[keep]], label[keep], counts[keep].astype(np.float32)
    # A walker that never landed on its own label still gets a self-loop of weight 1 (as pyxclib does).
    has_self = np.zeros(m, dtype=bool)
    has_self[walker[keep & is_self]] = True
    missing = starts[~has_self]
    return (
        np.concatenate([rows, missing]),
        np.concatenate([cols, missing]),
        np.concatenate([vals, np.ones(missing.size, dtype=np.float32)]),
    )


def label_graph(
    Y: sp.spmatrix,
    walk_len: int = 400,
    p_reset: float = 0.8,
    top_k: int = 10,
    verbose_labels: int = 500,
    seed: int = 0,
) -> sp.csr_matrix:
    """Label–label graph of random-walk visit counts (not normalised; :func:`augment_features` normalises it).

    Args:
        Y: (n, L) training labels.
        walk_len: hops per label (400 in ECLARE/SyncXML).
        p_reset: probability that a hop restarts from the walk's own label (0.8).
        top_k: most visited labels kept per label (10); ties go to the lower label index.
        verbose_labels: labels on more than this many training points (500) are removed from the documents before
            walking (a walk through them would reach half the label space) and get only a self-loop.
        seed: the walks are deterministic given the seed.

    Returns:
        (L, L) float32 CSR with sorted indices. Row ``l`` holds at most ``top_k + 1`` entries (its ``top_k`` most
        visited labels and itself); every row has a self-loop; verbose labels and labels without training
        points have only the self-loop, weight 1.
    """
    if walk_len < 1 or top_k < 1:
        raise HarnessError(f"walk_len and top_k must be >= 1, got {walk_len} and {top_k}")
    if not 0.0 <= p_reset <= 1.0:
        raise HarnessError(f"p_reset must be in [0, 1], got {p_reset}")
    Yb = binary_csr(Y)
    n, L = Yb.shape
    freq = np.bincount(Yb.indices, minlength=L)
    verbose = freq > verbose_labels
    doc = Yb.copy()  # document -> its non-verbose labels
    doc.data = (~verbose[Yb.indices]).astype(np.float32)
    doc.eliminate_zeros()
    lab = doc.tocsc()  # label -> its (non-verbose) documents
    lab_ptr, lab_doc = lab.indptr.astype(np.int64), lab.indices.astype(np.int64)
    doc_ptr, doc_lab = doc.indptr.astype(np.int64), doc.indices.astype(np.int64)

    walkers = np.flatnonzero(np.diff(lab_ptr) > 0)  # labels that can take a hop
    parts = []
    for i, lo in enumerate(range(0, walkers.size, CHUNK)):
        starts = walkers[lo : lo + CHUNK]
        rng = np.random.default_rng([seed, i])
        visits = _walk_chunk(starts, lab_ptr, lab_doc, doc_ptr, doc_lab, walk_len, p_reset, rng)
        parts.append(_count_visits(starts, visits, top_k))
    lonely = np.setdiff1d(np.arange(L), walkers, assume_unique=True)  # verbose or never used: self-loop only
    parts.append((lonely, lonely, np.ones(lonely.size, dtype=np.float32)))
    rows, cols, vals = (np.concatenate(x) for x in zip(*parts, strict=True))
    G = sp.csr_matrix((vals, (rows, cols)), shape=(L, L), dtype=np.float32)
    G.sum_duplicates()
    G.sort_indices()
    return G


def normalize_graph(G: sp.spmatrix) -> sp.csr_matrix:
    """Symmetric normalisation ``D_r^{-1/2} G D_c^{-1/2}`` (row and column sums); empty rows/columns stay empty."""
    G = sp.csr_matrix(G, dtype=np.float32, copy=True)
    r = np.asarray(G.sum(axis=1)).ravel()
    c = np.asarray(G.sum(axis=0)).ravel()
    r_inv = np.divide(1.0, np.sqrt(r), out=np.zeros_like(r), where=r > 0)
    c_inv = np.divide(1.0, np.sqrt(c), out=np.zeros_like(c), where=c > 0)
    G.data *= (np.repeat(r_inv, np.diff(G.indptr)) * c_inv[G.indices]).astype(np.float32)
    return G


#: Upper bound on the entries of one block of ``Ĝ Z`` before truncation (about 200 MB with scipy's temporaries).
_PRODUCT_BLOCK = 1 << 24


def augment_features(Z: sp.spmatrix, G: sp.spmatrix, top_features: int | None = 1000) -> sp.csr_matrix:
    """``normalise(top_k(normalize_graph(G) @ Z))``: each label's features mixed with its walk neighbours'.

    The product is formed in blocks of rows whose untruncated size is bounded by :data:`_PRODUCT_BLOCK` entries
    (a label with 10 head-label neighbours can have ~10,000 before the cut to ``top_features``), so the memory
    peak is the truncated result plus one block, not the full product.
    """
    if G.shape != (Z.shape[0], Z.shape[0]):
        raise HarnessError(f"graph shape {G.shape} does not match {Z.shape[0]} labels")
    Gn = normalize_graph(G)
    Z = sp.csr_matrix(Z, dtype=np.float32)
    # Entries of each product row before merging duplicates (an upper bound on its length); a block ends where
    # the running total crosses a multiple of the block size.
    rows = np.repeat(np.arange(Gn.shape[0]), np.diff(Gn.indptr))
    bound = np.bincount(rows, weights=np.diff(Z.indptr)[Gn.indices], minlength=Gn.shape[0])
    starts_at = (np.cumsum(bound) - bound) // _PRODUCT_BLOCK
    cuts = np.concatenate([[0], np.flatnonzero(np.diff(starts_at)) + 1, [Gn.shape[0]]])
    blocks = []
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        mixed = sp.csr_matrix(Gn[lo:hi] @ Z, dtype=np.float32)
        mixed.eliminate_zeros()
        blocks.append(l2_normalize_rows(mixed if top_features is None else top_per_row(mixed, top_features)))
    out = sp.vstack(blocks, format="csr") if blocks else sp.csr_matrix(Z.shape, dtype=np.float32)
    out.sort_indices()
    return out
