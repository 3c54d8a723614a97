"""One entry point from a training split to label clusters: features, optional graph, tree, cache.

Usage::

    from harness.clustering import ClusterConfig, build_label_clusters
    clusters = build_label_clusters(ds.train.Y, texts=ds.train.texts, config=ClusterConfig.lightxml())
    clusters = build_label_clusters(Y, X=ds.train.X, config=ClusterConfig.syncxml(num_clusters=2**16))
    clusters.info["cache"]["hit"]       # True when read from $HARNESS_HOME/cache/clusters

The steps are methods.md §2.1 (SyncXML, ECLARE-style) and §3.2 (LightXML); docs/clustering.md has the details and
the deviations.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from harness.clustering.cache import CLUSTERING_VERSION, cache_key, load_cached, split_content_hash, store
from harness.clustering.graph import augment_features, label_graph
from harness.clustering.pifa import label_features
from harness.clustering.tree import LabelClusters, balanced_tree, tree_with_verbose_set
from harness.errors import HarnessError
from harness.features.tfidf import TfidfConfig, tfidf_train_features

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClusterConfig:
    """How labels are clustered. Defaults are LightXML's (§3.2); :meth:`syncxml` gives SyncXML's (§2.1).

    Attributes:
        num_clusters: a power of two (SyncXML: 2^b with b = log2(NUM_CLUSTERS[dataset]), e.g. 65,536 for
            AmazonTitles-670K). Exactly one of this and ``max_leaf``.
        max_leaf: split until every cluster has at most this many labels (LightXML: 100, giving 8,192 clusters
            of 81-82 labels on Amazon-670K).
        top_features: features kept per label row of PIFA and of the augmented features (1000 in
            ECLARE/SyncXML; ``None`` keeps all, as LightXML does; the cap only touches labels with many points).
        graph: augment PIFA with the random-walk label graph (SyncXML/ECLARE "AugParabel": True; LightXML: False).
        walk_len: hops per label of the walk (400).
        p_reset: restart probability of each hop (0.8).
        graph_topk: neighbours kept per label (10), plus a forced self-loop.
        verbose_labels: labels on more training points than this (500) take no part in the walk.
        verbose_set: keep those verbose labels apart in the tree as ECLARE does (one set that joins the clusters
            once they are smaller than it, then is split with them; see ``tree_with_verbose_set``).
            Off by default (LightXML and the CPU suites); SyncXML's paper profile turns it on.
        graph_top_features: features kept per label after the augmentation; ``None`` = ``top_features`` (the
            paper's 1000). Augmented rows are dense (each mixes ~10 neighbours, often frequent labels with
            1000 features each), and the tree's time and memory grow with their total size: lowering this is the
            lever when SyncXML's clustering does not fit (docs/clustering.md has measured sizes).
        tfidf: the TF-IDF used when clustering from texts (ignored, and left out of the cache key, with ``X``).
        seed: initial centroids (and walks); LightXML's three-model ensemble uses three seeds.
        tol: per-node stopping tolerance on the mean within-half cosine similarity (1e-4 in both references).
        max_iter: cap on 2-means rounds per level (the references have none; 20 is never reached on real data
            at tol 1e-4 except by a handful of nodes, which then keep their last balanced cut).
    """

    num_clusters: int | None = None
    max_leaf: int | None = 100
    top_features: int | None = 1000
    graph: bool = False
    walk_len: int = 400
    p_reset: float = 0.8
    graph_topk: int = 10
    verbose_labels: int = 500
    verbose_set: bool = False
    graph_top_features: int | None = None
    tfidf: TfidfConfig = field(default_factory=TfidfConfig)
    seed: int = 0
    tol: float = 1e-4
    max_iter: int = 20

    def __post_init__(self) -> None:
        if (self.num_clusters is None) == (self.max_leaf is None):
            raise HarnessError("ClusterConfig needs exactly one of num_clusters and max_leaf")
        if isinstance(self.tfidf, dict):  # from JSON/YAML
            object.__setattr__(self, "tfidf", TfidfConfig.from_dict(self.tfidf))

    @classmethod
    def lightxml(cls, **overrides: Any) -> ClusterConfig:
        """LightXML (§3.2): plain PIFA (all features), no graph, leaves of at most 100 labels."""
        return cls(**{"max_leaf": 100, "num_clusters": None, "graph": False, "top_features": None, **overrides})

    @classmethod
    def syncxml(cls, num_clusters: int = 2**16, **overrides: Any) -> ClusterConfig:
        """SyncXML (§2.1): graph-augmented PIFA (top-1000 features), ``num_clusters`` = 2^b clusters."""
        return cls(**{"num_clusters": num_clusters, "max_leaf": None, "graph": True, "top_features": 1000, **overrides})

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["tfidf"] = self.tfidf.to_dict()
        return out


def build_label_clusters(
    Y: sp.spmatrix,
    *,
    texts: Sequence[str] | None = None,
    X: sp.spmatrix | None = None,
    config: ClusterConfig,
    cache: bool = True,
) -> LabelClusters:
    """Cluster the labels of a training split, reading and filling the cache.

    Args:
        Y: (n, L) training labels (the split the model trains on: fit part only when a validation set is carved).
        texts: the n training texts; TF-IDF features are computed from them (``config.tfidf``).
        X: alternatively, the n × f features a BoW dataset ships. Exactly one of ``texts`` and ``X``.
        config: see :class:`ClusterConfig`.
        cache: look up and store ``$HARNESS_HOME/cache/clusters/<key>.npz``.

    Returns:
        :class:`LabelClusters` whose ``info`` records the config, the features, per-step seconds and
        ``info["cache"] = {"hit", "key", "build_seconds"}``.
    """
    if (texts is None) == (X is None):
        raise HarnessError("build_label_clusters needs exactly one of texts and X")
    n = len(texts) if texts is not None else X.shape[0]  # type: ignore[union-attr]
    if n != Y.shape[0]:
        raise HarnessError(f"Y has {Y.shape[0]} rows but there are {n} training inputs")
    cfg = config.to_dict()
    if X is not None:
        cfg.pop("tfidf")  # irrelevant to BoW features: changing it must not miss the cache
    t0 = time.perf_counter()
    key = None
    if cache:
        key = cache_key(split_content_hash(Y, texts=texts, X=X), cfg)
        hit = load_cached(key, n_labels=Y.shape[1])
        if hit is not None:
            built_in = hit.info.get("cache", {}).get("build_seconds")
            hit.info["cache"] = {"hit": True, "key": key, "build_seconds": built_in}
            hit.info["load_seconds"] = round(time.perf_counter() - t0, 4)
            log.info("label clusters from cache (%s)", key)
            return hit

    timings: dict[str, float] = {}
    t = time.perf_counter()
    if texts is not None:
        featurizer, feats = tfidf_train_features(texts, config.tfidf, cache=cache)
        feature_info: dict[str, Any] = {"source": "tfidf", **featurizer.summary()}
        timings["tfidf_s"] = round(time.perf_counter() - t, 4)
    else:
        feats = sp.csr_matrix(X)
        feature_info = {"source": "X", "shape": list(feats.shape), "nnz": int(feats.nnz)}
    t = time.perf_counter()
    Z = label_features(feats, Y, config.top_features)
    timings["pifa_s"] = round(time.perf_counter() - t, 4)
    if config.graph:
        t = time.perf_counter()
        G = label_graph(Y, config.walk_len, config.p_reset, config.graph_topk, config.verbose_labels, config.seed)
        keep = config.graph_top_features if config.graph_top_features is not None else config.top_features
        Z = augment_features(Z, G, keep)
        timings["graph_s"] = round(time.perf_counter() - t, 4)
        feature_info["graph_nnz"] = int(G.nnz)
    feature_info["label_features_nnz"] = int(Z.nnz)
    tree = dict(num_clusters=config.num_clusters, max_leaf=config.max_leaf, seed=config.seed, tol=config.tol)
    if config.verbose_set:
        verbose = np.asarray((Y != 0).sum(axis=0)).ravel() > config.verbose_labels
        clusters = tree_with_verbose_set(Z, verbose, **tree, max_iter=config.max_iter)
    else:
        clusters = balanced_tree(Z, **tree, max_iter=config.max_iter)
    timings["tree_s"] = clusters.info["seconds"]
    build_s = round(time.perf_counter() - t0, 4)
    clusters.info.update(
        config=cfg,
        features=feature_info,
        timings=timings,
        clustering_version=CLUSTERING_VERSION,
        cache={"hit": False, "key": key, "build_seconds": build_s},
    )
    if cache and key is not None:
        store(key, clusters)
    log.info("clustered %d labels into %d clusters in %.1fs", Y.shape[1], clusters.num_clusters, build_s)
    return clusters
