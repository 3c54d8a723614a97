"""Label clustering shared by SyncXML and LightXML: PIFA label features, the optional ECLARE label graph and the
balanced hierarchical spherical 2-means tree, behind one cached entry point.

Usage::

    from harness.clustering import ClusterConfig, build_label_clusters
    clusters = build_label_clusters(ds.train.Y, texts=ds.train.texts, config=ClusterConfig.lightxml(seed=0))
    clusters.label_cluster     # int64 [L]: cluster of each label
    clusters.members           # int64 [C, M]: labels of each cluster, padded with L

docs/clustering.md describes the method, its cost and where it deviates from the reference code.
"""

from __future__ import annotations

from harness.clustering.build import ClusterConfig, build_label_clusters
from harness.clustering.cache import CLUSTERING_VERSION, split_content_hash
from harness.clustering.graph import augment_features, label_graph, normalize_graph
from harness.clustering.pifa import label_features, top_per_row
from harness.clustering.tree import LabelClusters, balanced_tree, num_levels

__all__ = [
    "CLUSTERING_VERSION",
    "ClusterConfig",
    "LabelClusters",
    "augment_features",
    "balanced_tree",
    "build_label_clusters",
    "label_features",
    "label_graph",
    "normalize_graph",
    "num_levels",
    "split_content_hash",
    "top_per_row",
]
