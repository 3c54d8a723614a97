"""Reciprocal-pair filtering for LF datasets: drop (row, label) pairs from predictions and truth.

Usage::

    from harness.metrics.filtering import FilterPairs
    filt = FilterPairs(pairs, n_rows=Y.shape[0], n_labels=Y.shape[1])   # pairs: (m, 2) int
    Y = filt.remove_from_truth(Y)
    top = filt.remove_from_topk(candidates, row_offset=0)               # filtered slots -> -1

This is the ECLARE variant (methods.md §5): the pairs are removed from the predictions *before*
top-k is taken and from the ground truth, a superset of the DeepXML/pyxclib variant that only
touches the predictions. Propensities are computed from the unfiltered training labels.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from harness.metrics.topk import PAD


class FilterPairs:
    """A validated set of (row, label) pairs, stored as sorted unique ``row * L + label`` keys.

    Args:
        pairs: (m, 2) integer array of 0-based (row, label) pairs; duplicates are harmless.
        n_rows: number of test rows (pairs must have ``row < n_rows``).
        n_labels: number of labels (pairs must have ``label < n_labels``).

    Raises:
        ValueError: wrong shape, or a pair out of range (the message names the first one).
    """

    def __init__(self, pairs: np.ndarray, n_rows: int, n_labels: int) -> None:
        arr = np.asarray(pairs)
        if arr.size == 0:
            arr = arr.reshape(0, 2)
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise ValueError(f"filter pairs must have shape (m, 2), got {arr.shape}")
        if arr.dtype.kind not in "iu":
            raise ValueError(f"filter pairs must be integers, got dtype {arr.dtype}")
        arr = arr.astype(np.int64, copy=False)
        bad = (arr[:, 0] < 0) | (arr[:, 0] >= n_rows) | (arr[:, 1] < 0) | (arr[:, 1] >= n_labels)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            row, label = (int(v) for v in arr[first])
            raise ValueError(
                f"filter pair #{first + 1} ({row}, {label}) is out of range: rows [0, {n_rows}), labels [0, {n_labels})"
            )
        self.n_rows = n_rows
        self.n_labels = n_labels
        self.keys = np.unique(arr[:, 0] * n_labels + arr[:, 1])
        rows = self.keys // n_labels
        #: Pairs per row: how many extra candidates a row needs so k survive the filter.
        self.per_row = np.bincount(rows, minlength=n_rows)

    def __len__(self) -> int:
        return int(self.keys.shape[0])

    def max_per_row(self, start: int, stop: int) -> int:
        """Largest number of filtered labels in any row of ``[start, stop)``."""
        if stop <= start or len(self) == 0:
            return 0
        return int(self.per_row[start:stop].max())

    def remove_from_truth(self, truth: sp.csr_matrix) -> sp.csr_matrix:
        """Drop the pairs from a canonical CSR ground truth (a filtered true label is no longer true)."""
        if len(self) == 0:
            return truth
        rows = np.repeat(np.arange(truth.shape[0], dtype=np.int64), np.diff(truth.indptr))
        drop = self._contains(rows * self.n_labels + truth.indices)
        if not drop.any():
            return truth
        out = truth.copy()
        out.data[drop] = 0
        out.eliminate_zeros()
        return out

    def remove_from_topk(self, candidates: np.ndarray, row_offset: int) -> np.ndarray:
        """Set filtered predictions of a chunk of ranked candidates to ``-1``.

        Args:
            candidates: (n, w) ranked label indices of rows ``row_offset .. row_offset + n``.
            row_offset: global index of the chunk's first row.

        Returns:
            A copy with filtered entries replaced by ``-1`` (not yet compacted).
        """
        if len(self) == 0:
            return candidates
        rows = np.arange(row_offset, row_offset + candidates.shape[0], dtype=np.int64)[:, None]
        hit = self._contains(rows * self.n_labels + candidates) & (candidates >= 0)
        return np.where(hit, PAD, candidates)

    def _contains(self, keys: np.ndarray) -> np.ndarray:
        """Vectorised membership of ``keys`` in the filter (binary search on the sorted keys)."""
        pos = np.searchsorted(self.keys, keys)
        pos = np.minimum(pos, self.keys.shape[0] - 1)
        return self.keys[pos] == keys
