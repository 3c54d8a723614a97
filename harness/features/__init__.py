"""Input features computed by the harness itself (rather than shipped with a dataset).

Usage::

    from harness.features import TfidfConfig, TfidfFeaturizer, tfidf_train_features
    feat, X_train = tfidf_train_features(ds.train.texts, TfidfConfig())
    X_test = feat.transform(ds.test.texts)

See :mod:`harness.features.tfidf` for the weighting and the on-disk format.
"""

from __future__ import annotations

from harness.features.tfidf import (
    TFIDF_VERSION,
    TfidfConfig,
    TfidfFeaturizer,
    l2_normalize_rows,
    texts_sha256,
    tfidf_train_features,
)

__all__ = [
    "TFIDF_VERSION",
    "TfidfConfig",
    "TfidfFeaturizer",
    "l2_normalize_rows",
    "texts_sha256",
    "tfidf_train_features",
]
