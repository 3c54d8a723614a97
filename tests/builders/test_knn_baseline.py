"""The character n-gram kNN floor: voting, padding and determinism on a toy problem."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from baselines.knn import CharNgramKNN, labels_to_csr


def test_neighbours_vote_their_labels() -> None:
    texts = ["red oak", "white oak", "pin oak", "sugar maple", "red maple"]
    labels = [[0], [0], [0, 2], [1], [1]]
    model = CharNgramKNN(n_neighbors=2, ngram_range=(2, 4)).fit(texts, labels, num_labels=4)
    indices, scores = model.predict_topk(["black oak", "silver maple"], k=3)
    assert indices.shape == scores.shape == (2, 3)
    assert indices.dtype == np.int64 and scores.dtype == np.float32
    assert indices[0, 0] == 0 and indices[1, 0] == 1
    assert np.all(np.diff(scores, axis=1) <= 0)  # best first
    for row in indices:
        assert len(set(row.tolist())) == 3  # padding never repeats a voted label
    again = CharNgramKNN(n_neighbors=2, ngram_range=(2, 4)).fit(texts, labels, num_labels=4)
    assert np.array_equal(again.predict_topk(["black oak", "silver maple"], k=3)[0], indices)


def test_vote_prefixes_match_smaller_models() -> None:
    texts = [f"item {i} {'ab' * (i % 3)}" for i in range(30)]
    y = labels_to_csr([[i % 5, 5 + i % 2] for i in range(30)], 7)
    big = CharNgramKNN(n_neighbors=10).fit(texts, y)
    nbr_idx, nbr_sim = big.kneighbors(texts[:6], 10)
    small = CharNgramKNN(n_neighbors=4).fit(texts, y)
    assert np.array_equal(big.vote_topk(nbr_idx[:, :4], nbr_sim[:, :4], 3)[0], small.predict_topk(texts[:6], 3)[0])


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="num_labels"):
        labels_to_csr([[0]], None)
    with pytest.raises(ValueError, match="out of range"):
        labels_to_csr([[3]], 2)
    with pytest.raises(RuntimeError, match="not fitted"):
        CharNgramKNN().predict_topk(["x"], 1)


@pytest.mark.parametrize("m", [1, 3, 7, 12])
def test_sparse_row_topk_equals_the_dense_top_k_with_its_tie_rule(m: int) -> None:
    """Neighbour search on stored entries only: the dense rule's results, ties and zero-filled short rows included."""
    from baselines.knn import sparse_row_topk
    from harness.metrics.topk import topk_positions

    rng = np.random.default_rng(m)
    dense = rng.choice([0.0, 0.0, 0.0, 0.25, 0.5, 0.75], size=(40, 12)).astype(np.float32)  # many ties
    dense[3] = 0.0  # a query sharing nothing with the training rows
    dense[5, :2] = 0.9  # fewer stored entries than m
    dense[5, 2:] = 0.0
    want = topk_positions(dense, m)
    got_idx, got_val = sparse_row_topk(sp.csr_matrix(dense), m)
    np.testing.assert_array_equal(got_idx, want)
    np.testing.assert_array_equal(got_val, np.take_along_axis(dense, want, axis=1))
