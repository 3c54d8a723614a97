"""The shortlist machinery SyncXML and LightXML share: candidates, targets, losses, warm-up and scorings."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from harness.models.contract import FitContext
from inceptionxml.shortlist import (
    ClusterIndex,
    append_missing_positives,
    candidate_logits,
    candidate_targets,
    cluster_targets,
    expand_candidates,
    positive_pairs,
    random_clusters,
    top_clusters,
)
from inceptionxml.shortlist_net import HeadSettings, ShortlistNet

L = 12


@pytest.fixture
def index() -> ClusterIndex:
    # 4 clusters of sizes 4, 3, 3, 2 (padded with L = 12)
    members = np.array([[0, 1, 2, 3], [4, 5, 6, L], [7, 8, 9, L], [10, 11, L, L]])
    label_cluster = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3])
    return ClusterIndex(members, label_cluster)


def test_random_clusters_are_balanced_and_consistent():
    members, label_cluster = random_clusters(103, 8, seed=1)
    sizes = np.bincount(label_cluster, minlength=8)
    assert sizes.max() - sizes.min() <= 1 and sizes.sum() == 103
    for c, row in enumerate(members):
        real = row[row < 103]
        assert np.all(label_cluster[real] == c) and len(real) == sizes[c]
    assert np.all(members[members >= 103] == 103)


def test_cluster_targets_mark_true_clusters(index):
    rows, labels = torch.tensor([0, 0, 1]), torch.tensor([5, 6, 11])
    g = cluster_targets(rows, labels, index, batch=2)
    np.testing.assert_array_equal(g.numpy(), [[0, 1, 0, 0], [0, 0, 0, 1]])


def test_true_clusters_are_forced_in_but_scores_stay_unforced():
    logits = torch.tensor([[5.0, 4.0, -3.0, -6.0]])
    forced = torch.tensor([[0.0, 0.0, 0.0, 1.0]])
    top, prob = top_clusters(logits, k=2, forced=forced)
    assert set(top[0].tolist()) == {3, 0}, "the true cluster 3 must displace the second-best one"
    np.testing.assert_allclose(prob[0, top[0] == 3].item(), torch.sigmoid(torch.tensor(-6.0)).item(), rtol=1e-6)
    top_free, _ = top_clusters(logits, k=2)
    assert top_free[0].tolist() == [0, 1]


def test_candidates_are_members_of_the_top_clusters(index):
    top = torch.tensor([[1, 3], [0, 2]])
    prob = torch.tensor([[0.9, 0.2], [0.8, 0.7]])
    cand, cand_prob = expand_candidates(index, top, prob)
    assert cand.shape == (2, 2 * index.max_size)
    np.testing.assert_array_equal(cand[0].numpy(), [4, 5, 6, L, 10, 11, L, L])
    np.testing.assert_allclose(cand_prob[0].numpy(), [0.9] * 4 + [0.2] * 4)


def test_candidate_logits_are_gathered_dot_products():
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(L + 1, 6, generator=gen)
    weight[L] = 0
    q = torch.randn(3, 6, generator=gen)
    cand = torch.randint(0, L + 1, (3, 5), generator=gen)
    expected = (q @ weight.T).gather(1, cand)
    torch.testing.assert_close(candidate_logits(q, weight, cand), expected)
    assert torch.all(candidate_logits(q, weight, torch.full((3, 2), L)) == 0), "padding must score exactly 0"


def test_candidate_targets_match_a_dense_lookup():
    rng = np.random.default_rng(0)
    y = sp.random(6, L, density=0.3, format="csr", random_state=0)
    y.data[:] = 1
    rows, labels = positive_pairs(y)
    cand = torch.from_numpy(rng.integers(0, L + 1, size=(6, 9)))
    dense = np.hstack([y.toarray(), np.zeros((6, 1))])
    expected = np.take_along_axis(dense, cand.numpy(), axis=1)
    np.testing.assert_array_equal(candidate_targets(cand, rows, labels, L).numpy(), expected)


def test_missing_positives_are_appended_only_where_missing():
    cand = torch.tensor([[0, 1, 2, L], [4, 5, 6, L]])
    prob = torch.full((2, 4), 0.5)
    rows, labels = torch.tensor([0, 0, 1, 1, 1]), torch.tensor([1, 9, 4, 10, 11])
    new_cand, new_prob = append_missing_positives(cand, prob, rows, labels, L)
    assert new_cand.shape == (2, 6)
    assert sorted(new_cand[0, 4:].tolist()) == [9, L] and sorted(new_cand[1, 4:].tolist()) == [10, 11]
    assert torch.all(new_prob[:, 4:] == 0)
    full = torch.tensor([[1, 9, L]])
    same, _ = append_missing_positives(full, torch.ones(1, 3), torch.tensor([0, 0]), torch.tensor([1, 9]), L)
    assert same is full


class _TinyText(torch.nn.Module):
    out_dim = 8

    def __init__(self):
        super().__init__()
        self.embedding = torch.nn.Embedding(20, 8)
        self.proj = torch.nn.Linear(8, 8)

    def forward(self, ids):
        return self.proj(self.embedding(ids).mean(1))


@pytest.mark.parametrize("kind", ["sync", "lightxml"])
def test_detached_warm_up_keeps_the_extreme_loss_out_of_the_encoder(index, kind):
    torch.manual_seed(0)
    net = ShortlistNet(_TinyText(), L, index, HeadSettings(kind=kind, bottleneck_dim=8))
    ids = torch.randint(0, 20, (4, 5))
    rows, labels = torch.tensor([0, 1, 2, 3]), torch.tensor([1, 5, 8, 11])

    def encoder_grad(detach: bool) -> float:
        net.zero_grad()
        # meta_scale 0 isolates the extreme loss
        net.loss(ids, rows, labels, top_k=2, detach_ext=detach, meta_scale=0.0).backward()
        return float(net.text.proj.weight.grad.abs().sum()) if net.text.proj.weight.grad is not None else 0.0

    assert encoder_grad(detach=True) == 0.0
    assert encoder_grad(detach=False) > 0.0
    net.zero_grad()
    net.loss(ids, rows, labels, top_k=2, detach_ext=True).backward()
    assert net.label_embedding.table.weight.grad.abs().sum() > 0, "the extreme head still trains during the warm-up"
    assert net.text.proj.weight.grad.abs().sum() > 0, "the meta loss still trains the encoder"


def test_inference_scores_only_the_shortlist(index):
    torch.manual_seed(0)
    net = ShortlistNet(_TinyText(), L, index, HeadSettings(kind="sync"), top_k=2, score="combined").eval()
    ids = torch.randint(0, 20, (3, 5))
    cand, logits, prob = net.shortlist(ids)
    assert cand.shape == logits.shape == prob.shape == (3, 2 * index.max_size)
    assert torch.all(logits[cand == L] == 0)
    torch.testing.assert_close(net(ids), (torch.sigmoid(logits) * prob).masked_fill(cand == L, 0.0))
    net.score = "ext"
    torch.testing.assert_close(net(ids), torch.sigmoid(logits).masked_fill(cand == L, 0.0))


def test_inference_product_in_row_chunks_equals_the_one_shot_product(index):
    torch.manual_seed(0)
    net = ShortlistNet(_TinyText(), L, index, HeadSettings(kind="sync"), top_k=3).eval()
    ids = torch.randint(0, 20, (7, 5))
    with torch.no_grad():
        whole = net(ids)
        net.label_embedding.chunk_bytes = 1  # one row at a time
        torch.testing.assert_close(net(ids), whole)


@pytest.mark.parametrize("name", ["syncxml", "lightxml"])
def test_both_scorings_are_predicted_and_the_reported_one_named(name, synthetic):
    from harness.models import model_registry
    from tests.models.synthetic import NUM_LABELS

    train, val, test = synthetic
    cls = model_registry.get(name)
    model = cls(**{**cls.tiny_config(), "epochs": 2})
    model.fit(train, val, ctx=FitContext(seed=0, num_labels=NUM_LABELS, device="cpu"))
    both = model.predict_split_scorings(test, 5)
    assert set(both) == {"ext", "combined"}
    reported = model.predict_topk(test.texts, 5)
    np.testing.assert_array_equal(reported.indices, both[model.config.score].indices)
    assert model.card().config["derived"]["reported_scoring"] == model.config.score
    # σ(ext)·σ(meta) ≤ σ(ext), and no padding label is ever returned
    assert np.all(both["combined"].scores <= both["ext"].scores.max(axis=1, keepdims=True) + 1e-6)
    assert np.all(both["ext"].indices < NUM_LABELS)
    val_keys = model.fit_summary["best_val"]
    assert {"ext/p@1", "combined/p@1", "p@1"} <= set(val_keys)


def test_graph_top_features_reaches_the_clustering_and_the_deviations(synthetic, tmp_path, monkeypatch):
    """At 670K labels the graph-augmented features must be cut (docs/clustering.md): the knob has to take effect."""
    from harness.clustering import ClusterConfig, build_label_clusters
    from harness.models import model_registry

    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    train, _, _ = synthetic
    cls = model_registry.get("syncxml")
    cut = cls(**{**cls.tiny_config(), "cluster_graph": True, "cluster_graph_top_features": 3})
    full = cls(**{**cls.tiny_config(), "cluster_graph": True})
    got = cut._clusters(train, train.Y.shape[1])
    want = build_label_clusters(
        train.Y.tocsr(),
        texts=list(train.texts),
        config=ClusterConfig(
            num_clusters=cut.config.num_clusters,
            max_leaf=cut.config.max_leaf,
            top_features=cut.config.cluster_top_features,
            graph=True,
            graph_top_features=3,
            seed=cut.config.cluster_seed,
        ),
        cache=False,
    )
    np.testing.assert_array_equal(got.label_cluster, want.label_cluster)
    assert np.any(got.label_cluster != full._clusters(train, train.Y.shape[1]).label_cluster)  # the cut matters here
    assert any("3 features kept per label" in d for d in cut.shortlist_deviations())
    assert not any("features kept per label" in d for d in full.shortlist_deviations())


@pytest.mark.parametrize("sparse", [False, True])
def test_training_scores_through_distinct_candidates_equal_the_gather(sparse):
    """Training scores the batch's distinct candidates with one GEMM; values and gradients must not change."""
    from inceptionxml.shortlist_net import LabelEmbedding

    torch.manual_seed(0)
    emb = LabelEmbedding(50, 8, sparse=sparse).train()
    query = torch.randn(6, 8, requires_grad=True)
    cand = torch.randint(0, 51, (6, 12))  # repeats across rows, and the dummy label 50
    fast = emb(query, cand)
    (fast * torch.arange(12.0)).sum().backward()
    grads = (query.grad.clone(), emb.table.weight.grad.to_dense().clone())
    query.grad, emb.table.weight.grad = None, None
    slow = candidate_logits(query, emb.table.weight, cand)
    (slow * torch.arange(12.0)).sum().backward()
    torch.testing.assert_close(fast, slow)
    torch.testing.assert_close(grads[0], query.grad)
    torch.testing.assert_close(grads[1], emb.table.weight.grad)


