"""On-disk cache of label clusters, keyed by the training split's content and the clustering config.

Clustering 1M labels takes a minute or two and every seed of SyncXML/LightXML on the same dataset needs the same
clusters, so they are built once per (training split, config) and stored under
``$HARNESS_HOME/cache/clusters/<key>.npz``. The key hashes the *content* of the training labels and inputs rather
than dataset names, so a changed split, a changed validation carve-out or a changed file can never be served
stale clusters, and no caller has to pass a name.

Usage::

    from harness.clustering.cache import cache_key, split_content_hash, load_cached, store
    h = split_content_hash(Y_train, texts=train_texts)
    key = cache_key(h, config.to_dict())
    clusters = load_cached(key)          # None on a miss or an unreadable file (logged, then rebuilt)
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from harness.clustering.pifa import binary_csr
from harness.clustering.tree import LabelClusters
from harness.errors import HarnessError
from harness.features.tfidf import TFIDF_VERSION, feature_library_versions, texts_sha256

log = logging.getLogger(__name__)

#: Bumped whenever a change to the features, the graph or the tree would give different clusters for the same
#: inputs and config, so that old cache entries stop matching.
CLUSTERING_VERSION = "1"


def _update(h: hashlib._Hash, name: str, arr: np.ndarray, dtype: str) -> None:
    # A fixed dtype and byte order make the digest independent of the platform and of the caller's dtypes.
    a = np.ascontiguousarray(arr, dtype=dtype)
    h.update(f"{name}:{a.shape}:{dtype};".encode())
    h.update(a.tobytes())


def split_content_hash(Y: sp.spmatrix, *, texts: Sequence[str] | None = None, X: sp.spmatrix | None = None) -> str:
    """sha256 identifying a training split by content: its label structure plus its texts or its features."""
    Yb = binary_csr(Y)
    h = hashlib.sha256()
    h.update(f"Y{Yb.shape}".encode())
    _update(h, "Y.indptr", Yb.indptr, "<i8")
    _update(h, "Y.indices", Yb.indices, "<i8")
    if texts is not None:
        h.update(f"texts:{texts_sha256(texts)};".encode())
    if X is not None:
        Xc = sp.csr_matrix(X)
        Xc.sum_duplicates()
        Xc.sort_indices()
        h.update(f"X{Xc.shape}".encode())
        _update(h, "X.indptr", Xc.indptr, "<i8")
        _update(h, "X.indices", Xc.indices, "<i8")
        _update(h, "X.data", Xc.data, "<f8")
    return h.hexdigest()


def cache_key(content_hash: str, config: dict) -> str:
    """The entry name: sha256 over the split's content hash, the config dict, :data:`CLUSTERING_VERSION`,
    :data:`~harness.features.tfidf.TFIDF_VERSION` (the features clustered from texts) and the numpy, scipy and
    scikit-learn versions (:func:`~harness.features.tfidf.feature_library_versions`). Clusters are cached across
    runs and environments, so everything that can change their bits for the same inputs must be in the name.
    """
    payload = json.dumps(
        {
            "split": content_hash,
            "config": config,
            "version": CLUSTERING_VERSION,
            "tfidf_version": TFIDF_VERSION,
            "libraries": feature_library_versions(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def cache_dir() -> Path:
    """``$HARNESS_HOME/cache/clusters``."""
    from harness.paths import harness_home

    return harness_home() / "cache" / "clusters"


def cache_path(key: str) -> Path:
    """The cache file of entry ``key``."""
    return cache_dir() / f"{key}.npz"


def load_cached(key: str, n_labels: int | None = None) -> LabelClusters | None:
    """The cached clusters of ``key``, or ``None`` on a miss; an unreadable or inconsistent file is logged and
    removed, so the caller rebuilds it instead of crashing (a crash mid-write cannot cause it: writes are atomic,
    but a full disk, a copied-in file or a harness bug can).
    """
    path = cache_path(key)
    if not path.is_file():
        return None
    try:
        clusters = LabelClusters.load(path)
        if n_labels is not None and clusters.num_labels != n_labels:
            raise HarnessError(f"holds {clusters.num_labels} labels, expected {n_labels}")
    except HarnessError as exc:
        log.warning("unreadable label-cluster cache file %s (%s); rebuilding it", path, exc)
        path.unlink(missing_ok=True)
        return None
    return clusters


def store(key: str, clusters: LabelClusters) -> Path:
    """Write ``clusters`` under ``key`` (atomically, see :meth:`LabelClusters.save`)."""
    path = cache_path(key)
    clusters.save(path)
    return path
