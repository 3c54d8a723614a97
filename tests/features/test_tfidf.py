"""TF-IDF: vocabulary from train only, bigrams, sklearn-equal weighting, a pickle-free round trip, and the cache."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from harness.errors import HarnessError
from harness.features import TfidfConfig, TfidfFeaturizer, tfidf_train_features
from harness.features.tfidf import tfidf_cache_dir

TRAIN = [
    "Red running shoes for men",
    "blue running shoes",
    "Hard drive 2 TB external",
    "external hard drive case",
    "men's red T shirt",
]
ONE = TfidfConfig(min_df=1)


def test_vocabulary_comes_from_train_only_and_has_bigrams() -> None:
    feat = TfidfFeaturizer.fit(TRAIN, ONE)
    vocab = set(feat.terms)
    assert {"running shoes", "hard drive", "red"} <= vocab
    assert "2" in vocab and "t" in vocab  # single-character tokens are kept on purpose
    X = feat.transform(["red kayak paddle", "kayak"])
    assert X.shape == (2, feat.vocabulary_size)
    # Only "red" of the first text is known; the second text has no known term at all: an empty row.
    assert X[0].nnz == 1 and X[0, feat.terms.index("red")] == pytest.approx(1.0)
    assert X[1].nnz == 0


def test_min_df_drops_terms_of_a_single_text() -> None:
    feat = TfidfFeaturizer.fit(TRAIN, TfidfConfig(min_df=2))
    assert "running shoes" in feat.terms and "hard drive" in feat.terms
    assert "blue" not in feat.terms and "case" not in feat.terms


def test_weights_match_scikit_learn_and_rows_are_unit_norm() -> None:
    feat, X = tfidf_train_features(TRAIN, ONE, cache=False)
    ref = TfidfVectorizer(token_pattern=ONE.token_pattern, ngram_range=(1, 2), sublinear_tf=True, dtype=np.float32)
    R = ref.fit_transform(TRAIN)
    assert ref.get_feature_names_out().tolist() == feat.terms
    assert X.dtype == np.float32 and X.has_sorted_indices
    np.testing.assert_allclose(X.toarray(), R.toarray(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel()), 1.0, rtol=1e-6)
    # The train matrix returned by fit equals transform() of the same texts.
    assert abs(feat.transform(TRAIN) - X).max() == 0


def test_save_load_round_trip_without_pickle(tmp_path) -> None:
    feat = TfidfFeaturizer.fit(TRAIN + ["ünïcode wörds ok"], ONE)
    feat.save(tmp_path / "tfidf")
    files = sorted(p.name for p in (tmp_path / "tfidf").iterdir())
    assert files == ["idf.npy", "tfidf.json", "vocabulary.json"]
    assert json.loads((tmp_path / "tfidf" / "vocabulary.json").read_text(encoding="utf-8")) == feat.terms
    np.load(tmp_path / "tfidf" / "idf.npy", allow_pickle=False)  # a plain array, readable without pickle
    back = TfidfFeaturizer.load(tmp_path / "tfidf")
    assert back.terms == feat.terms and back.config == feat.config and back.summary() == feat.summary()
    test = ["red shoes", "ünïcode wörds", "nothing known here"]
    assert abs(back.transform(test) - feat.transform(test)).max() == 0


def test_load_rejects_a_mismatched_folder(tmp_path) -> None:
    TfidfFeaturizer.fit(TRAIN, ONE).save(tmp_path)
    (tmp_path / "vocabulary.json").write_text('["only one"]', encoding="utf-8")
    with pytest.raises(HarnessError, match="do not match"):
        TfidfFeaturizer.load(tmp_path)


def test_config_round_trip_and_validation() -> None:
    cfg = TfidfConfig(ngram_range=(1, 1), min_df=3)
    assert TfidfConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(HarnessError):
        TfidfConfig(ngram_range=(2, 1))
    with pytest.raises(HarnessError):
        TfidfConfig(min_df=0)
    with pytest.raises(HarnessError, match="cannot fit"):
        TfidfFeaturizer.fit(["", "  "], ONE)


def test_train_features_are_cached_and_a_broken_entry_is_rebuilt(caplog: pytest.LogCaptureFixture) -> None:
    feat, X = tfidf_train_features(TRAIN, ONE)
    entries = list(tfidf_cache_dir().iterdir())
    assert len(entries) == 1 and not entries[0].name.startswith(".")
    again, X2 = tfidf_train_features(TRAIN, ONE)
    assert again.terms == feat.terms and abs(X2 - X).max() == 0 and isinstance(X2, sp.csr_matrix)
    tfidf_train_features(TRAIN, TfidfConfig(min_df=2))  # another config: another entry
    assert len(list(tfidf_cache_dir().iterdir())) == 2
    (entries[0] / "idf.npy").write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING, logger="harness.features.tfidf"):
        rebuilt, X3 = tfidf_train_features(TRAIN, ONE)
    assert "rebuilding" in caplog.text
    assert rebuilt.terms == feat.terms and abs(X3 - X).max() == 0
    TfidfFeaturizer.load(entries[0])  # the entry was written again, whole