def test_shortlist_recall_is_recorded_and_reaches_one_when_every_cluster_is_shortlisted(synthetic):
    from harness.models import model_registry
    from tests.models.synthetic import NUM_LABELS

    train, val, test = synthetic
    cls = model_registry.get("lightxml")
    model = cls(**{**cls.tiny_config(), "epochs": 1})
    model.fit(train, val, ctx=FitContext(seed=0, num_labels=NUM_LABELS, device="cpu"))
    recall = model.fit_summary["best_val"]["shortlist_recall"]
    assert 0.0 < recall <= 1.0
    ids = model.encode(test.texts)
    assert model.shortlist_recall(ids, test.Y) <= 1.0
    model.net.top_k = model.net.index.num_clusters  # every cluster: every label is a candidate
    assert model.shortlist_recall(ids, test.Y) == pytest.approx(1.0)


def test_syncxml_counts_test_titles_only_when_transductive(synthetic):
    from harness.models import model_registry
    from tests.models.synthetic import NUM_LABELS

    train, val, _ = synthetic
    cls = model_registry.get("syncxml")
    ctx = FitContext(seed=0, num_labels=NUM_LABELS, device="cpu", unlabelled_texts=["zebraword"])
    for mode, expected in (("transductive", True), ("train", False)):
        model = cls(**{**cls.tiny_config(), "epochs": 1, "vocab_mode": mode})
        model.fit(train, val, ctx=ctx)
        assert ("zebraword" in model.vocab.stoi) is expected


def test_clusters_use_the_shipped_bow_only_when_asked_and_shipped(synthetic, tmp_path, monkeypatch):
    import scipy.sparse as sp

    from harness.data.dataset import SplitData
    from harness.errors import HarnessError
    from harness.models import model_registry

    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    train, _, _ = synthetic
    cls = model_registry.get("syncxml")
    rng = np.random.default_rng(0)
    bow = sp.csr_matrix(rng.random((len(train), 30)) * (rng.random((len(train), 30)) < 0.2))
    with_bow = SplitData(train.Y, train.texts, bow)
    asked = cls(**{**cls.tiny_config(), "cluster_features": "bow"})
    assert asked._clusters(with_bow, train.Y.shape[1]).info["features"]["source"] == "X"
    assert asked._clusters(train, train.Y.shape[1]).info["features"]["source"] == "tfidf"  # none shipped: titles
    default = cls(**cls.tiny_config())
    assert default._clusters(with_bow, train.Y.shape[1]).info["features"]["source"] == "tfidf"
    with pytest.raises(HarnessError, match="cluster_features"):
        cls(**{**cls.tiny_config(), "cluster_features": "words"})
