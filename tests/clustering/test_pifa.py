"""PIFA label features on a hand-computed example, top-feature truncation and its tie rule."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from harness.clustering import label_features, top_per_row
from harness.errors import HarnessError

# Three documents over three features; rows normalise to [.6 .8 0], [0 0 1], [1 0 0].
X = sp.csr_matrix(np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 2.0], [1.0, 0.0, 0.0]]))
# doc 0 -> labels {0, 1}, doc 1 -> {1}, doc 2 -> {0, 2}; label 3 has no training point.
Y = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 1, 0]], dtype=np.float32))


def test_hand_computed_example() -> None:
    Z = label_features(X, Y)
    # label 0 = [.6 .8 0] + [1 0 0] = [1.6 .8 0]; label 1 = [.6 .8 0] + [0 0 1] = [.6 .8 1]; label 2 = [1 0 0].
    expected = np.array(
        [
            np.array([1.6, 0.8, 0.0]) / np.sqrt(3.2),
            np.array([0.6, 0.8, 1.0]) / np.sqrt(2.0),
            [1.0, 0.0, 0.0],
            [0.0, 0.0, 0.0],
        ]
    )
    assert Z.shape == (4, 3) and Z.dtype == np.float32 and Z.has_sorted_indices
    np.testing.assert_allclose(Z.toarray(), expected, rtol=1e-6)
    assert Z[3].nnz == 0  # no training point: an empty row, not NaN


def test_input_scaling_and_label_values_do_not_matter() -> None:
    # X rows are normalised inside; any non-zero label value counts as one positive.
    scaled = sp.diags([10.0, 0.5, 3.0]) @ X
    Y2 = Y.copy()
    Y2.data *= 7
    np.testing.assert_allclose(label_features(scaled, Y2).toarray(), label_features(X, Y).toarray(), rtol=1e-6)


def test_top_features_truncation() -> None:
    Z = label_features(X, Y, top_features=2)
    # label 1 keeps its two largest sums (.8 and 1), renormalised; the other rows had <= 2 features anyway.
    np.testing.assert_allclose(Z[1].toarray().ravel(), np.array([0.0, 0.8, 1.0]) / np.sqrt(1.64), rtol=1e-6)
    np.testing.assert_allclose(Z[0].toarray(), label_features(X, Y)[0].toarray(), rtol=1e-6)
    assert np.diff(Z.indptr).max() <= 2
    everything = label_features(X, Y, top_features=None)
    assert everything.has_sorted_indices
    np.testing.assert_allclose(everything.toarray(), label_features(X, Y).toarray())


def test_top_per_row_ties_go_to_the_lower_feature_and_order_is_kept() -> None:
    M = sp.csr_matrix(np.array([[0.5, 0.5, 0.5, 0.1], [0.0, 0.2, 0.9, 0.2], [0.3, 0.0, 0.0, 0.0]]))
    T = top_per_row(M, 2)
    np.testing.assert_array_equal(
        T.toarray(), np.array([[0.5, 0.5, 0.0, 0.0], [0.0, 0.2, 0.9, 0.0], [0.3, 0.0, 0.0, 0.0]])
    )
    assert T.has_sorted_indices and np.all(np.diff(T.indices[T.indptr[1] : T.indptr[2]]) > 0)
    with pytest.raises(HarnessError):
        top_per_row(M, 0)


def test_top_per_row_matches_a_per_row_sort_on_random_data() -> None:
    rng = np.random.default_rng(0)
    M = sp.random(60, 40, density=0.3, random_state=rng, format="csr")
    M.data = np.round(M.data, 1)  # many ties
    T = top_per_row(M, 5).toarray()
    for i in range(M.shape[0]):
        row = M[i].toarray().ravel()
        keep = sorted(np.flatnonzero(row), key=lambda j: (-row[j], j))[:5]
        expected = np.zeros_like(row)
        expected[keep] = row[keep]
        np.testing.assert_array_equal(T[i], expected)


def test_row_mismatch_is_refused() -> None:
    with pytest.raises(HarnessError, match="rows"):
        label_features(X, Y[:2])


def test_top_per_row_long_rows_negative_values_and_small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.clustering.pifa as pifa_mod

    rng = np.random.default_rng(1)
    # Rows of very different lengths (several length buckets), signed values with ties.
    D = np.round(rng.standard_normal((30, 300)), 1) * (rng.random((30, 300)) < np.linspace(0.02, 1, 30)[:, None])
    M = sp.csr_matrix(D)
    expected = np.zeros_like(D)
    for i in range(D.shape[0]):
        keep = sorted(np.flatnonzero(D[i]), key=lambda j: (-D[i, j], j))[:7]
        expected[i, keep] = D[i, keep]
    np.testing.assert_array_equal(top_per_row(M, 7).toarray(), expected)
    monkeypatch.setattr(pifa_mod, "_BLOCK", 64)  # many small padded blocks
    np.testing.assert_array_equal(top_per_row(M, 7).toarray(), expected)
