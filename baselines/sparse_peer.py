"""Shared base of the non-neural peers (omikuji, napkinXC): sparse features in, a library's tree model inside.

Usage::

    class MyPeer(SparsePeerModel):                   # a subclass implements the library calls only
        name, Config, library = "my-peer", MyConfig, "mylib"
        def _fit_matrix(self, X, Y, ctx): ...         # X: csr float32 (n, V), rows L2-normalised; Y: csr (n, L)
        def _predict_matrix(self, X, k) -> TopK: ...
        def _save_library(self, folder): ...;  def _load_library(self, folder): ...

Why one base: every sparse peer must see *the same* features, or a table comparing them measures the
featurizer instead of the method. Features are the harness's word uni+bigram TF-IDF fitted on the training
split only (:mod:`harness.features.tfidf`, cached by content hash) when the data has text, or the dataset's own
bag-of-words ``split.X`` for BoW-only XC sets (Bibtex, Delicious). ``features: auto`` picks by what the split
holds; the card records which was used. Saving writes JSON, the featurizer's vocabulary/idf (no pickle) and the
library's own model folder.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import scipy.sparse as sp

from harness.errors import HarnessError, OptionalDependencyError
from harness.models.config_types import AT_LEAST_ONE, NON_NEGATIVE, check_ranges
from harness.models.contract import FitContext, FitReport, ModelCard, TopK, XMCModel, config_from_dict

if TYPE_CHECKING:
    from harness.data.dataset import SplitData
    from harness.features import TfidfFeaturizer

FORMAT_VERSION = 1
FEATURE_CHOICES = ("auto", "tfidf", "bow")
#: Validation metrics kept in the fit report (as the neural models keep them).
VAL_KEYS = ("p@1", "p@3", "p@5", "psp@1", "psp@3", "psp@5")
PIP_HINT = "pip install -c constraints/cpu.txt -e ."


@dataclass(frozen=True)
class SparseFeatureFields:
    """Feature and thread settings every sparse peer shares (subclass configs add the library's settings)."""

    features: str = field(
        default="auto",
        metadata={"help": "auto: TF-IDF of the text when the split has text, else the dataset's BoW; tfidf; bow"},
    )
    tfidf_min_df: int = field(
        default=2, metadata={"help": "TF-IDF: a term must occur in this many train texts", **AT_LEAST_ONE}
    )
    tfidf_max_features: int | None = field(
        default=None, metadata={"help": "TF-IDF: keep the most frequent terms", **AT_LEAST_ONE}
    )
    threads: int = field(
        default=0,
        metadata={
            "help": "library threads; 0: the cell's (FitContext.threads), else every usable core",
            **NON_NEGATIVE,
        },
    )

    def __post_init__(self) -> None:
        # Every numeric range, this class's and a subclass's (the library settings), is the fields' metadata.
        check_ranges(self)
        if self.features not in FEATURE_CHOICES:
            raise HarnessError(f"features must be one of {', '.join(FEATURE_CHOICES)}, got {self.features!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SparseFeatureFields:
        return config_from_dict(cls, data, cls.__name__)


def resolve_threads(requested: int, given: int | None = None) -> int:
    """Threads for a library call: ``requested`` if positive, else ``given`` by the runner, else every usable core.

    The runner gives each cell the suite's ``threads`` (``FitContext.threads``), so a peer uses the same number of
    cores as the neural models it is compared with.
    """
    if requested > 0:
        return requested
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, given)) if given else max(1, cores)


def pad_topk(indices: np.ndarray, scores: np.ndarray, k: int) -> TopK:
    """A TopK of width ``k`` from (n, m ≤ k) arrays: int64/float32, padded with -1 / -inf."""
    n, m = indices.shape
    out_idx = np.full((n, k), -1, dtype=np.int64)
    out_score = np.full((n, k), -np.inf, dtype=np.float32)
    out_idx[:, :m] = indices
    out_score[:, :m] = scores
    return TopK(out_idx, out_score)


