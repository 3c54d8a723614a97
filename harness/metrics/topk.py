"""Deterministic top-k rankings from dense scores, sparse scores or given index arrays.

Usage::

    from harness.metrics.topk import RankedLabels, topk_from_dense, topk_from_sparse
    idx = topk_from_sparse(score_csr, k=5)          # (n, 5) int64, -1 where a row has < 5 scores
    idx = topk_from_dense(score_array, k=5)
    evaluate(RankedLabels(indices, scores), Y_test)          # index arrays re-ordered by their scores

Every ranking here orders by decreasing score and breaks ties by the *lower label index* (for an
index array with scores: by the earlier column). ``-1`` means "no prediction" and always sorts last.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

#: The value marking an empty prediction slot in every index array.
PAD = -1


class RankedLabels(NamedTuple):
    """Predicted labels per row, best first unless ``scores`` says otherwise: what the metrics take.

    Not the models' :class:`harness.models.contract.TopK` (scores required, validated shapes); any
    ``(indices, scores)`` pair, that one included, is accepted wherever this is.

    Attributes:
        indices: (n, w) integer label indices, ``-1`` = no prediction.
        scores: optional (n, w) scores; when given, each row is re-ranked by decreasing score
            (ties: earlier column first, ``-1`` slots last).
    """

    indices: np.ndarray
    scores: np.ndarray | None = None


def _check_finite(scores: np.ndarray, what: str) -> None:
    # NaN has no place in a ranking: it compares false with everything and would make ties arbitrary.
    if np.isnan(scores).any():
        raise ValueError(f"{what} contain NaN")


def topk_positions(scores: np.ndarray, k: int) -> np.ndarray:
    """Column positions of each row's k largest scores, ordered by (score desc, position asc).

    Uses argpartition for the candidate set and fixes the boundary ties by position, so the result
    does not depend on the partition algorithm.

    Args:
        scores: (n, m) float array without NaN.
        k: number of positions wanted.

    Returns:
        int64 array of shape (n, min(k, m)).
    """
    n, m = scores.shape
    neg = -scores
    if m <= k:
        return np.argsort(neg, axis=1, kind="stable").astype(np.int64, copy=False)
    part = np.argpartition(neg, k - 1, axis=1)[:, :k]
    threshold = np.take_along_axis(neg, part, axis=1).max(axis=1, keepdims=True)
    better = neg < threshold
    tied = neg == threshold
    # Of the entries tied with the k-th score, keep the lowest positions that fill the k slots.
    need = k - better.sum(axis=1, keepdims=True)
    take = better | (tied & (np.cumsum(tied, axis=1) <= need))
    pos = np.nonzero(take)[1].reshape(n, k)  # row-major, so each row's positions come ascending
    order = np.argsort(np.take_along_axis(neg, pos, axis=1), axis=1, kind="stable")
    return np.take_along_axis(pos, order, axis=1)


def topk_from_dense(scores: np.ndarray, k: int) -> np.ndarray:
    """Top-k label indices of a dense (n, L) score array; every column is a candidate.

    Args:
        scores: (n, L) scores (any real dtype; bool is read as 0/1).
        k: ranks wanted.

    Returns:
        (n, k) int64 indices, ``-1`` padded when ``L < k``.
    """
    values = np.asarray(scores, dtype=np.float64)
    _check_finite(values, "dense scores")
    pos = topk_positions(values, k)
    return _pad(pos, k)


def topk_from_sparse(scores: sp.spmatrix | sp.sparray, k: int) -> np.ndarray:
    """Top-k label indices of a sparse (n, L) score matrix; only stored entries are candidates.

    A stored score of any value (zero or negative included) is a prediction; a row with fewer than
    k stored entries gets ``-1`` in the remaining slots.

    Args:
        scores: sparse score matrix (converted to CSR).
        k: ranks wanted.

    Returns:
        (n, k) int64 indices.
    """
    csr = sp.csr_matrix(scores)
    if not csr.has_sorted_indices:
        csr = csr.sorted_indices()  # ties go to the lower label index, which is the earlier entry
    _check_finite(csr.data, "sparse scores")
    n = csr.shape[0]
    counts = np.diff(csr.indptr)
    width = int(counts.max()) if n else 0
    if n * width <= 4 * csr.nnz + n:
        # Rows of similar length (the usual top-m prediction file): lay them out as an (n, width)
        # array padded with -inf behind each row's entries; equal scores resolve to the earlier
        # position, i.e. the lower label, and a real -inf beats the padding for the same reason.
        rank = np.arange(csr.nnz) - np.repeat(csr.indptr[:-1], counts)
        rows = np.repeat(np.arange(n), counts)
        padded = np.full((n, width), -np.inf)
        padded[rows, rank] = csr.data
        pos = topk_positions(padded, k)
        real = pos < counts[:, None]
        flat = np.minimum(csr.indptr[:-1, None] + pos, max(csr.nnz - 1, 0))
        labels = np.where(real, csr.indices[flat] if csr.nnz else PAD, PAD).astype(np.int64)
        return _pad(labels, k)
    # Very uneven rows: sort all entries instead of padding to the longest row.
    rows = np.repeat(np.arange(n), counts)
    # lexsort is stable: within a row, equal scores keep their (ascending label) order.
    order = np.lexsort((-csr.data.astype(np.float64), rows))
    rank = np.arange(rows.shape[0]) - np.repeat(csr.indptr[:-1], counts)
    keep = rank < k
    out = np.full((n, k), PAD, dtype=np.int64)
    out[rows[keep], rank[keep]] = csr.indices[order][keep]
    return out


def topk_from_indices(indices: np.ndarray, scores: np.ndarray | None, k: int) -> np.ndarray:
    """First k predictions of an index array, re-ranked by ``scores`` when given.

    Args:
        indices: (n, w) integer labels, ``-1`` = no prediction.
        scores: optional (n, w) scores aligned with ``indices``.
        k: ranks wanted.

    Returns:
        (n, k) int64 indices with every ``-1`` moved behind the real predictions.
    """
    idx = np.asarray(indices).astype(np.int64, copy=False)
    if scores is not None:
        values = np.asarray(scores, dtype=np.float64)
        if values.shape != idx.shape:
            raise ValueError(f"scores shape {values.shape} differs from indices shape {idx.shape}")
        _check_finite(values, "prediction scores")
        # Primary key: real prediction before pad; secondary: decreasing score; lexsort is stable.
        order = np.lexsort((-values, idx < 0), axis=1)
        idx = np.take_along_axis(idx, order, axis=1)
    else:
        idx = compact(idx)
    return _pad(idx[:, :k], k)


def compact(indices: np.ndarray) -> np.ndarray:
    """Move ``-1`` slots of each row to the end, keeping the order of the real predictions."""
    if not (indices < 0).any():
        return indices
    order = np.argsort(indices < 0, axis=1, kind="stable")
    return np.take_along_axis(indices, order, axis=1)


def _pad(indices: np.ndarray, k: int) -> np.ndarray:
    """Right-pad an (n, w <= k) index array with ``-1`` to width k."""
    n, w = indices.shape
    if w >= k:
        return indices[:, :k]
    out = np.full((n, k), PAD, dtype=np.int64)
    out[:, :w] = indices
    return out
