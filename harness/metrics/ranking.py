"""Per-chunk sums for P@k, nDCG@k, R@k, PSP@k and PSnDCG@k over (n, k) top-k index arrays.

Usage::

    from harness.metrics.ranking import RankingSums, hits_of
    sums = RankingSums(k=5, with_ps=True)
    sums.add(top, hits_of(top, truth_keys, row_offset, n_labels), n_true, weights, best)
    values = sums.finish(n_rows)      # {"p": array(k), "ndcg": ..., "r": ..., "psp": ..., "psndcg": ...}

Formulas (methods.md §5; ``h_ij`` = 1 if the j-th prediction of row i is a true label, ``w`` = inverse
propensity, ``σ_i`` = row i's true labels by decreasing ``w``, ``d_j = 1 / log2(j + 1)``):

- P@k      = (1/N) Σ_i (1/k) Σ_{j≤k} h_ij
- nDCG@k   = (1/N) Σ_i [Σ_{j≤k} h_ij d_j] / [Σ_{j≤min(k,|Y_i|)} d_j]      (0 for an empty row)
- R@k      = (1/N) Σ_i [Σ_{j≤k} h_ij] / |Y_i|                              (0 for an empty row)
- PSP@k    = [Σ_i Σ_{j≤k} w_{π_i(j)} h_ij] / [Σ_i Σ_{j≤min(k,|Y_i|)} w_{σ_i(j)}]   (ratio of sums)
- PSnDCG@k = [Σ_i DCG_w(π_i)/IDCG_i] / [Σ_i DCG_w(σ_i)/IDCG_i], with IDCG_i the unweighted normaliser.

All sums are accumulated in float64 over chunks, so the result does not depend on the chunk size
beyond floating-point summation order.
"""

from __future__ import annotations

import numpy as np


def discounts(k: int) -> np.ndarray:
    """``1 / log2(j + 1)`` for ranks j = 1..k."""
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def hits_of(top: np.ndarray, truth_keys: np.ndarray, row_offset: int, n_labels: int) -> np.ndarray:
    """Whether each predicted label is a true label of its row.

    Args:
        top: (n, k) label indices of rows ``row_offset ..``, ``-1`` = no prediction (never a hit).
        truth_keys: sorted ``row * n_labels + label`` keys of this chunk's true labels (global rows).
        row_offset: global index of the chunk's first row.
        n_labels: number of labels L.

    Returns:
        (n, k) bool array.
    """
    if truth_keys.shape[0] == 0:
        return np.zeros(top.shape, dtype=bool)
    rows = np.arange(row_offset, row_offset + top.shape[0], dtype=np.int64)[:, None]
    keys = rows * n_labels + top
    pos = np.minimum(np.searchsorted(truth_keys, keys), truth_keys.shape[0] - 1)
    return (truth_keys[pos] == keys) & (top >= 0)


class RankingSums:
    """Running numerators/denominators of every metric at ranks 1..k.

    Args:
        k: largest rank.
        with_ps: also accumulate the propensity-scored metrics.
    """

    def __init__(self, k: int, with_ps: bool) -> None:
        self.k = k
        self.with_ps = with_ps
        self.disc = discounts(k)
        self.cum_disc = np.cumsum(self.disc)
        self.ranks = np.arange(1, k + 1)
        self.p = np.zeros(k)
        self.ndcg = np.zeros(k)
        self.r = np.zeros(k)
        self.psp_num = np.zeros(k)
        self.psp_den = np.zeros(k)
        self.psndcg_num = np.zeros(k)
        self.psndcg_den = np.zeros(k)

    def add(
        self,
        top: np.ndarray,
        hits: np.ndarray,
        n_true: np.ndarray,
        weights: np.ndarray | None = None,
        best: np.ndarray | None = None,
    ) -> None:
        """Accumulate one chunk.

        Args:
            top: (n, k) predicted label indices, ``-1`` = none.
            hits: (n, k) bool, from :func:`hits_of`.
            n_true: (n,) number of true labels per row (after filtering).
            weights: (L,) inverse propensities; required when ``with_ps``.
            best: (n, k) each row's true-label weights sorted decreasingly, zero-padded.
        """
        h = hits.astype(np.float64)
        cum_hits = np.cumsum(h, axis=1)
        self.p += cum_hits.sum(axis=0) / self.ranks

        has_true = n_true > 0
        # IDCG_i@j sums the first min(j, |Y_i|) discounts; empty rows get a dummy 1 and are zeroed below.
        idcg_pos = np.minimum(self.ranks[None, :], np.maximum(n_true, 1)[:, None]) - 1
        inv_idcg = np.where(has_true[:, None], 1.0 / self.cum_disc[idcg_pos], 0.0)
        self.ndcg += (np.cumsum(h * self.disc, axis=1) * inv_idcg).sum(axis=0)
        inv_true = np.where(has_true, 1.0 / np.maximum(n_true, 1), 0.0)
        self.r += (cum_hits * inv_true[:, None]).sum(axis=0)

        if not self.with_ps:
            return
        if weights is None or best is None:
            raise ValueError("weights and best are required for propensity-scored metrics")
        # A -1 slot reads the appended 0 weight, like pyxclib's pad label.
        gain = np.append(weights, 0.0)[top] * h
        self.psp_num += np.cumsum(gain, axis=1).sum(axis=0)
        self.psp_den += np.cumsum(best, axis=1).sum(axis=0)
        self.psndcg_num += (np.cumsum(gain * self.disc, axis=1) * inv_idcg).sum(axis=0)
        self.psndcg_den += (np.cumsum(best * self.disc, axis=1) * inv_idcg).sum(axis=0)

    def finish(self, n_rows: int) -> dict[str, np.ndarray]:
        """Metric arrays of length k (fractions in [0, 1]); a zero PS denominator gives 0."""
        out = {"p": self.p / n_rows, "ndcg": self.ndcg / n_rows, "r": self.r / n_rows}
        if self.with_ps:
            out["psp"] = _ratio(self.psp_num, self.psp_den)
            out["psndcg"] = _ratio(self.psndcg_num, self.psndcg_den)
        return out


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Num / den with 0 where den is 0 (no true label anywhere: nothing to find, nothing found)."""
    safe = np.where(den > 0, den, 1.0)
    return np.where(den > 0, num / safe, 0.0)