class SparsePeerModel(XMCModel):
    """A library model behind the contract: features here, training and prediction in the library.

    Subclasses set ``name``, ``Config`` (a :class:`SparseFeatureFields` subclass), ``library`` (the pip
    distribution and import name), ``citation``, and implement the four ``_…`` hooks.
    """

    library: ClassVar[str]
    citation: ClassVar[str | None] = None
    #: False where the library draws from an unseeded RNG (its fits differ run to run); the card says so.
    deterministic: ClassVar[bool] = True
    #: The libraries keep their pruned sparse weights internal, so the card has no parameter count.
    params_exposed: ClassVar[bool] = False
    predicts_from_features: ClassVar[bool] = True  # the libraries predict from BoW rows (predict_matrix)
    flops_na_reason: ClassVar[str] = (
        "not applicable: a sparse linear label tree, not a neural network; a query costs sparse dot products along "
        "the tree search, which the FLOP counter cannot trace. Compare by model_bytes and per-query latency"
    )

    def __init__(self, config: Any | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.cell_threads: int | None = None  # the runner's threads for this cell (FitContext.threads)
        self.featurizer: TfidfFeaturizer | None = None
        self.feature_kind: str | None = None
        self.num_features = 0
        self.num_labels = 0
        self.fit_summary: dict[str, Any] = {}

    # ---------------------------------------------------------------------------------------- library
    @classmethod
    def require(cls) -> ModuleType:
        """Import the library, or raise :class:`OptionalDependencyError` with the command that installs it."""
        try:
            return importlib.import_module(cls.library)
        except ImportError as exc:
            raise OptionalDependencyError(
                f"{cls.name} needs the {cls.library!r} package, which is not installed ({exc}). It is a "
                f"dependency of the harness; reinstall it: {PIP_HINT}"
            ) from None

    @classmethod
    def library_version(cls) -> str | None:
        try:
            return importlib.metadata.version(cls.library)
        except importlib.metadata.PackageNotFoundError:
            return None

    def _fit_matrix(self, X: sp.csr_matrix, Y: sp.csr_matrix, ctx: FitContext) -> None:
        raise NotImplementedError

    def _predict_matrix(self, X: sp.csr_matrix, k: int) -> TopK:
        raise NotImplementedError

    def _save_library(self, folder: Path) -> None:
        raise NotImplementedError

    def _load_library(self, folder: Path) -> None:
        raise NotImplementedError

    def _library_fitted(self) -> bool:
        raise NotImplementedError

    def library_settings(self) -> dict[str, Any]:
        """The settings passed to the library, as it names them (for the card)."""
        return {}

    def deviations(self) -> list[str]:
        return []

    # --------------------------------------------------------------------------------------- features
    def _choose_features(self, split: SplitData) -> str:
        wanted = self.config.features
        if wanted == "auto":
            wanted = "tfidf" if split.texts is not None else "bow"
        if wanted == "tfidf" and split.texts is None:
            raise HarnessError(f"{self.name}: features='tfidf' needs raw text, but this dataset has none")
        if wanted == "bow" and split.X is None:
            raise HarnessError(f"{self.name}: features='bow' needs the dataset's BoW features, but it ships none")
        return wanted

    def _train_features(self, train: SplitData) -> sp.csr_matrix:
        from harness.features import TfidfConfig, l2_normalize_rows, tfidf_train_features

        self.feature_kind = self._choose_features(train)
        if self.feature_kind == "tfidf":
            cfg = TfidfConfig(min_df=self.config.tfidf_min_df, max_features=self.config.tfidf_max_features)
            assert train.texts is not None
            self.featurizer, X = tfidf_train_features(train.texts, cfg)
        else:
            assert train.X is not None
            # Unit rows, as the TF-IDF rows are: the libraries normalise too, but then a saved model's input
            # contract does not depend on a library detail.
            X = l2_normalize_rows(sp.csr_matrix(train.X, dtype=np.float32))
        X = sp.csr_matrix(X, dtype=np.float32)
        X.sort_indices()
        self.num_features = X.shape[1]
        return X

    def split_features(self, split: SplitData) -> sp.csr_matrix:
        """The feature rows of ``split`` as this model was trained on them (TF-IDF or normalised BoW)."""
        from harness.features import l2_normalize_rows

        if self.feature_kind == "bow":
            if split.X is None:
                raise HarnessError(f"{self.name} was trained on BoW features, but this split has none")
            return l2_normalize_rows(sp.csr_matrix(split.X, dtype=np.float32))
        if split.texts is None:
            raise HarnessError(f"{self.name} was trained on TF-IDF of text, but this split has no text")
        return self._transform(split.texts)

    def _transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        if self.featurizer is None:
            raise HarnessError(
                f"{self.name}: no text featurizer (the model is not fitted, or it was trained on BoW features: "
                "use predict_split or predict_matrix)"
            )
        return self.featurizer.transform(list(texts))

    # --------------------------------------------------------------------------------------- contract
    def library_threads(self, requested: int | None = None) -> int:
        """Threads for the library: the config's ``threads`` (or ``requested``), else the cell's, else all cores."""
        return resolve_threads(self.config.threads if requested is None else requested, self.cell_threads)

    def fit(self, train: SplitData, val: SplitData, *, ctx: FitContext) -> FitReport:
        """Featurise ``train``, train the library model, and record validation metrics (nothing is selected)."""
        self.cell_threads = ctx.threads
        self.require()
        start = time.perf_counter()
        X = self._train_features(train)
        Y = sp.csr_matrix(train.Y, dtype=np.float32)
        self.num_labels = ctx.num_labels or Y.shape[1]
        if Y.shape[1] != self.num_labels:
            raise HarnessError(f"train has {Y.shape[1]} label columns but ctx says {self.num_labels}")
        t0 = time.perf_counter()
        self._fit_matrix(X, Y, ctx)
        library_s = time.perf_counter() - t0
        best_val: dict[str, float] = {}
        if val is not None and len(val) > 0:
            from harness.metrics import evaluate

            k = min(5, self.num_labels)
            top = self.predict_matrix(self.split_features(val), k)
            metrics = evaluate(top.indices, val.Y, inv_prop=ctx.inv_prop, k=k)
            best_val = {key: float(v) for key, v in metrics.items() if key in VAL_KEYS}
        self.fit_summary = {
            "features_seconds": t0 - start,
            "library_fit_seconds": library_s,
            "threads": self.library_threads(),
            "n_train": int(X.shape[0]),
            "train_nnz": int(X.nnz),
        }
        return FitReport(train_seconds=time.perf_counter() - start, epochs_run=1, best_epoch=None, best_val=best_val)

    def predict_matrix(self, X: sp.spmatrix, k: int) -> TopK:
        """Top-``k`` labels of feature rows ``X`` (as :meth:`split_features` gives them), best first."""
        if k < 1:
            raise HarnessError(f"k must be >= 1, got {k}")
        if not self._library_fitted():
            raise HarnessError(f"{self.name}: fit() or load() the model before predicting")
        X = sp.csr_matrix(X, dtype=np.float32)
        if X.shape[1] != self.num_features:
            raise HarnessError(f"{self.name}: features have {X.shape[1]} columns, the model {self.num_features}")
        if X.shape[0] == 0:
            return TopK(np.zeros((0, k), dtype=np.int64), np.zeros((0, k), dtype=np.float32))
        X.sort_indices()
        top = self._predict_matrix(X, k)
        return pad_topk(top.indices, top.scores, k)

    def predict_topk(self, texts: Sequence[str], k: int) -> TopK:
        """Top-``k`` labels of each text through the training TF-IDF vocabulary."""
        if len(texts) == 0:
            return TopK(np.zeros((0, k), dtype=np.int64), np.zeros((0, k), dtype=np.float32))
        return self.predict_matrix(self._transform(texts), k)

    def predict_split(self, split: SplitData, k: int) -> TopK:
        """Text rows through TF-IDF, or the split's own BoW ``X`` for a model trained on BoW."""
        return self.predict_matrix(self.split_features(split), k)

    def profiling_target(self, batch_size: int = 1) -> None:
        """No network: FLOPs are not applicable (the profiler records :attr:`flops_na_reason`)."""
        return None

    # ------------------------------------------------------------------------------------ persistence
    def save(self, directory: Path) -> None:
        """``config.json``, ``featurizer/`` (TF-IDF vocabulary + idf, JSON/npy) and ``library/`` (its own format)."""
        if not self._library_fitted():
            raise HarnessError(f"{self.name}: nothing to save, the model is not fitted")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "format_version": FORMAT_VERSION,
            "model": self.name,
            "config": self.config.to_dict(),
            "feature_kind": self.feature_kind,
            "num_features": self.num_features,
            "num_labels": self.num_labels,
            "library": self.library,
            "library_version": self.library_version(),
            "fit_summary": self.fit_summary,
        }
        (directory / "config.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        if self.featurizer is not None:
            self.featurizer.save(directory / "featurizer")
        self._save_library(directory / "library")

    @classmethod
    def load(cls, directory: Path) -> SparsePeerModel:
        """Rebuild from :meth:`save`'s folder; nothing is unpickled (the libraries read their own files)."""
        from harness.features import TfidfFeaturizer

        directory = Path(directory)
        try:
            meta = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise HarnessError(f"{directory} does not hold a saved {cls.name} model ({exc})") from exc
        if meta.get("model") != cls.name:
            raise HarnessError(f"{directory} holds a {meta.get('model')!r} model, not {cls.name!r}")
        cls.require()
        model = cls(cls.Config.from_dict(meta["config"]))
        model.feature_kind = meta["feature_kind"]
        model.num_features = int(meta["num_features"])
        model.num_labels = int(meta["num_labels"])
        model.fit_summary = meta.get("fit_summary", {})
        if (directory / "featurizer").is_dir():
            model.featurizer = TfidfFeaturizer.load(directory / "featurizer")
        model._load_library(directory / "library")
        return model

    def _feature_card(self) -> dict[str, Any]:
        info: dict[str, Any] = {"kind": self.feature_kind, "num_features": self.num_features}
        if self.feature_kind == "tfidf" and self.featurizer is not None:
            info.update(self.featurizer.summary())
            info["what"] = "harness word uni+bigram TF-IDF, vocabulary and idf from the training split only"
        elif self.feature_kind == "bow":
            info["what"] = "the dataset's own bag-of-words features, rows L2-normalised"
        return info

    def card(self) -> ModelCard:
        """Library and version, its settings, the features used; parameters are not exposed by the libraries."""
        config = self.config.to_dict()
        config.update(
            {
                "num_labels": self.num_labels,
                "library": self.library,
                "library_version": self.library_version(),
                "library_settings": self.library_settings(),
                "features_used": self._feature_card(),
                "deterministic": self.deterministic,
                "fit": self.fit_summary,
                "params_note": "the library does not expose its (pruned, sparse) weight count: model_bytes of the "
                "saved folder is the size measure",
            }
        )
        deviations = list(self.deviations())
        if self.feature_kind == "tfidf":
            deviations.append(
                "features: the harness's word 1-2-gram TF-IDF of the title (train-only vocabulary), the same for "
                "every sparse peer; the libraries' published numbers use the XC repository's BoW features"
            )
        return ModelCard(
            name=self.name, params={}, config=config, embeddings=None, deviations=deviations, citation=self.citation
        )
