"""Random-walk label graph: self-loops, the top-k bound, verbose labels, determinism and the normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import harness.clustering.graph as graph_mod
from harness.clustering import augment_features, label_features, label_graph, normalize_graph
from harness.errors import HarnessError


def random_labels(n: int = 400, L: int = 120, seed: int = 0, hub: int | None = 7) -> sp.csr_matrix:
    """Three labels per point, plus a 'hub' label on every fifth point (frequent enough to be verbose)."""
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n), 3)
    cols = rng.integers(0, L - 1, rows.size)  # label L-1 is never used
    if hub is not None:
        rows = np.concatenate([rows, np.arange(0, n, 5)])
        cols = np.concatenate([cols, np.full(len(range(0, n, 5)), hub)])
    Y = sp.csr_matrix((np.ones(rows.size, dtype=np.float32), (rows, cols)), shape=(n, L))
    Y.data[:] = 1
    return Y


def test_self_loops_top_k_bound_and_verbose_labels() -> None:
    Y = random_labels()
    G = label_graph(Y, walk_len=100, top_k=4, verbose_labels=50, seed=0)
    L = Y.shape[1]
    assert G.shape == (L, L) and G.dtype == np.float32 and G.has_sorted_indices
    assert np.all(G.diagonal() > 0)  # every label has a self-loop
    assert np.diff(G.indptr).max() <= 4 + 1  # top_k neighbours plus (at most) the forced self-loop
    # Label 7 is on 80 points > 50: only its self-loop, weight 1, and no other label reaches it.
    assert G[7].indices.tolist() == [7] and G[7, 7] == 1
    assert G[:, 7].nnz == 1
    # The never-used label also has just a self-loop.
    assert G[L - 1].indices.tolist() == [L - 1]


def test_visit_counts_add_up_when_nothing_is_cut() -> None:
    Y = random_labels(hub=None)
    G = label_graph(Y, walk_len=50, top_k=Y.shape[1], verbose_labels=10**6, seed=1)
    used = np.flatnonzero(np.diff(Y.tocsc().indptr) > 0)
    sums = np.asarray(G.sum(axis=1)).ravel()
    # Each walker lands walk_len times; a self-loop of weight 1 is added only if it never landed on itself.
    assert np.all((sums[used] == 50) | (sums[used] == 51))


def test_walk_follows_label_document_label_hops() -> None:
    # Point 0 has labels {0, 1}; point 1 has {1, 2}. With p_reset = 1 every hop starts from the walker's label,
    # so label 0 lands on 0 or 1 only (about half each) and never on 2.
    Y = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1]], dtype=np.float32))
    G = label_graph(Y, walk_len=400, p_reset=1.0, top_k=3, verbose_labels=100, seed=0).toarray()
    assert G[0, 2] == 0 and G[0, 0] + G[0, 1] == 400 and 150 < G[0, 0] < 250
    # With p_reset = 0 the walk wanders on: from label 0 it reaches label 2 through label 1.
    G = label_graph(Y, walk_len=400, p_reset=0.0, top_k=3, verbose_labels=100, seed=0).toarray()
    assert G[0, 2] > 0


def test_deterministic_under_seed_and_packing() -> None:
    Y = random_labels()
    a = label_graph(Y, walk_len=60, top_k=5, seed=3)
    b = label_graph(Y, walk_len=60, top_k=5, seed=3)
    c = label_graph(Y, walk_len=60, top_k=5, seed=4)
    assert (a != b).nnz == 0
    assert (a != c).nnz > 0


def test_packed_and_lexsort_ranking_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    Y = random_labels()
    packed = label_graph(Y, walk_len=60, top_k=3, seed=0)
    monkeypatch.setattr(graph_mod, "_PACK_BITS", 0)  # force the three-key lexsort path
    assert (label_graph(Y, walk_len=60, top_k=3, seed=0) != packed).nnz == 0


def test_chunks_cover_all_labels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph_mod, "CHUNK", 16)
    Y = random_labels()
    G = label_graph(Y, walk_len=30, top_k=4, verbose_labels=50, seed=0)
    assert np.all(G.diagonal() > 0) and np.diff(G.indptr).max() <= 5


def test_normalize_graph_by_hand() -> None:
    G = sp.csr_matrix(np.array([[2.0, 2.0], [0.0, 1.0]]))
    # row sums 4, 1; column sums 2, 3.
    expected = np.array([[2 / np.sqrt(4 * 2), 2 / np.sqrt(4 * 3)], [0.0, 1 / np.sqrt(1 * 3)]])
    np.testing.assert_allclose(normalize_graph(G).toarray(), expected, rtol=1e-6)


def test_augment_features_keeps_verbose_labels_and_mixes_others() -> None:
    Y = random_labels()
    rng = np.random.default_rng(0)
    X = sp.random(Y.shape[0], 300, density=0.03, random_state=rng, format="csr")
    Z = label_features(X, Y)
    G = label_graph(Y, walk_len=60, top_k=4, verbose_labels=50, seed=0)
    A = augment_features(Z, G, top_features=1000)
    assert A.shape == Z.shape
    np.testing.assert_allclose(A[7].toarray(), Z[7].toarray(), rtol=1e-5)  # only its self-loop
    norms = np.sqrt(np.asarray(A.multiply(A).sum(axis=1)).ravel())
    np.testing.assert_allclose(norms[norms > 0], 1.0, rtol=1e-5)
    assert A.nnz > Z.nnz  # neighbours' features were mixed in
    assert np.diff(augment_features(Z, G, top_features=3).indptr).max() <= 3
    with pytest.raises(HarnessError):
        augment_features(Z, G[:5, :5], 10)


def test_bad_parameters() -> None:
    Y = random_labels()
    with pytest.raises(HarnessError):
        label_graph(Y, p_reset=1.5)
    with pytest.raises(HarnessError):
        label_graph(Y, top_k=0)


def test_augment_features_in_blocks_equals_one_block(monkeypatch: pytest.MonkeyPatch) -> None:
    Y = random_labels()
    X = sp.random(Y.shape[0], 200, density=0.05, random_state=np.random.default_rng(2), format="csr")
    Z = label_features(X, Y)
    G = label_graph(Y, walk_len=40, top_k=4, seed=0)
    whole = augment_features(Z, G, top_features=20)
    monkeypatch.setattr(graph_mod, "_PRODUCT_BLOCK", 50)
    blocked = augment_features(Z, G, top_features=20)
    assert blocked.has_sorted_indices and (blocked != whole).nnz == 0
