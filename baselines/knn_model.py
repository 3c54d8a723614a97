"""The kNN floor behind the model contract, registered as "knn": neighbours tuned on validation, saved without pickle.

Usage::

    model = model_registry.get("knn")()                    # char_wb 3-5-gram TF-IDF, k from {5,10,20,30,50}
    model.fit(train, val, ctx=FitContext(seed=0, num_labels=L))
    model.predict_topk(["golden retriever"], k=5)
    model.card().config["n_neighbors_chosen"]

Why it exists: every table needs a floor that costs nothing to understand. :class:`~baselines.knn.CharNgramKNN`
does the work; this adapter chooses the number of voting neighbours on the validation split from one neighbour
search (a prefix of the longest list is each shorter list), and falls back to the dataset's own BoW rows, still
by cosine, when the data has no text. Defaults are the dataset card's (docs/datasets/wordnet-nouns.md): 3-5-grams,
grid {5, 10, 20, 30, 50}, chosen by nDCG@5.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from baselines.knn import CharNgramKNN
from harness.errors import HarnessError
from harness.models.config_types import AT_LEAST_ONE, check_ranges
from harness.models.contract import FitContext, FitReport, ModelCard, TopK, XMCModel, config_from_dict

if TYPE_CHECKING:
    from harness.data.dataset import SplitData

FORMAT_VERSION = 1
VAL_KEYS = ("p@1", "p@3", "p@5", "psp@1", "psp@3", "psp@5", "ndcg@5")


@dataclass(frozen=True)
class KNNConfig:
    """Features, the neighbour grid and how the neighbour count is chosen."""

    features: str = field(default="auto", metadata={"help": "auto: char n-grams of text, else BoW; text; bow"})
    ngram_range: tuple[int, int] = field(default=(3, 5), metadata={"help": "character n-gram lengths", **AT_LEAST_ONE})
    analyzer: str = field(default="char_wb", metadata={"help": "n-grams inside word boundaries"})
    sublinear_tf: bool = field(default=True, metadata={"help": "1 + log(tf)"})
    min_df: int = field(default=1, metadata={"help": "drop n-grams in fewer training texts", **AT_LEAST_ONE})
    n_neighbors: int | None = field(
        default=None, metadata={"help": "fixed neighbour count (None: tune on val)", **AT_LEAST_ONE}
    )
    n_neighbors_grid: tuple[int, ...] = field(
        default=(5, 10, 20, 30, 50), metadata={"help": "tuning grid", **AT_LEAST_ONE}
    )
    select_metric: str = field(default="ndcg@5", metadata={"help": "validation metric that picks the count"})
    batch_size: int = field(
        default=512, metadata={"help": "query rows per similarity block (memory bound)", **AT_LEAST_ONE}
    )

    def __post_init__(self) -> None:
        check_ranges(self)  # counts >= 1 (n-gram lengths, neighbours, batch): the fields' metadata
        if self.features not in ("auto", "text", "bow"):
            raise HarnessError(f"features must be auto, text or bow, got {self.features!r}")
        grid = tuple(int(n) for n in self.n_neighbors_grid)
        if not grid or min(grid) < 1 or (self.n_neighbors is not None and self.n_neighbors < 1):
            raise HarnessError("n_neighbors and every grid value must be >= 1")
        if len(self.ngram_range) != 2 or self.ngram_range[0] > self.ngram_range[1]:
            raise HarnessError(f"ngram_range must be [shortest, longest], got {list(self.ngram_range)}")
        object.__setattr__(self, "n_neighbors_grid", tuple(sorted(set(grid))))
        object.__setattr__(self, "ngram_range", (int(self.ngram_range[0]), int(self.ngram_range[1])))

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["ngram_range"], out["n_neighbors_grid"] = list(self.ngram_range), list(self.n_neighbors_grid)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KNNConfig:
        return config_from_dict(cls, {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}, "knn")


class KNNModel(XMCModel):
    """Character n-gram (or BoW) cosine kNN with similarity-weighted votes; the floor of every table."""

    name = "knn"
    Config = KNNConfig
    predicts_from_features = True  # neighbours of a BoW row as well as of a title
    flops_na_reason = (
        "not applicable: a nearest-neighbour search over the stored training rows, not a neural network; a query "
        "costs one sparse product with the training matrix. Compare by model_bytes and per-query latency"
    )

    def __init__(self, config: KNNConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.knn: CharNgramKNN | None = None
        self.feature_kind: str | None = None
        self.num_labels = 0
        self.fit_summary: dict[str, Any] = {}

    @classmethod
    def tiny_config(cls) -> dict[str, Any]:
        return {"n_neighbors_grid": (2, 5, 10)}

    def _new_knn(self, n_neighbors: int) -> CharNgramKNN:
        cfg = self.config
        return CharNgramKNN(
            n_neighbors=n_neighbors,
            ngram_range=cfg.ngram_range,
            analyzer=cfg.analyzer,
            sublinear_tf=cfg.sublinear_tf,
            min_df=cfg.min_df,
            batch_size=cfg.batch_size,
        )

    def _kind(self, split: SplitData) -> str:
        kind = self.config.features
        if kind == "auto":
            kind = "text" if split.texts is not None else "bow"
        if (kind == "text" and split.texts is None) or (kind == "bow" and split.X is None):
            raise HarnessError(f"knn: features={kind!r} but the split has no {'text' if kind == 'text' else 'BoW'}")
        return kind

    def _neighbours(self, split: SplitData, m: int) -> tuple[np.ndarray, np.ndarray]:
        assert self.knn is not None
        if self.feature_kind == "bow":
            if split.X is None:
                raise HarnessError("knn was fitted on BoW rows, but this split has none")
            return self.knn.kneighbors_matrix(split.X, m)
        if split.texts is None:
            raise HarnessError("knn was fitted on text, but this split has none")
        return self.knn.kneighbors(split.texts, m)

    def fit(self, train: SplitData, val: SplitData, *, ctx: FitContext) -> FitReport:
        """Index the training rows; pick the neighbour count on ``val`` from one search with the largest count."""
        from harness.metrics import evaluate

        cfg, start = self.config, time.perf_counter()
        self.num_labels = ctx.num_labels or train.Y.shape[1]
        self.feature_kind = self._kind(train)
        grid = (cfg.n_neighbors,) if cfg.n_neighbors is not None else cfg.n_neighbors_grid
        self.knn = self._new_knn(max(grid))
        if self.feature_kind == "text":
            self.knn.fit(train.texts, train.Y, self.num_labels)
        else:
            self.knn.fit_matrix(train.X, train.Y, self.num_labels)
        history: list[dict[str, float]] = []
        chosen, best_val = grid[0], {}
        if val is not None and len(val) > 0:
            nbr_idx, nbr_sim = self._neighbours(val, max(grid))
            k = min(5, self.num_labels)
            best = -np.inf
            for n in grid:
                top = self.knn.vote_topk(nbr_idx[:, :n], nbr_sim[:, :n], k)
                metrics = evaluate(top, val.Y, inv_prop=ctx.inv_prop, k=k)
                row = {"n_neighbors": float(n), **{key: float(v) for key, v in metrics.items() if key in VAL_KEYS}}
                history.append(row)
                if row.get(cfg.select_metric, -np.inf) > best:  # strict: ties keep the smaller count
                    best, chosen, best_val = row[cfg.select_metric], n, row
        self.knn.n_neighbors = chosen
        self.fit_summary = {"n_neighbors_chosen": chosen, "selected_by": f"val {cfg.select_metric}"}
        return FitReport(
            train_seconds=time.perf_counter() - start,
            epochs_run=1,
            best_epoch=None,
            best_val={key: v for key, v in best_val.items() if key != "n_neighbors"},
            history=history,
        )

    def _ready(self) -> CharNgramKNN:
        if self.knn is None:
            raise HarnessError("knn: fit() or load() the model before predicting")
        return self.knn

    def _topk(self, nbr: tuple[np.ndarray, np.ndarray], k: int) -> TopK:
        idx, scores = self._ready().vote_topk(nbr[0], nbr[1], k)
        top = TopK(np.full((idx.shape[0], k), -1, np.int64), np.full((idx.shape[0], k), -np.inf, np.float32))
        top.indices[:, : idx.shape[1]], top.scores[:, : idx.shape[1]] = idx, scores
        return top

    def predict_topk(self, texts: Sequence[str], k: int) -> TopK:
        """Top-``k`` labels of each text (a BoW-fitted model has no text path: use :meth:`predict_split`)."""
        knn = self._ready()
        if self.feature_kind != "text":
            raise HarnessError("knn was fitted on BoW rows; predict with predict_split or predict_matrix")
        return self._topk(knn.kneighbors(list(texts)), k)

    def predict_split(self, split: SplitData, k: int) -> TopK:
        return self._topk(self._neighbours(split, self._ready().n_neighbors), k)

    def predict_matrix(self, X: sp.spmatrix, k: int) -> TopK:
        """Top-``k`` labels of BoW rows (for a model fitted on BoW)."""
        knn = self._ready()
        if self.feature_kind != "bow":
            raise HarnessError("knn was fitted on text; predict with predict_topk")
        return self._topk(knn.kneighbors_matrix(X), k)

    def save(self, directory: Path) -> None:
        """``config.json``, ``train_X.npz`` / ``train_Y.npz`` and, for text, ``vocabulary.json`` + ``idf.npy``."""
        knn = self._ready()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "format_version": FORMAT_VERSION,
            "model": self.name,
            "config": self.config.to_dict(),
            "feature_kind": self.feature_kind,
            "num_labels": self.num_labels,
            "n_neighbors": knn.n_neighbors,
            "fit_summary": self.fit_summary,
        }
        (directory / "config.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        sp.save_npz(directory / "train_X.npz", knn.train_matrix)
        sp.save_npz(directory / "train_Y.npz", knn.train_labels)
        terms = knn.vocabulary_terms()
        if terms is not None:
            (directory / "vocabulary.json").write_text(json.dumps(terms, ensure_ascii=False), encoding="utf-8")
            np.save(directory / "idf.npy", knn.vectorizer.idf_, allow_pickle=False)

    @classmethod
    def load(cls, directory: Path) -> KNNModel:
        """Rebuild from :meth:`save`'s files (``np.load``/``load_npz`` without pickles)."""
        directory = Path(directory)
        try:
            meta = json.loads((directory / "config.json").read_text(encoding="utf-8"))
            x_train, y_train = sp.load_npz(directory / "train_X.npz"), sp.load_npz(directory / "train_Y.npz")
            terms = idf = None
            if meta["feature_kind"] == "text":
                terms = json.loads((directory / "vocabulary.json").read_text(encoding="utf-8"))
                idf = np.load(directory / "idf.npy", allow_pickle=False)
        except (OSError, ValueError, KeyError) as exc:
            raise HarnessError(f"{directory} does not hold a saved knn model ({exc})") from exc
        if meta.get("model") != cls.name:
            raise HarnessError(f"{directory} holds a {meta.get('model')!r} model, not {cls.name!r}")
        model = cls(KNNConfig.from_dict(meta["config"]))
        model.feature_kind, model.num_labels = meta["feature_kind"], int(meta["num_labels"])
        model.fit_summary = meta.get("fit_summary", {})
        model.knn = model._new_knn(int(meta["n_neighbors"])).restore(x_train.tocsr(), y_train.tocsr(), terms, idf)
        return model

    def profiling_target(self, batch_size: int = 1) -> None:
        """No network: FLOPs are not applicable (see :attr:`flops_na_reason`)."""
        return None

    def card(self) -> ModelCard:
        """Stored values by part (the index is the model), the config, the chosen neighbour count."""
        params: dict[str, int] = {"total": 0}
        config = self.config.to_dict()
        config.update({"num_labels": self.num_labels, "feature_kind": self.feature_kind, **self.fit_summary})
        if self.knn is not None and self.knn.train_matrix is not None:
            terms = self.knn.vocabulary_terms()
            params = {
                "train_vectors": int(self.knn.train_matrix.nnz),
                "train_labels": int(self.knn.train_labels.nnz),
                "idf": len(terms) if terms is not None else 0,
            }
            params["total"] = sum(params.values())
            config["vocabulary_size"] = len(terms) if terms is not None else self.knn.train_matrix.shape[1]
        deviations = [
            "not a published method: the harness's floor (similarity-weighted votes of cosine neighbours)",
            "parameters are the stored values of the index (training rows' non-zeros, label entries, idf)",
        ]
        if self.feature_kind == "bow":
            deviations.append("BoW dataset: neighbours by cosine over the dataset's own features, not n-grams")
        return ModelCard(name=self.name, params=params, config=config, deviations=deviations)
