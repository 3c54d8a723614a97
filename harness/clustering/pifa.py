"""Label features by PIFA: each label is the normalised sum of its training points' normalised feature rows.

This is step 1 of the SyncXML/ECLARE clustering (methods.md §2.1) and the whole of LightXML's (§3.2): a label
is described by the bag of words of the texts it is attached to, so labels used on similar texts end up close in
cosine similarity and can share a cluster (a meta-label).

Usage::

    from harness.clustering.pifa import label_features
    Z = label_features(X_train, Y_train, top_features=1000)   # csr (L, f) float32, rows unit-norm or empty

Labels without a training point get an empty row; the tree still places them (docs/clustering.md).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from harness.errors import HarnessError
from harness.features.tfidf import l2_normalize_rows


def binary_csr(Y: sp.spmatrix) -> sp.csr_matrix:
    """``Y`` as a canonical binary float32 CSR (explicit zeros dropped, duplicates merged, indices sorted)."""
    Y = sp.csr_matrix(Y, dtype=np.float32, copy=True)
    Y.sum_duplicates()
    Y.eliminate_zeros()
    Y.sort_indices()
    Y.data[:] = 1.0
    return Y


#: Entries per padded block when finding row thresholds: bounds the extra memory of :func:`top_per_row` (~64 MB).
_BLOCK = 1 << 24


def _row_thresholds(data: np.ndarray, starts: np.ndarray, counts: np.ndarray, k: int) -> np.ndarray:
    """The ``k``-th largest value of each of the given rows (all longer than ``k``).

    Rows are bucketed by length (powers of two), copied into padded 2-D blocks and cut with ``np.partition``
    along the rows: linear time per row, and the padding is at most half of a block.
    """
    out = np.empty(counts.size, dtype=data.dtype)
    bucket = np.ceil(np.log2(counts)).astype(np.int64)
    for b in np.unique(bucket):
        sel = np.flatnonzero(bucket == b)
        width = int(counts[sel].max())
        per_block = max(_BLOCK // width, 1)
        for lo in range(0, sel.size, per_block):
            rows = sel[lo : lo + per_block]
            c = counts[rows]
            block = np.full((rows.size, width), -np.inf, dtype=data.dtype)
            local = np.repeat(np.arange(rows.size), c)
            within = np.arange(c.sum()) - np.repeat(np.cumsum(c) - c, c)
            block[local, within] = data[np.repeat(starts[rows], c) + within]
            out[rows] = np.partition(block, width - k, axis=1)[:, width - k]
    return out


def top_per_row(M: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the ``k`` largest values of each row (ties: lower column index), without a loop over rows.

    Only rows longer than ``k`` are touched: each gets its ``k``-th largest value as a threshold
    (:func:`_row_thresholds`); entries above it are kept, and of the entries equal to it those with the lowest
    columns fill the remaining places. The kept entries are picked out of the original arrays, so the column
    order within rows (sorted) is preserved.
    """
    if k < 1:
        raise HarnessError(f"top_features must be >= 1, got {k}")
    M = sp.csr_matrix(M)
    M.sum_duplicates()
    M.sort_indices()
    counts = np.diff(M.indptr)
    long_rows = np.flatnonzero(counts > k)
    if long_rows.size == 0:
        return M
    long_counts = counts[long_rows]
    thr = _row_thresholds(M.data, M.indptr[long_rows].astype(np.int64), long_counts, k)
    rows = np.repeat(np.arange(M.shape[0]), counts)
    keep = counts[rows] <= k
    long_pos = np.flatnonzero(~keep)  # entries of the long rows, row by row, columns increasing
    local = np.repeat(np.arange(long_rows.size), long_counts)
    values = M.data[long_pos]
    row_thr = thr[local]
    above = values > row_thr
    tie = values == row_thr
    need = k - np.bincount(local, weights=above, minlength=long_rows.size).astype(np.int64)
    # Rank of each tied entry among its row's tied entries, in column order.
    ties_before = np.cumsum(tie.view(np.int8), dtype=np.int64)
    ties_before -= tie
    ties_before -= ties_before[np.cumsum(long_counts) - long_counts][local]
    keep[long_pos] = above | (tie & (ties_before < need[local]))
    indptr = np.concatenate([[0], np.cumsum(np.minimum(counts, k))]).astype(M.indptr.dtype)
    out = sp.csr_matrix((M.data[keep], M.indices[keep], indptr), shape=M.shape)
    out.has_sorted_indices = True
    return out


def label_features(X: sp.spmatrix, Y: sp.spmatrix, top_features: int | None = 1000) -> sp.csr_matrix:
    """PIFA label features ``Z = normalise(top_k(Yᵀ normalise(X)))``.

    Args:
        X: (n, f) training features (TF-IDF or a dataset's BoW). Rows are L2-normalised here whatever the
            caller did, so a long text does not outweigh a short one in its labels' sums.
        Y: (n, L) training labels; any non-zero counts as a positive.
        top_features: features kept per label (the largest sums), 1000 in ECLARE/SyncXML, ``None`` = all
            (LightXML). Bounds the memory and the cost of the tree for frequent labels whose sums touch many
            features.

    Returns:
        (L, f) float32 CSR with sorted indices, each row unit L2 norm or empty (a label with no training point).
    """
    if X.shape[0] != Y.shape[0]:
        raise HarnessError(f"X has {X.shape[0]} rows but Y has {Y.shape[0]}")
    Xn = l2_normalize_rows(sp.csr_matrix(X, dtype=np.float32))
    Yb = binary_csr(Y)
    Z = sp.csr_matrix(Yb.T.tocsr() @ Xn, dtype=np.float32)
    Z.eliminate_zeros()  # cancellations cannot happen with non-negative TF-IDF, but a signed BoW could have them
    Z.sort_indices()
    return l2_normalize_rows(Z if top_features is None else top_per_row(Z, top_features))
