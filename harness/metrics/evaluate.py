"""The one metric entry point: P/nDCG/R@k and, with propensities, PSP/PSnDCG@k, computed in row chunks.

Usage::

    from harness.metrics import evaluate, inverse_propensity
    w = inverse_propensity(Y_train, A=0.6, B=2.6)
    m = evaluate(score_csr, Y_test, inv_prop=w, k=5, filter_pairs=pairs)
    m["p@1"], m["psp@5"]          # fractions in [0, 1]

``pred`` may be a sparse (n, L') score matrix, a dense float (n, L') score array, an integer (n, w)
array of ranked label indices (``-1`` = no prediction) or a :class:`RankedLabels` (indices plus scores).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from harness.metrics.filtering import FilterPairs
from harness.metrics.propensity import ideal_weights
from harness.metrics.ranking import RankingSums, hits_of
from harness.metrics.topk import RankedLabels, compact, topk_from_dense, topk_from_indices, topk_from_sparse

#: Metric families in the order they appear in results; ``psp``/``psndcg`` need propensities.
FAMILIES = ("p", "ndcg", "psp", "psndcg", "r")

#: Cap on the cells of one dense chunk (rows x labels) so a wide dense score array stays bounded.
_DENSE_CELLS = 1 << 22


def metric_keys(k: int, with_ps: bool) -> list[str]:
    """Result keys in canonical order, e.g. ``["p@1", ..., "ndcg@1", ..., "r@k"]``."""
    families = [f for f in FAMILIES if with_ps or not f.startswith("ps")]
    return [f"{family}@{rank}" for family in families for rank in range(1, k + 1)]


def binarize_truth(truth: sp.spmatrix | sp.sparray) -> sp.csr_matrix:
    """Canonical CSR copy with every stored nonzero set to 1 and stored zeros dropped."""
    y = sp.csr_matrix(truth, copy=True)
    y.sum_duplicates()  # also sorts the indices, which the key lookups rely on
    y.data = (y.data != 0).astype(np.float32)
    y.eliminate_zeros()
    return y


def evaluate(
    pred: sp.spmatrix | sp.sparray | np.ndarray | RankedLabels | tuple,
    truth: sp.spmatrix | sp.sparray,
    *,
    inv_prop: np.ndarray | None = None,
    k: int = 5,
    filter_pairs: np.ndarray | None = None,
    chunk_size: int = 50_000,
) -> dict[str, float]:
    """Score predictions against the ground truth the pyxclib way (methods.md §5, docs/metrics.md).

    Conventions: ground-truth values are binarised; empty truth rows stay in N (they add 0 to P,
    nDCG and R, and nothing to either side of the PS ratios); missing prediction slots are misses;
    filter pairs are removed from predictions (before top-k) and from the truth; ties in scores go
    to the lower label index; a label repeated within a row's top-k is an error.

    Args:
        pred: predictions for the N truth rows (see the module docstring for the accepted forms).
        truth: (N, L) sparse ground truth.
        inv_prop: (L,) inverse propensities from the *unfiltered* training labels; enables the
            ``psp@``/``psndcg@`` keys.
        k: largest rank; keys are produced for 1..k.
        filter_pairs: optional (m, 2) int array of (row, label) pairs to remove.
        chunk_size: rows per chunk; bounds memory, does not change results.

    Returns:
        ``{"p@1": ..., "ndcg@1": ..., "psp@1": ..., "psndcg@1": ..., "r@1": ...}`` in that order.

    Raises:
        ValueError: shape mismatches, labels out of range, NaN scores, duplicate labels in a top-k,
            filter pairs out of range, or bad ``k``/``chunk_size``.
        TypeError: an unsupported ``pred`` type.
    """
    source, y, weights, filt = checked_inputs(pred, truth, k=k, inv_prop=inv_prop, filter_pairs=filter_pairs,
                                              chunk_size=chunk_size)  # fmt: skip
    n_rows = y.shape[0]

    sums = RankingSums(k, with_ps=weights is not None)
    for c in ranked_chunks(source, y, filt, k, chunk_size):
        best = ideal_weights(c.indptr, weights[c.labels], k) if weights is not None else None
        sums.add(c.top, c.hits, c.n_true, weights, best)

    arrays = sums.finish(n_rows)
    families = [f for f in FAMILIES if f in arrays]
    return {f"{f}@{rank}": float(arrays[f][rank - 1]) for f in families for rank in range(1, k + 1)}


def checked_inputs(
    pred: object,
    truth: object,
    *,
    k: int,
    inv_prop: np.ndarray | None,
    filter_pairs: np.ndarray | None,
    chunk_size: int,
) -> tuple[_Predictions, sp.csr_matrix, np.ndarray | None, FilterPairs | None]:
    """Validate the arguments every metric function takes; return the predictions, the (filtered) truth, the
    propensity weights and the filter. Shared by :func:`evaluate` and :mod:`harness.metrics.per_query`.
    """
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if not sp.issparse(truth):
        raise TypeError(f"truth must be a scipy sparse matrix, got {type(truth).__name__}")
    y = binarize_truth(truth)
    n_rows, n_labels = y.shape
    if n_rows == 0:
        raise ValueError("the ground truth has no rows")
    source = _Predictions(pred, n_rows, n_labels)
    weights = None
    if inv_prop is not None:
        weights = np.asarray(inv_prop, dtype=np.float64).ravel()
        if weights.shape[0] != n_labels:
            raise ValueError(f"inv_prop has {weights.shape[0]} entries, the truth has {n_labels} labels")
        if not np.all(np.isfinite(weights)):
            raise ValueError("inv_prop contains non-finite values")
    filt = None
    if filter_pairs is not None:
        filt = FilterPairs(filter_pairs, n_rows, n_labels)
        y = filt.remove_from_truth(y)
    return source, y, weights, filt


@dataclass
class RankedChunk:
    """One chunk of rows ``[start, stop)``: the filtered top-k, its hits and the rows' true labels (CSR slices)."""

    start: int
    stop: int
    top: np.ndarray
    hits: np.ndarray
    n_true: np.ndarray
    indptr: np.ndarray
    labels: np.ndarray


