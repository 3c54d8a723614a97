"""Inverse label propensities (Jain et al. 2016) and the best achievable propensity-weighted ranking.

Usage::

    from harness.metrics.propensity import inverse_propensity
    w = inverse_propensity(Y_train, A=0.55, B=1.5)   # float64 array, one weight per label
    evaluate(topk, Y_test, inv_prop=w)
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def inverse_propensity(y_train: sp.spmatrix | sp.sparray, A: float = 0.55, B: float = 1.5) -> np.ndarray:
    """Inverse propensity ``w_l = 1 + C (n_l + B)^-A`` with ``C = (ln N - 1)(B + 1)^A``.

    ``n_l`` is the number of training points carrying label ``l`` and ``N`` the number of training
    points. Any stored nonzero counts as carrying the label: pyxclib sums the stored values, which is
    the same on the XC-repository files (all values are 1) and avoids a relevance file inflating
    counts. Always pass the *unfiltered* training labels (methods.md §5).

    Args:
        y_train: (N, L) sparse training label matrix.
        A: dataset constant (see docs/metrics.md for the per-dataset table).
        B: dataset constant.

    Returns:
        float64 array of shape (L,).

    Raises:
        ValueError: no training rows, or constants that give non-finite weights (e.g. ``B <= 0``).
    """
    y = sp.csr_matrix(y_train, copy=True)
    n_train = y.shape[0]
    if n_train == 0:
        raise ValueError("inverse_propensity needs at least one training row")
    y.sum_duplicates()  # a duplicated (row, label) entry is still one training point
    y.data = (y.data != 0).astype(np.float64)
    counts = np.bincount(y.indices[y.data > 0], minlength=y.shape[1]).astype(np.float64)
    c = (np.log(n_train) - 1.0) * (B + 1.0) ** A
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = 1.0 + c * (counts + B) ** (-A)
    if not np.all(np.isfinite(weights)):
        raise ValueError(f"inverse propensities are not finite for A={A}, B={B} (B must be > 0)")
    return weights


def ideal_weights(indptr: np.ndarray, weights_per_entry: np.ndarray, k: int) -> np.ndarray:
    """Each row's k largest true-label weights in decreasing order, zero-padded: the best ranking.

    This is the PSP/PSnDCG normaliser σ_i of methods.md §5: a row with ``|Y_i| < k`` contributes
    only ``|Y_i|`` nonzero terms. Ties do not matter because only the sorted values are used.

    Args:
        indptr: CSR row pointer of the (chunk of the) ground truth, shape (n + 1,), starting at 0.
        weights_per_entry: inverse propensity of each stored true label, aligned with the CSR data.
        k: number of ranks.

    Returns:
        float64 array of shape (n, k).
    """
    n = indptr.shape[0] - 1
    counts = np.diff(indptr)
    rows = np.repeat(np.arange(n), counts)
    rank = np.arange(rows.shape[0]) - np.repeat(indptr[:-1], counts)
    width = int(counts.max()) if n else 0
    if n * width <= 4 * rows.shape[0] + n:
        # Rows of similar length: a zero-padded (n, width) array sorted per row is the fast path.
        # Pad with -inf (not 0) so that padding sorts behind any real weight, even a negative one.
        padded = np.full((n, width), -np.inf)
        padded[rows, rank] = weights_per_entry
        if width > k:
            padded = np.partition(padded, width - k, axis=1)[:, width - k :]
        best = np.zeros((n, k), dtype=np.float64)
        best[:, : padded.shape[1]] = -np.sort(-padded, axis=1)
        best[np.isneginf(best)] = 0.0
        return best
    # Very uneven rows: lexsort keeps rows contiguous (primary key), decreasing weight within a row.
    order = np.lexsort((-weights_per_entry, rows))
    keep = rank < k
    best = np.zeros((n, k), dtype=np.float64)
    best[rows[keep], rank[keep]] = weights_per_entry[order][keep]
    return best
