"""Metric values checked against arithmetic done by hand (written out in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from harness.metrics import RankedLabels, evaluate

D2 = 1 / math.log2(3)  # discount of rank 2; rank 1 has 1, rank 3 has 1/log2(4) = 0.5


def csr(rows: list[list[int]], n_labels: int) -> sp.csr_matrix:
    """Binary CSR from lists of labels."""
    indptr = np.cumsum([0] + [len(r) for r in rows])
    indices = np.array([label for r in rows for label in r], dtype=np.int64)
    return sp.csr_matrix((np.ones(len(indices)), indices, indptr), shape=(len(rows), n_labels))


# Truth: row0 = {0, 2}, row1 = {1}, row2 = {} (empty, stays in N = 3).
TRUTH = csr([[0, 2], [1], []], 6)
# Predictions: row0 = [2, 3, 0] -> hits [1, 0, 1]; row1 = [1] then two empty slots -> [1, 0, 0];
# row2 = [4, 5, 0] -> [0, 0, 0].
TOP = np.array([[2, 3, 0], [1, -1, -1], [4, 5, 0]])
WEIGHTS = np.array([2.0, 3.0, 5.0, 1.0, 1.0, 1.0])


def approx(values: dict[str, float], family: str, expected: list[float]) -> None:
    got = [values[f"{family}@{j}"] for j in range(1, len(expected) + 1)]
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_precision_counts_empty_rows_and_short_rows_as_misses() -> None:
    m = evaluate(TOP, TRUTH, k=3)
    # P@1 = (1 + 1 + 0)/3; P@2 = (1/2 + 1/2 + 0)/3; P@3 = (2/3 + 1/3 + 0)/3
    approx(m, "p", [2 / 3, 1 / 3, 1 / 3])


def test_ndcg_uses_min_k_true_labels_in_idcg() -> None:
    m = evaluate(TOP, TRUTH, k=3)
    # row0: DCG = 1, 1, 1 + 0.5; IDCG (|Y|=2) = 1, 1 + D2, 1 + D2
    # row1: DCG = 1, 1, 1;       IDCG (|Y|=1) = 1, 1, 1
    # row2: empty -> 0
    approx(m, "ndcg", [(1 + 1) / 3, (1 / (1 + D2) + 1) / 3, (1.5 / (1 + D2) + 1) / 3])


def test_recall_divides_by_row_label_count_and_empty_rows_count_zero() -> None:
    m = evaluate(TOP, TRUTH, k=3)
    # row0: 1/2, 1/2, 2/2; row1: 1, 1, 1; row2: 0 -> R@1 = 1.5/3, R@2 = 1.5/3, R@3 = 2/3
    approx(m, "r", [0.5, 0.5, 2 / 3])


def test_psp_is_a_ratio_of_sums_normalised_by_the_best_ranking() -> None:
    m = evaluate(TOP, TRUTH, inv_prop=WEIGHTS, k=3)
    # Gains w*y: row0 [5, 0, 2] -> cumulative 5, 5, 7; row1 [3, 0, 0] -> 3, 3, 3.
    # Best: row0's true weights sorted {5, 2} -> 5, 7, 7 (only min(k, 2) terms); row1 {3} -> 3, 3, 3.
    # PSP@1 = 8/8; PSP@2 = (5+3)/(7+3) = 0.8; PSP@3 = (7+3)/(7+3) = 1.
    # (A mean of per-row ratios would give (5/7 + 1)/2 = 0.857 at @2; an unnormalised Jain et al.
    # value would exceed 1: this pins the XC-repository convention.)
    approx(m, "psp", [1.0, 0.8, 1.0])


def test_psndcg_normalises_both_sides_by_the_unweighted_idcg() -> None:
    m = evaluate(TOP, TRUTH, inv_prop=WEIGHTS, k=3)
    # Numerator, per row DCG_w / IDCG: row0 5/1, 5/(1+D2), (5 + 2*0.5)/(1+D2); row1 3, 3, 3.
    # Denominator (best ranking {5, 2}): row0 5/1, (5 + 2*D2)/(1+D2), same at @3; row1 3, 3, 3.
    num = [5 + 3, 5 / (1 + D2) + 3, 6 / (1 + D2) + 3]
    den = [5 + 3, (5 + 2 * D2) / (1 + D2) + 3, (5 + 2 * D2) / (1 + D2) + 3]
    approx(m, "psndcg", [a / b for a, b in zip(num, den, strict=True)])


def test_key_set_and_order() -> None:
    assert list(evaluate(TOP, TRUTH, k=2)) == ["p@1", "p@2", "ndcg@1", "ndcg@2", "r@1", "r@2"]
    keys = list(evaluate(TOP, TRUTH, inv_prop=WEIGHTS, k=1))
    assert keys == ["p@1", "ndcg@1", "psp@1", "psndcg@1", "r@1"]


def test_same_result_from_sparse_dense_and_scored_indices() -> None:
    # Scores whose ranking is TOP (row1 has a single stored score: two empty slots).
    scores = sp.csr_matrix(
        (
            [0.9, 0.8, 0.7, 0.95, 0.3, 0.2, 0.1],
            [2, 3, 0, 1, 4, 5, 0],
            [0, 3, 4, 7],
        ),
        shape=(3, 6),
    )
    expected = evaluate(TOP, TRUTH, inv_prop=WEIGHTS, k=3)
    assert evaluate(scores, TRUTH, inv_prop=WEIGHTS, k=3) == pytest.approx(expected)
    # The same predictions as a RankedLabels with shuffled columns: scores put them back in order.
    shuffled = RankedLabels(
        np.array([[0, 2, 3], [-1, 1, -1], [5, 0, 4]]), np.array([[1, 3, 2], [9, 5, 9], [2, 1, 3.0]])
    )
    assert evaluate(shuffled, TRUTH, inv_prop=WEIGHTS, k=3) == pytest.approx(expected)


def test_ground_truth_values_are_binarised() -> None:
    # Row0 stores 0.5 for label 0 and an explicit 0 for label 1: label 0 relevant, label 1 not.
    truth = sp.csr_matrix(([0.5, 0.0], [0, 1], [0, 2]), shape=(1, 3))
    m = evaluate(np.array([[0, 1]]), truth, inv_prop=np.ones(3), k=2)
    # hits [1, 0]: P@2 = 1/2 (a value-weighted P would give 0.25); |Y| = 1 so R@2 = 1, nDCG@2 = 1.
    approx(m, "p", [1.0, 0.5])
    approx(m, "ndcg", [1.0, 1.0])
    approx(m, "psp", [1.0, 1.0])


def test_filter_pairs_leave_predictions_before_topk_and_the_truth() -> None:
    # Truth row0 = {0, 2}, row1 = {1}; scores row0 2 > 1 > 0, row1 3 > 1; filter (0, 2) and (1, 3).
    truth = csr([[0, 2], [1]], 5)
    scores = sp.csr_matrix(([0.9, 0.8, 0.7, 0.9, 0.5], [2, 1, 0, 3, 1], [0, 3, 5]), shape=(2, 5))
    pairs = np.array([[0, 2], [1, 3]])
    m = evaluate(scores, truth, k=2, filter_pairs=pairs)
    # After filtering: truth row0 = {0}; ranked row0 = [1, 0] -> hits [0, 1]; row1 = [1] -> [1, 0].
    # P@1 = 1/2, P@2 = (1/2 + 1/2)/2; R@2 = (1/1 + 1/1)/2 = 1.
    # (Filtering after top-k would give row0 = [1] -> R@2 = 1/2; filtering only the predictions
    # would keep label 2 true in row0 -> R@2 = (1/2 + 1)/2 = 3/4.)
    approx(m, "p", [0.5, 0.5])
    approx(m, "r", [0.5, 1.0])
    # nDCG row0: DCG@2 = D2, IDCG (|Y|=1) = 1 -> D2; row1: 1, 1.
    approx(m, "ndcg", [0.5, (D2 + 1) / 2])
    # The same pairs given as index arrays (the filtered label is dropped and the row compacted).
    m_idx = evaluate(np.array([[2, 1, 0], [3, 1, -1]]), truth, k=2, filter_pairs=pairs)
    assert m_idx == pytest.approx(m)


def test_filter_emptying_a_truth_row_keeps_it_in_n() -> None:
    truth = csr([[0], [1]], 3)
    m = evaluate(np.array([[0], [1]]), truth, k=1, filter_pairs=np.array([[0, 0]]))
    # Row0 loses its only label and its prediction: it contributes 0, N stays 2 -> P@1 = 1/2.
    approx(m, "p", [0.5])
    approx(m, "ndcg", [0.5])


def test_all_rows_empty_gives_zero_everywhere() -> None:
    m = evaluate(np.array([[0, 1]]), csr([[]], 2), inv_prop=np.ones(2), k=2)
    assert all(v == 0.0 for v in m.values())