def ranked_chunks(
    source: _Predictions, y: sp.csr_matrix, filt: FilterPairs | None, k: int, chunk_size: int
) -> Iterator[RankedChunk]:
    """The rows in chunks, ranked, filtered and matched against the truth: the loop every metric shares.

    :func:`evaluate` sums over these; :mod:`harness.metrics.per_query` keeps the per-row terms, so both rank,
    filter and count hits the same way by construction.
    """
    n_rows, n_labels = y.shape
    step = source.rows_per_chunk(chunk_size)
    for start in range(0, n_rows, step):
        stop = min(start + step, n_rows)
        extra = filt.max_per_row(start, stop) if filt is not None else 0
        # Take k + (most filtered labels in a row) candidates, so k survive the filter.
        top = source.ranked(start, stop, k + extra)
        if filt is not None:
            top = compact(filt.remove_from_topk(top, start))
        top = top[:, :k]
        _check_no_duplicates(top, start)
        lo, hi = y.indptr[start], y.indptr[stop]
        indptr = y.indptr[start : stop + 1] - lo
        n_true = np.diff(indptr)
        labels = y.indices[lo:hi]
        rows = np.repeat(np.arange(start, stop, dtype=np.int64), n_true)
        hits = hits_of(top, rows * n_labels + labels, start, n_labels)
        yield RankedChunk(start, stop, top, hits, n_true, indptr, labels)


class _Predictions:
    """Uniform access to the accepted prediction forms: ranked (n, width) label indices per chunk."""

    def __init__(self, pred: object, n_rows: int, n_labels: int) -> None:
        self.kind: str
        self.scores: np.ndarray | None = None
        if sp.issparse(pred):
            self.kind, self.data = "sparse", sp.csr_matrix(pred)
        elif isinstance(pred, tuple):
            top = RankedLabels(*pred)
            self.kind, self.data = "indices", np.asarray(top.indices)
            self.scores = None if top.scores is None else np.asarray(top.scores)
        elif isinstance(pred, np.ndarray) and pred.dtype.kind in "iu":
            self.kind, self.data = "indices", pred
        elif isinstance(pred, np.ndarray) and pred.dtype.kind in "fb":
            self.kind, self.data = "dense", pred
        else:
            raise TypeError(
                "pred must be a sparse score matrix, a float score array, an integer index array or a RankedLabels, "
                f"got {type(pred).__name__}"
            )
        if self.data.ndim != 2:
            raise ValueError(f"pred must be 2-D, got shape {self.data.shape}")
        if self.data.shape[0] != n_rows:
            raise ValueError(f"pred has {self.data.shape[0]} rows, the truth has {n_rows}")
        if self.kind == "indices":
            if self.data.dtype.kind not in "iu":
                raise ValueError(f"RankedLabels indices must be integers, got dtype {self.data.dtype}")
            if self.data.size and (self.data.min() < -1 or self.data.max() >= n_labels):
                raise ValueError(
                    f"predicted label indices must lie in [0, {n_labels}) or be -1, "
                    f"found range [{self.data.min()}, {self.data.max()}]"
                )
        elif self.data.shape[1] > n_labels:
            # Fewer prediction columns than truth labels is fine (the rest are never predicted).
            raise ValueError(f"pred has {self.data.shape[1]} label columns, the truth has only {n_labels}")
        self.width = self.data.shape[1]

    def rows_per_chunk(self, chunk_size: int) -> int:
        if self.kind == "dense":
            return max(1, min(chunk_size, _DENSE_CELLS // max(self.width, 1)))
        return chunk_size

    def ranked(self, start: int, stop: int, k: int) -> np.ndarray:
        """(stop - start, k) ranked label indices of rows ``[start, stop)``, ``-1`` padded."""
        if self.kind == "sparse":
            return topk_from_sparse(self.data[start:stop], k)
        if self.kind == "dense":
            return topk_from_dense(self.data[start:stop], k)
        scores = None if self.scores is None else self.scores[start:stop]
        return topk_from_indices(self.data[start:stop], scores, k)


def _check_no_duplicates(top: np.ndarray, row_offset: int) -> None:
    """Raise if a row's top-k names a label twice (it would count as two hits in pyxclib)."""
    if top.shape[1] < 2:
        return
    ordered = np.sort(top, axis=1)
    dup = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)
    if dup.any():
        row = int(np.flatnonzero(dup.any(axis=1))[0])
        label = int(ordered[row, 1:][dup[row]][0])
        raise ValueError(f"row {row_offset + row} predicts label {label} more than once in its top-{top.shape[1]}")
