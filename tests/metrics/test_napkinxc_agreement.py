"""Agreement with napkinxc.metrics (pyxclib-equivalent when fed lists of label lists) on random fixtures."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from harness.metrics import evaluate, inverse_propensity, topk_from_sparse

nm = pytest.importorskip("napkinxc.metrics")


def as_lists(top: np.ndarray) -> list[list[int]]:
    """napkinXC's list form: a row's ranked labels without the -1 pads (a short row is a short list)."""
    return [[int(label) for label in row if label >= 0] for row in top]


def truth_lists(truth: sp.csr_matrix) -> list[list[int]]:
    return [truth.indices[truth.indptr[i] : truth.indptr[i + 1]].tolist() for i in range(truth.shape[0])]


def napkinxc_metrics(truth: list[list[int]], pred: list[list[int]], weights: np.ndarray, k: int) -> dict:
    return {
        "p": nm.precision_at_k(truth, pred, k=k),
        "ndcg": nm.ndcg_at_k(truth, pred, k=k),
        "psp": nm.psprecision_at_k(truth, pred, weights, k=k),
        "psndcg": nm.psndcg_at_k(truth, pred, weights, k=k),
        "r": nm.recall_at_k(truth, pred, k=k),
    }


def fixture(seed: int, n: int = 500, n_labels: int = 80):
    """Random truth (~25% empty rows, binary) and predictions with rows of 0..k+2 labels."""
    rng = np.random.default_rng(seed)
    per_row = rng.integers(1, 8, size=n) * (rng.random(n) > 0.25)
    truth_rows = [np.sort(rng.choice(n_labels, size=c, replace=False)) for c in per_row]
    truth = sp.csr_matrix(
        (np.ones(per_row.sum()), np.concatenate(truth_rows), np.r_[0, np.cumsum(per_row)]), shape=(n, n_labels)
    )
    # Predictions favour true labels so hits are common enough to exercise every term.
    n_pred = rng.integers(0, 8, size=n)
    cols, vals = [], []
    for i, c in enumerate(n_pred):
        pool = np.unique(np.r_[truth_rows[i], rng.choice(n_labels, size=6, replace=False)])
        chosen = rng.choice(pool, size=min(c, pool.size), replace=False)
        cols.append(chosen)
        vals.append(rng.random(chosen.size))
    counts = [c.size for c in cols]
    scores = sp.csr_matrix((np.concatenate(vals), np.concatenate(cols), np.r_[0, np.cumsum(counts)]), (n, n_labels))
    train = sp.random(3000, n_labels, density=0.04, format="csr", random_state=rng)
    train.data[:] = 1
    return truth, scores, train


@pytest.mark.parametrize("k", [1, 3, 5, 10])
@pytest.mark.parametrize("seed", range(3))
def test_all_metrics_agree_with_napkinxc(seed: int, k: int) -> None:
    truth, scores, train = fixture(seed)
    weights = inverse_propensity(train, A=0.55, B=1.5)
    top = topk_from_sparse(scores, k)
    ours = evaluate(scores, truth, inv_prop=weights, k=k)
    ref = napkinxc_metrics(truth_lists(truth), as_lists(top), weights, k)
    for family, values in ref.items():
        got = [ours[f"{family}@{j}"] for j in range(1, k + 1)]
        assert got == pytest.approx(list(values), rel=1e-10, abs=1e-14), family


@pytest.mark.parametrize("seed", range(3))
def test_filtered_metrics_agree_with_napkinxc_on_filtered_lists(seed: int) -> None:
    # napkinXC has no filter: apply the pairs by hand to its lists (drop from truth, drop from the
    # full ranking, then cut at k) and compare with our filter path.
    k = 5
    truth, scores, train = fixture(seed)
    weights = inverse_propensity(train, A=0.6, B=2.6)
    rng = np.random.default_rng(100 + seed)
    rows = rng.integers(0, truth.shape[0], 300)
    # Half the pairs hit true labels, half hit predicted labels, so both sides are exercised.
    labels = np.where(
        rng.random(300) < 0.5,
        [truth.indices[truth.indptr[r]] if truth.indptr[r + 1] > truth.indptr[r] else 0 for r in rows],
        [scores.indices[scores.indptr[r]] if scores.indptr[r + 1] > scores.indptr[r] else 1 for r in rows],
    )
    pairs = np.column_stack([rows, labels])
    banned = {(int(r), int(c)) for r, c in pairs}
    full = topk_from_sparse(scores, scores.shape[1])
    pred = [[c for c in row if (i, c) not in banned][:k] for i, row in enumerate(as_lists(full))]
    true = [[c for c in row if (i, c) not in banned] for i, row in enumerate(truth_lists(truth))]
    ours = evaluate(scores, truth, inv_prop=weights, k=k, filter_pairs=pairs)
    for family, values in napkinxc_metrics(true, pred, weights, k).items():
        got = [ours[f"{family}@{j}"] for j in range(1, k + 1)]
        assert got == pytest.approx(list(values), rel=1e-10, abs=1e-14), family


def test_inverse_propensity_matches_napkinxc_on_binary_labels() -> None:
    _, _, train = fixture(0)
    for a, b in [(0.55, 1.5), (0.6, 2.6), (0.5, 0.4)]:
        expected = nm.Jain_et_al_inverse_propensity(train, A=a, B=b)
        assert inverse_propensity(train, A=a, B=b) == pytest.approx(expected, rel=1e-12)
