"""Inverse propensity (Jain et al. 2016) by hand, and its counting convention."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from harness.metrics import inverse_propensity
from harness.metrics.propensity import ideal_weights


def test_inverse_propensity_by_hand() -> None:
    # N = 4 training rows; label counts n = [2, 1, 0].
    y = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0], [0, 0, 0]]))
    a, b = 0.5, 1.0
    c = (math.log(4) - 1) * (b + 1) ** a  # (ln N - 1)(B + 1)^A = 0.38629 * 1.41421 = 0.54630
    expected = [1 + c * (2 + b) ** -a, 1 + c * (1 + b) ** -a, 1 + c * (0 + b) ** -a]
    # = [1 + 0.5463/1.7321, 1 + 0.5463/1.4142, 1 + 0.5463] = [1.3154, 1.3863, 1.5463]
    w = inverse_propensity(y, A=a, B=b)
    assert w.dtype == np.float64
    assert w == pytest.approx(expected, rel=1e-12)
    # Rarer labels weigh more.
    assert w[0] < w[1] < w[2]


def test_counts_training_points_not_stored_values() -> None:
    # A relevance value of 3 still means one training point carries the label.
    binary = sp.csr_matrix(np.array([[1, 0], [1, 1], [0, 0]]))
    graded = sp.csr_matrix(np.array([[3, 0], [1, 2], [0, 0]]))
    assert inverse_propensity(graded) == pytest.approx(inverse_propensity(binary))


def test_invalid_constants_raise() -> None:
    y = sp.csr_matrix(np.array([[1, 0]]))
    with pytest.raises(ValueError, match="not finite"):
        inverse_propensity(y, A=0.55, B=0.0)  # an unseen label would get (0 + 0)^-A = inf
    with pytest.raises(ValueError, match="at least one"):
        inverse_propensity(sp.csr_matrix((0, 2)))


@pytest.mark.parametrize("skewed", [False, True])
def test_ideal_weights_sorts_each_rows_true_weights(skewed: bool) -> None:
    # skewed=True (one row far longer than the rest) takes the sort-everything path.
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 4, size=50)
    if skewed:
        lengths[3] = 500
    values = rng.integers(-2, 5, size=lengths.sum()).astype(float)  # ties and negative weights
    indptr = np.r_[0, np.cumsum(lengths)]
    k = 3
    expected = np.zeros((50, k))
    for i in range(50):
        top = sorted(values[indptr[i] : indptr[i + 1]], reverse=True)[:k]
        expected[i, : len(top)] = top
    assert np.array_equal(ideal_weights(indptr, values, k), expected)
