"""build_label_clusters: texts and BoW inputs, presets, and the on-disk cache (hit, miss, corruption)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import scipy.sparse as sp

from harness.clustering import ClusterConfig, build_label_clusters, split_content_hash
from harness.clustering.cache import cache_dir
from harness.clustering.tree import clusters_equal
from harness.errors import HarnessError
from harness.features import TfidfConfig

WORDS = [f"w{i}" for i in range(60)]


def toy_split(n: int = 240, L: int = 40, seed: int = 0) -> tuple[sp.csr_matrix, list[str]]:
    """Texts whose words depend on their labels' topic (label // 10), so the clusters have something to find."""
    rng = np.random.default_rng(seed)
    rows, cols, texts = [], [], []
    for i in range(n):
        topic = i % 4
        labels = rng.choice(np.arange(topic * 10, topic * 10 + 10), 2, replace=False)
        rows += [i, i]
        cols += labels.tolist()
        words = rng.choice(WORDS[topic * 15 : topic * 15 + 15], 5)
        texts.append(" ".join(words))
    Y = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n, L))
    return Y, texts


SMALL = ClusterConfig(max_leaf=10, tfidf=TfidfConfig(min_df=1))


def cache_files() -> list[str]:
    d = cache_dir()
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def test_texts_path_gives_balanced_topic_clusters() -> None:
    Y, texts = toy_split()
    c = build_label_clusters(Y, texts=texts, config=SMALL)
    c.validate()
    assert c.num_clusters == 4 and c.sizes.tolist() == [10, 10, 10, 10]
    # Each topic's 10 labels share words only among themselves: the clusters are the topics.
    assert sorted(np.unique(c.label_cluster.reshape(4, 10), axis=1).ravel().tolist()) == [0, 1, 2, 3]
    assert c.info["features"]["source"] == "tfidf" and c.info["features"]["vocabulary_size"] > 0
    assert c.info["config"] == SMALL.to_dict() and set(c.info["timings"]) >= {"tfidf_s", "pifa_s", "tree_s"}
    assert c.info["cache"]["hit"] is False


def test_second_call_hits_the_cache_with_identical_arrays() -> None:
    Y, texts = toy_split()
    first = build_label_clusters(Y, texts=texts, config=SMALL)
    assert len(cache_files()) == 1
    second = build_label_clusters(Y, texts=texts, config=SMALL)
    assert second.info["cache"]["hit"] is True and second.info["cache"]["key"] == first.info["cache"]["key"]
    assert second.info["cache"]["build_seconds"] == first.info["cache"]["build_seconds"]
    assert clusters_equal(first, second)
    assert not build_label_clusters(Y, texts=texts, config=SMALL, cache=False).info["cache"]["hit"]


def test_changed_config_or_labels_or_texts_miss() -> None:
    Y, texts = toy_split()
    build_label_clusters(Y, texts=texts, config=SMALL)
    other_seed = ClusterConfig(max_leaf=10, tfidf=TfidfConfig(min_df=1), seed=1)
    assert not build_label_clusters(Y, texts=texts, config=other_seed).info["cache"]["hit"]
    Y2 = Y.tolil()
    Y2[0, 39] = 1
    assert not build_label_clusters(Y2.tocsr(), texts=texts, config=SMALL).info["cache"]["hit"]
    assert not build_label_clusters(Y, texts=[t + " x" for t in texts], config=SMALL).info["cache"]["hit"]
    assert len(cache_files()) == 4


def test_a_corrupt_cache_file_is_rebuilt(caplog: pytest.LogCaptureFixture) -> None:
    Y, texts = toy_split()
    first = build_label_clusters(Y, texts=texts, config=SMALL)
    (path,) = cache_dir().iterdir()
    path.write_bytes(b"not a zip file")
    with caplog.at_level(logging.WARNING, logger="harness.clustering.cache"):
        again = build_label_clusters(Y, texts=texts, config=SMALL)
    assert "rebuilding" in caplog.text
    assert again.info["cache"]["hit"] is False and clusters_equal(first, again)
    assert build_label_clusters(Y, texts=texts, config=SMALL).info["cache"]["hit"] is True


def test_bow_features_and_the_syncxml_preset() -> None:
    Y, _ = toy_split()
    rng = np.random.default_rng(1)
    X = sp.random(Y.shape[0], 80, density=0.1, random_state=rng, format="csr")
    cfg = ClusterConfig.syncxml(num_clusters=8, walk_len=50, verbose_labels=30)
    c = build_label_clusters(Y, X=X, config=cfg)
    c.validate()
    assert c.num_clusters == 8 and c.info["features"]["source"] == "X" and "graph_s" in c.info["timings"]
    assert "tfidf" not in c.info["config"]
    # With X, the TF-IDF settings are irrelevant and do not change the cache key.
    cfg2 = ClusterConfig.syncxml(num_clusters=8, walk_len=50, verbose_labels=30, tfidf=TfidfConfig(min_df=5))
    assert build_label_clusters(Y, X=X, config=cfg2).info["cache"]["hit"] is True


def test_presets_and_config_validation() -> None:
    light = ClusterConfig.lightxml()
    assert (light.max_leaf, light.num_clusters, light.graph, light.top_features) == (100, None, False, None)
    s = ClusterConfig.syncxml()
    assert (s.num_clusters, s.max_leaf, s.graph, s.walk_len, s.p_reset, s.graph_topk, s.verbose_labels) == (
        65536,
        None,
        True,
        400,
        0.8,
        10,
        500,
    )
    assert ClusterConfig(**{**ClusterConfig().to_dict(), "seed": 2}).seed == 2  # a dict round trip
    with pytest.raises(HarnessError):
        ClusterConfig(num_clusters=8)  # max_leaf is 100 by default: both set


def test_bad_inputs() -> None:
    Y, texts = toy_split()
    with pytest.raises(HarnessError, match="exactly one"):
        build_label_clusters(Y, config=SMALL)
    with pytest.raises(HarnessError, match="exactly one"):
        build_label_clusters(Y, texts=texts, X=sp.csr_matrix((Y.shape[0], 3)), config=SMALL)
    with pytest.raises(HarnessError, match="rows"):
        build_label_clusters(Y, texts=texts[:-1], config=SMALL)


def test_content_hash_ignores_dtypes_and_storage_order() -> None:
    Y, texts = toy_split()
    same = sp.csr_matrix(Y.toarray().astype(np.int64) * 3)
    assert split_content_hash(Y, texts=texts) == split_content_hash(same, texts=texts)
    assert split_content_hash(Y, texts=texts) != split_content_hash(Y, texts=texts[::-1])
    assert split_content_hash(Y, texts=["ab", "c"] * 120) != split_content_hash(Y, texts=["a", "bc"] * 120)
