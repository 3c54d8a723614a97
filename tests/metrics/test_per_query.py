"""Per-query metric values: they add back up to ``evaluate``'s numbers, and the PS denominators are model-free."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from harness.metrics import evaluate, inverse_propensity
from harness.metrics.per_query import (
    PER_QUERY_FILE,
    aggregate,
    load_per_query,
    per_query_values,
    query_values,
    save_per_query,
)
from tests.metrics.test_hand_computed import TOP, TRUTH, WEIGHTS


def random_case(seed: int, n: int = 300, n_labels: int = 40) -> tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray]:
    """Truth with empty rows, sparse scores with short rows, and train labels for propensities."""
    rng = np.random.default_rng(seed)
    truth = sp.random(n, n_labels, density=0.06, random_state=rng, format="csr")
    truth.data[:] = 1.0
    truth = sp.csr_matrix(sp.diags((rng.random(n) > 0.05).astype(np.float64)) @ truth)  # some empty rows
    truth.eliminate_zeros()
    scores = sp.random(n, n_labels, density=0.12, random_state=rng, format="csr")  # some rows score < k labels
    train = sp.random(5 * n, n_labels, density=0.05, random_state=rng, format="csr")
    return truth, scores, train


@pytest.mark.parametrize("seed", range(3))
def test_values_add_up_to_evaluate_with_filter_pairs_and_chunks(seed: int) -> None:
    truth, scores, train = random_case(seed)
    weights = inverse_propensity(train, A=0.55, B=1.5)
    rng = np.random.default_rng(50 + seed)
    pairs = np.column_stack([rng.integers(0, truth.shape[0], 60), rng.integers(0, truth.shape[1], 60)])
    expected = evaluate(scores, truth, inv_prop=weights, k=5, filter_pairs=pairs)
    values = per_query_values(scores, truth, inv_prop=weights, k=5, filter_pairs=pairs, chunk_size=37)
    assert set(values) == {"p", "ndcg", "r", "psp_num", "psp_den", "psndcg_num", "psndcg_den"}
    assert all(v.shape == (truth.shape[0], 5) and v.dtype == np.float32 for v in values.values())
    got = aggregate(values)
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-5, abs=1e-7), key


def test_hand_computed_rows() -> None:
    values = per_query_values(TOP, TRUTH, inv_prop=WEIGHTS, k=3)
    # row0 hits [1, 0, 1] -> P = 1, 1/2, 2/3; gains [5, 0, 2] -> 5, 5, 7; best {5, 2} -> 5, 7, 7
    np.testing.assert_allclose(values["p"][0], [1, 0.5, 2 / 3], rtol=1e-6)
    np.testing.assert_allclose(values["psp_num"][0], [5, 5, 7])
    np.testing.assert_allclose(values["psp_den"][0], [5, 7, 7])
    # row1: one hit at rank 1 of weight 3; row2 (empty truth) contributes nothing to either side.
    np.testing.assert_allclose(values["psp_num"][1], [3, 3, 3])
    np.testing.assert_allclose(values["psp_den"][2], [0, 0, 0])
    np.testing.assert_allclose(values["r"][1], [1, 1, 1])


def test_ps_denominator_depends_on_the_truth_only() -> None:
    """The shared normaliser is what makes a paired test on PSP numerators a test on the PSP difference."""
    truth, scores, train = random_case(7)
    weights = inverse_propensity(train)
    other = sp.random(*truth.shape, density=0.2, random_state=np.random.default_rng(8), format="csr")
    a = per_query_values(scores, truth, inv_prop=weights)
    b = per_query_values(other, truth, inv_prop=weights)
    np.testing.assert_array_equal(a["psp_den"], b["psp_den"])
    np.testing.assert_array_equal(a["psndcg_den"], b["psndcg_den"])
    assert not np.array_equal(a["psp_num"], b["psp_num"])


def test_without_propensities_only_the_mean_families() -> None:
    truth, scores, _ = random_case(1)
    values = per_query_values(scores, truth, k=2)
    assert set(values) == {"p", "ndcg", "r"}
    with pytest.raises(KeyError, match="no per-query values for 'psp'"):
        query_values(_stored(values), "psp@1")
    with pytest.raises(KeyError, match="rank outside"):
        query_values(_stored(values), "p@3")


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    truth, scores, train = random_case(2)
    values = per_query_values(scores, truth, inv_prop=inverse_propensity(train), k=5)
    path = tmp_path / PER_QUERY_FILE
    save_per_query(path, values, cell_key="c" * 64, dataset_sha256="d" * 64)
    assert [p.name for p in tmp_path.iterdir()] == [PER_QUERY_FILE]  # no temporary file left behind
    pq = load_per_query(path)
    assert pq is not None and pq.k == 5 and pq.n_queries == truth.shape[0]
    assert pq.cell_key == "c" * 64 and pq.dataset_sha256 == "d" * 64
    num, den = query_values(pq, "psp@5")
    assert den is not None and float(num.sum() / den.sum()) == pytest.approx(aggregate(values)["psp@5"])
    assert load_per_query(tmp_path / "absent.npz") is None
    np.savez(tmp_path / "future.npz", format=np.int64(99), k=np.int64(5))
    assert load_per_query(tmp_path / "future.npz") is None  # another format: not guessed at


def _stored(values: dict[str, np.ndarray]):  # noqa: ANN202 - a PerQuery without a file
    from harness.metrics.per_query import PerQuery

    return PerQuery(values=values, k=next(iter(values.values())).shape[1], cell_key="x", dataset_sha256="y")
