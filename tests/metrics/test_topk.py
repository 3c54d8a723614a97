"""Top-k extraction: deterministic ties, short rows, and the sparse/dense/index paths agreeing."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from harness.metrics import RankedLabels, evaluate, topk_from_dense, topk_from_sparse
from harness.metrics.topk import topk_from_indices, topk_positions


def reference_topk(rows: list[list[tuple[int, float]]], k: int) -> np.ndarray:
    """Plain-Python top-k: sort by (score desc, label asc), pad with -1."""
    out = np.full((len(rows), k), -1)
    for i, row in enumerate(rows):
        ranked = [label for label, _ in sorted(row, key=lambda p: (-p[1], p[0]))][:k]
        out[i, : len(ranked)] = ranked
    return out


def test_dense_ties_go_to_the_lower_label() -> None:
    scores = np.array([[0.5, 0.9, 0.5, 0.5], [1.0, 1.0, 1.0, 1.0]])
    assert topk_from_dense(scores, 2).tolist() == [[1, 0], [0, 1]]
    assert topk_from_dense(scores, 3).tolist() == [[1, 0, 2], [0, 1, 2]]
    # Fewer labels than k: every label ranked, the rest padded.
    assert topk_from_dense(scores, 6).tolist() == [[1, 0, 2, 3, -1, -1], [0, 1, 2, 3, -1, -1]]


def test_sparse_ties_ignore_the_storage_order() -> None:
    # Row0 stored out of label order with a three-way tie; row1 empty; row2 one negative score.
    scores = sp.csr_matrix(([0.5, 0.9, 0.5, 0.5, -2.0], [3, 1, 0, 2, 4], [0, 4, 4, 5]), shape=(3, 5))
    scores.has_sorted_indices = False
    assert topk_from_sparse(scores, 3).tolist() == [[1, 0, 2], [-1, -1, -1], [4, -1, -1]]


def test_scored_indices_ties_keep_the_earlier_column_and_pads_go_last() -> None:
    top = topk_from_indices(np.array([[-1, 7, 3, 5]]), np.array([[9.0, 1.0, 2.0, 1.0]]), 4)
    assert top.tolist() == [[3, 7, 5, -1]]
    # Without scores the columns are the ranking; interior -1 slots are dropped and the row compacted.
    assert topk_from_indices(np.array([[4, -1, 2]]), None, 3).tolist() == [[4, 2, -1]]


@pytest.mark.parametrize("seed", range(5))
def test_topk_positions_matches_full_sort_with_heavy_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 4, size=(200, 30)).astype(float)  # few distinct values: many ties
    for k in (1, 3, 5, 29, 30, 40):
        full = np.lexsort((np.broadcast_to(np.arange(30), scores.shape), -scores), axis=1)
        assert np.array_equal(topk_positions(scores, k), full[:, :k])


@pytest.mark.parametrize("layout", ["uniform", "ragged", "skewed"])
def test_sparse_topk_matches_reference(layout: str) -> None:
    # "skewed" (one very long row) takes the sort-everything path, the others the padded path.
    rng = np.random.default_rng(3)
    n, n_labels, k = 300, 400, 5
    rows = []
    for i in range(n):
        m = {"uniform": 8, "ragged": int(rng.integers(0, 12)), "skewed": 390 if i == 7 else int(rng.integers(0, 3))}[
            layout
        ]
        labels = rng.choice(n_labels, size=m, replace=False)
        rows.append([(int(label), float(rng.integers(0, 3))) for label in labels])
    indptr = np.cumsum([0] + [len(r) for r in rows])
    mat = sp.csr_matrix(
        ([s for r in rows for _, s in r], [label for r in rows for label, _ in r], indptr), shape=(n, n_labels)
    )
    mat.has_sorted_indices = False
    assert np.array_equal(topk_from_sparse(mat, k), reference_topk(rows, k))


def test_nan_scores_are_rejected() -> None:
    with pytest.raises(ValueError, match="NaN"):
        topk_from_dense(np.array([[0.1, np.nan]]), 1)


def test_duplicate_label_in_a_topk_is_an_error() -> None:
    truth = sp.csr_matrix(np.eye(3))
    with pytest.raises(ValueError, match="row 1 predicts label 2 more than once"):
        evaluate(np.array([[0, 1], [2, 2], [1, 0]]), truth, k=2)


def test_shape_and_range_errors() -> None:
    truth = sp.csr_matrix(np.eye(3))
    with pytest.raises(ValueError, match="pred has 2 rows, the truth has 3"):
        evaluate(np.array([[0], [1]]), truth)
    with pytest.raises(ValueError, match=r"must lie in \[0, 3\)"):
        evaluate(np.array([[0], [1], [3]]), truth)
    with pytest.raises(ValueError, match="4 label columns"):
        evaluate(sp.csr_matrix((3, 4)), truth)
    with pytest.raises(ValueError, match="out of range"):
        evaluate(np.array([[0], [1], [2]]), truth, filter_pairs=np.array([[3, 0]]))
    with pytest.raises(ValueError, match="inv_prop has 2 entries"):
        evaluate(np.array([[0], [1], [2]]), truth, inv_prop=np.ones(2))
    with pytest.raises(ValueError, match="k must be"):
        evaluate(np.array([[0], [1], [2]]), truth, k=0)
    with pytest.raises(TypeError):
        evaluate([[0], [1], [2]], truth)  # type: ignore[arg-type]


def test_pred_with_fewer_label_columns_than_truth_is_accepted() -> None:
    truth = sp.csr_matrix(np.eye(3))
    m = evaluate(sp.csr_matrix(np.eye(3)[:, :2]), truth, k=1)
    assert m["p@1"] == pytest.approx(2 / 3)


def random_fixture(seed: int, n: int = 400, n_labels: int = 60):
    """Truth with empty rows, sparse scores with short/empty rows, weights and filter pairs."""
    rng = np.random.default_rng(seed)
    truth = sp.random(n, n_labels, density=0.05, format="csr", random_state=rng)
    truth.data[:] = 1
    truth = truth.multiply(rng.random((n, 1)) > 0.2).tocsr()  # ~20% empty rows
    counts = rng.integers(0, 10, size=n)
    indices = np.concatenate([rng.choice(n_labels, size=c, replace=False) for c in counts])
    scores = sp.csr_matrix((rng.random(counts.sum()), indices, np.r_[0, np.cumsum(counts)]), shape=(n, n_labels))
    weights = 1 + rng.random(n_labels) * 5
    pairs = np.column_stack([rng.integers(0, n, 80), rng.integers(0, n_labels, 80)])
    return truth, scores, weights, pairs


@pytest.mark.parametrize("seed", range(3))
def test_chunk_size_does_not_change_results(seed: int) -> None:
    truth, scores, weights, pairs = random_fixture(seed)
    dense = scores.toarray()
    for pred in (scores, dense, RankedLabels(topk_from_sparse(scores, 12))):
        base = evaluate(pred, truth, inv_prop=weights, k=5, filter_pairs=pairs, chunk_size=1_000_000)
        for chunk in (1, 7, 64):
            got = evaluate(pred, truth, inv_prop=weights, k=5, filter_pairs=pairs, chunk_size=chunk)
            assert got == pytest.approx(base, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("seed", range(3))
def test_sparse_scores_and_their_topk_indices_give_the_same_metrics(seed: int) -> None:
    truth, scores, weights, pairs = random_fixture(seed)
    # Enough candidates survive the filter: top-12 index arrays carry the same information as the matrix.
    top = topk_from_sparse(scores, 12)
    for filt in (None, pairs):
        a = evaluate(scores, truth, inv_prop=weights, k=5, filter_pairs=filt)
        b = evaluate(top, truth, inv_prop=weights, k=5, filter_pairs=filt)
        assert a == pytest.approx(b, rel=1e-12)
