"""Word uni+bigram TF-IDF features fitted on the training texts, saved without pickle.

Label clustering (PIFA, docs/clustering.md) needs a bag-of-words view of each training text, and the sparse
peers (omikuji, napkinXC, PECOS) need the same view of the *test* texts, so the featurizer is a small object
that can be fitted once, saved and reloaded: the vocabulary as a JSON list (term ``i`` is column ``i``), the
idf vector as ``.npy`` (read with ``allow_pickle=False``) and the config as JSON. Nothing is pickled, so a
saved featurizer can be inspected, diffed and loaded by any numpy version.

Usage::

    from harness.features import TfidfConfig, TfidfFeaturizer, tfidf_train_features
    feat = TfidfFeaturizer.fit(ds.train.texts, TfidfConfig())
    X_test = feat.transform(ds.test.texts)      # csr float32, rows L2-normalised, sorted indices
    feat.save(out_dir); TfidfFeaturizer.load(out_dir)
    feat, X_train = tfidf_train_features(ds.train.texts, TfidfConfig())   # cached under $HARNESS_HOME

The weighting is scikit-learn's smooth TF-IDF: ``tf = 1 + ln(count)`` (sublinear), ``idf = ln((1+n)/(1+df)) + 1``
over the ``n`` training texts, each row L2-normalised. Counting and tokenising are scikit-learn's
``CountVectorizer`` (one pass, ~0.7 s to fit on 50k short titles); the weighting is done here, so the saved state is
only the vocabulary and ``idf``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from harness.errors import HarnessError

if TYPE_CHECKING:
    from sklearn.feature_extraction.text import CountVectorizer

log = logging.getLogger(__name__)

#: Bumped whenever the tokenisation or weighting changes, so cached train matrices are not reused.
#: "2": weights computed in float64 and rounded once (the same bits at every numpy SIMD level; see ``_weight``).
TFIDF_VERSION = "2"

_VOCAB = "vocabulary.json"
_IDF = "idf.npy"
_CONFIG = "tfidf.json"


@dataclass(frozen=True)
class TfidfConfig:
    """How texts become TF-IDF rows.

    Attributes:
        lowercase: lower-case before tokenising (titles are inconsistently cased).
        token_pattern: a token is a maximal run of word characters, *including single characters*: in product
            titles single letters and digits ("iPhone 6", "Vitamin C", "size 9") carry meaning, which
            scikit-learn's default pattern (two or more characters) would drop.
        ngram_range: word unigrams and bigrams; bigrams keep short phrases ("hard drive") that unigrams split.
        min_df: a term must occur in at least this many training texts. 2 by default: a term seen in one text
            cannot generalise to a test text, and such terms (mostly bigrams) are most of the vocabulary: 85% of
            the 136k terms of the embedded wordnet-nouns train texts. Use 1 for tiny corpora.
        max_features: keep only the most frequent terms (``None``: all that pass ``min_df``).
        sublinear_tf: ``1 + ln(count)`` instead of the raw count (a repeated word in a title is weak evidence).
        dtype: dtype of the produced matrices.
    """

    lowercase: bool = True
    token_pattern: str = r"(?u)\b\w+\b"
    ngram_range: tuple[int, int] = (1, 2)
    min_df: int = 2
    max_features: int | None = None
    sublinear_tf: bool = True
    dtype: str = "float32"

    def __post_init__(self) -> None:
        lo, hi = self.ngram_range
        if not 1 <= lo <= hi:
            raise HarnessError(f"ngram_range must satisfy 1 <= min <= max, got {self.ngram_range}")
        if self.min_df < 1:
            raise HarnessError(f"min_df must be >= 1, got {self.min_df}")
        if self.max_features is not None and self.max_features < 1:
            raise HarnessError(f"max_features must be >= 1 or None, got {self.max_features}")
        if self.dtype not in ("float32", "float64"):
            raise HarnessError(f"dtype must be float32 or float64, got {self.dtype!r}")
        # JSON round trips give a list; keep the field hashable and comparable.
        object.__setattr__(self, "ngram_range", (int(lo), int(hi)))

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["ngram_range"] = list(self.ngram_range)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> TfidfConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise HarnessError(f"unknown TfidfConfig field(s): {sorted(unknown)}")
        return cls(**{k: tuple(v) if k == "ngram_range" else v for k, v in data.items()})


def _counter(config: TfidfConfig, vocabulary: dict[str, int] | None = None) -> CountVectorizer:
    # Imported here: scikit-learn takes ~1 s to import, and the clustering modules that share this package
    # (l2_normalize_rows) should not pay for it when they are given features.
    from sklearn.feature_extraction.text import CountVectorizer

    return CountVectorizer(
        lowercase=config.lowercase,
        token_pattern=config.token_pattern,
        ngram_range=config.ngram_range,
        min_df=config.min_df if vocabulary is None else 1,
        max_features=config.max_features if vocabulary is None else None,
        vocabulary=vocabulary,
        dtype=np.dtype(config.dtype),
    )


def l2_normalize_rows(X: sp.csr_matrix) -> sp.csr_matrix:
    """A copy of ``X`` (csr) with rows scaled to unit L2 norm; all-zero rows stay zero."""
    X = sp.csr_matrix(X, copy=True)
    sq = np.bincount(
        np.repeat(np.arange(X.shape[0]), np.diff(X.indptr)),
        weights=np.square(X.data, dtype=np.float64),
        minlength=X.shape[0],
    )
    norms = np.sqrt(sq)
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    X.data *= np.repeat(scale, np.diff(X.indptr)).astype(X.dtype, copy=False)
    return X


class TfidfFeaturizer:
    """A fitted vocabulary and idf vector; :meth:`transform` maps any texts to TF-IDF rows.

    Build with :meth:`fit` or :meth:`load`, not the constructor.
    """

    def __init__(self, terms: list[str], idf: np.ndarray, config: TfidfConfig, n_docs: int) -> None:
        if len(terms) != idf.shape[0]:
            raise HarnessError(f"vocabulary has {len(terms)} terms but idf has {idf.shape[0]} values")
        self.terms = terms
        self.idf = np.asarray(idf, dtype=np.float64)
        self.config = config
        self.n_docs = int(n_docs)
        self._vectorizer: CountVectorizer | None = None

    @property
    def vocabulary_size(self) -> int:
        return len(self.terms)

    @classmethod
    def fit(cls, texts: Sequence[str], config: TfidfConfig | None = None) -> TfidfFeaturizer:
        """Fit the vocabulary and idf on ``texts`` (the training split only: the test split must not leak in)."""
        return cls._fit(texts, config or TfidfConfig())[0]

    @classmethod
    def _fit(cls, texts: Sequence[str], config: TfidfConfig) -> tuple[TfidfFeaturizer, sp.csr_matrix]:
        # One counting pass gives both the vocabulary and the train matrix; fit-then-transform would tokenise twice.
        vec = _counter(config)
        try:
            counts = vec.fit_transform(texts)
        except ValueError as exc:  # "empty vocabulary" / "After pruning, no terms remain"
            raise HarnessError(f"cannot fit TF-IDF on {len(texts)} text(s): {exc}") from exc
        counts = sp.csr_matrix(counts)
        vocab = vec.vocabulary_
        terms = [""] * len(vocab)
        for term, j in vocab.items():
            terms[j] = term
        df = np.bincount(counts.indices, minlength=len(terms))
        n = counts.shape[0]
        idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
        feat = cls(terms, idf, config, n)
        feat._vectorizer = vec
        return feat, feat._weight(counts)

    def _weight(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        """Sublinear tf × idf, rows L2-normalised: computed in float64 and rounded to ``config.dtype`` once.

        numpy picks its ``log`` at run time by CPU level (float32 log differs between AVX2 and older CPUs, float64
        log between AVX-512 and AVX2), and those implementations differ in the last bit. Done in float32, the
        features, and hence the label clusters of SyncXML/LightXML and the sparse peers' inputs, depended on the
        CPU the cache was built on. A last-bit float64 difference almost never survives the rounding to float32:
        on 10^6 random (count, df) pairs the float32 weights were bit-identical with numpy's AVX-512, AVX2 and
        baseline loops (``NPY_DISABLE_CPU_FEATURES``), where the float32 path differed (docs/reproducibility.md).
        """
        X = sp.csr_matrix(counts, dtype=np.float64, copy=True)
        X.sum_duplicates()
        X.sort_indices()
        if self.config.sublinear_tf:
            np.log(X.data, out=X.data)
            X.data += 1
        X.data *= self.idf[X.indices]
        return l2_normalize_rows(X).astype(np.dtype(self.config.dtype))

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """TF-IDF rows of ``texts`` over the training vocabulary (unseen terms ignored): csr, sorted indices."""
        if self._vectorizer is None:
            self._vectorizer = _counter(self.config, {t: j for j, t in enumerate(self.terms)})
        return self._weight(self._vectorizer.transform(texts))

    def summary(self) -> dict:
        """Config, vocabulary size and number of training texts, for model cards and result records."""
        return {"tfidf": self.config.to_dict(), "vocabulary_size": self.vocabulary_size, "n_train_texts": self.n_docs}

    def save(self, directory: str | Path) -> None:
        """Write ``vocabulary.json``, ``idf.npy`` and ``tfidf.json`` into ``directory`` (created if needed)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / _VOCAB).write_text(json.dumps(self.terms, ensure_ascii=False), encoding="utf-8")
        np.save(directory / _IDF, self.idf, allow_pickle=False)
        meta = {"config": self.config.to_dict(), "n_docs": self.n_docs, "version": TFIDF_VERSION}
        (directory / _CONFIG).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path) -> TfidfFeaturizer:
        """Read a featurizer written by :meth:`save` (no pickle anywhere)."""
        directory = Path(directory)
        try:
            meta = json.loads((directory / _CONFIG).read_text(encoding="utf-8"))
            terms = json.loads((directory / _VOCAB).read_text(encoding="utf-8"))
            idf = np.load(directory / _IDF, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise HarnessError(f"cannot read a TF-IDF featurizer from {directory}: {exc}") from exc
        if meta.get("version") != TFIDF_VERSION:
            raise HarnessError(
                f"{directory} holds TF-IDF version {meta.get('version')!r}; this harness writes {TFIDF_VERSION!r}"
            )
        if not isinstance(terms, list) or idf.ndim != 1 or len(terms) != idf.shape[0]:
            raise HarnessError(f"{directory}: vocabulary and idf do not match")
        return cls(terms, idf, TfidfConfig.from_dict(meta["config"]), meta["n_docs"])


def texts_sha256(texts: Sequence[str]) -> str:
    """Content hash of a list of texts (lengths and characters, so the split into texts is part of it)."""
    h = hashlib.sha256()
    lengths = np.fromiter((len(t) for t in texts), dtype="<i8", count=len(texts))
    h.update(lengths.tobytes())
    h.update("".join(texts).encode("utf-8", "surrogatepass"))
    return h.hexdigest()


@functools.cache
def feature_library_versions() -> dict[str, str]:
    """Versions of the libraries that tokenise (scikit-learn) and compute (numpy, scipy) the cached arrays.

    Part of the TF-IDF and label-cluster cache keys: a ``$HARNESS_HOME`` shared by two environments (the PECOS tox
    environment pins numpy<2 and scipy<1.14) must not hand one environment's matrices to the other, or a model's
    numbers would depend on which environment happened to fill the cache first.
    """
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("numpy", "scipy", "scikit-learn"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "absent"
    return out


def tfidf_cache_dir() -> Path:
    """``$HARNESS_HOME/cache/tfidf``: one sub-folder per (train texts, config)."""
    from harness.paths import harness_home

    return harness_home() / "cache" / "tfidf"


def tfidf_train_features(
    texts: Sequence[str], config: TfidfConfig | None = None, *, cache: bool = True
) -> tuple[TfidfFeaturizer, sp.csr_matrix]:
    """Fit on the training ``texts`` and return the featurizer with the train matrix, cached on disk.

    The cache entry (featurizer files plus ``train.npz``) is keyed by the texts' content hash, the config and
    :data:`TFIDF_VERSION`; it is written into a temporary folder and renamed into place, so an interrupted run
    never leaves a half entry, and an unreadable entry is logged and rebuilt.
    """
    config = config or TfidfConfig()
    if not cache:
        return TfidfFeaturizer._fit(texts, config)
    payload = json.dumps(
        {
            "texts": texts_sha256(texts),
            "config": config.to_dict(),
            "version": TFIDF_VERSION,
            "libraries": feature_library_versions(),
        }
    )
    key = hashlib.sha256(payload.encode()).hexdigest()[:32]
    root = tfidf_cache_dir()
    entry = root / key
    if entry.is_dir():
        try:
            feat = TfidfFeaturizer.load(entry)
            X = sp.load_npz(entry / "train.npz").tocsr()
            if X.shape != (len(texts), feat.vocabulary_size):
                raise HarnessError(f"cached matrix has shape {X.shape}")
            log.info("TF-IDF features from cache %s", entry)
            return feat, X
        except (HarnessError, OSError, ValueError, KeyError) as exc:
            log.warning("unreadable TF-IDF cache entry %s (%s); rebuilding it", entry, exc)
            shutil.rmtree(entry, ignore_errors=True)
    t0 = time.perf_counter()
    feat, X = TfidfFeaturizer._fit(texts, config)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{key}.", suffix=".tmp"))
    try:
        feat.save(tmp)
        sp.save_npz(tmp / "train.npz", X, compressed=False)
        try:
            os.rename(tmp, entry)
        except OSError:  # another process wrote the same entry first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("TF-IDF on %d texts: %d terms in %.1fs", len(texts), feat.vocabulary_size, time.perf_counter() - t0)
    return feat, X
