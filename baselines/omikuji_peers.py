"""omikuji's Parabel and Bonsai label trees as harness models: "omikuji-parabel" and "omikuji-bonsai".

Usage::

    pip install -c constraints/cpu.txt -e .            # omikuji==0.5.2 (a Rust library)
    model = model_registry.get("omikuji-bonsai")()              # features="auto": TF-IDF of text, or the BoW
    model.fit(train, val, ctx=FitContext(seed=0, num_labels=L))
    model.predict_split(test, k=5)

Settings are omikuji's README (github.com/tomtung/omikuji, "Features & Performance"): Parabel is its default
(3 trees, balanced 2-means, leaves of at most 100 labels, max depth 20, linear "hinge" classifiers with C=1,
eps 0.1, 20 iterations, weights below 0.1 pruned, beam 10); Bonsai is the same with *unbalanced* k-means of
100 clusters and max depth 3 (wide, shallow trees). Why this file writes a temporary XC-format file: omikuji's
Python binding trains only from a file. It predicts one row per call; the rows of a batch are spread over
``threads`` Python threads (the Rust call releases the GIL), and each call uses omikuji's own thread pool.
"""

from __future__ import annotations

import dataclasses
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from baselines.sparse_peer import SparseFeatureFields, SparsePeerModel
from harness.errors import HarnessError
from harness.models.config_types import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE
from harness.models.contract import FitContext, TopK

PARABEL_CITATION = (
    "Prabhu et al. Parabel: Partitioned Label Trees for Extreme Classification with Application to Dynamic "
    "Search Advertising. WWW 2018. Implementation: omikuji (github.com/tomtung/omikuji)"
)
BONSAI_CITATION = (
    "Khandagale, Xiao and Babbar. Bonsai: Diverse and Shallow Trees for Extreme Multi-label Classification. "
    "Machine Learning 2020 (arXiv:1904.08249). Implementation: omikuji (github.com/tomtung/omikuji)"
)
#: Rows per thread below which a batch is predicted on the calling thread (thread start-up would dominate).
MIN_ROWS_PER_THREAD = 64


@dataclass(frozen=True)
class OmikujiConfig(SparseFeatureFields):
    """omikuji's training and prediction settings (its CLI names in the help texts); defaults are Parabel's."""

    n_trees: int = field(default=3, metadata={"help": "--n_trees (Parabel: 3)", **AT_LEAST_ONE})
    cluster_k: int = field(default=2, metadata={"help": "--cluster.k: children per split (Parabel: 2)", **AT_LEAST_ONE})
    cluster_balanced: bool = field(default=True, metadata={"help": "balanced k-means (False: --cluster.unbalanced)"})
    max_depth: int = field(default=20, metadata={"help": "--max_depth", **AT_LEAST_ONE})
    min_branch_size: int = field(
        default=100, metadata={"help": "--min_branch_size: labels per leaf (Parabel: 100)", **AT_LEAST_ONE}
    )
    cluster_eps: float = field(default=1e-4, metadata={"help": "--cluster.eps", **POSITIVE})
    cluster_min_size: int = field(default=2, metadata={"help": "--cluster.min_size", **AT_LEAST_ONE})
    centroid_threshold: float = field(default=0.0, metadata={"help": "--centroid_threshold", **NON_NEGATIVE})
    collapse_every_n_layers: int = field(default=0, metadata={"help": "--collapse_every_n_layers", **NON_NEGATIVE})
    loss: str = field(default="hinge", metadata={"help": "--linear.loss: hinge | log"})
    linear_c: float = field(default=1.0, metadata={"help": "--linear.c", **POSITIVE})
    linear_eps: float = field(default=0.1, metadata={"help": "--linear.eps", **POSITIVE})
    linear_max_iter: int = field(default=20, metadata={"help": "--linear.max_iter", **AT_LEAST_ONE})
    weight_threshold: float = field(
        default=0.1, metadata={"help": "--linear.weight_threshold (pruning)", **NON_NEGATIVE}
    )
    beam_size: int = field(default=10, metadata={"help": "omikuji test --beam_size", **AT_LEAST_ONE})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.loss not in ("hinge", "log"):
            raise HarnessError(f"loss must be 'hinge' or 'log', got {self.loss!r}")


@dataclass(frozen=True)
class BonsaiConfig(OmikujiConfig):
    """omikuji's Bonsai settings: unbalanced k-means with 100 children and depth at most 3."""

    cluster_k: int = field(default=100, metadata={"help": "--cluster.k (Bonsai: 100)", **AT_LEAST_ONE})
    cluster_balanced: bool = field(default=False, metadata={"help": "Bonsai: regular (unbalanced) k-means"})
    max_depth: int = field(default=3, metadata={"help": "--max_depth (Bonsai setting: 3)", **AT_LEAST_ONE})


def write_xc_file(path: Path, X: sp.csr_matrix, Y: sp.csr_matrix) -> None:
    """Write ``X`` (features) and ``Y`` (labels) as an XC-repository text file, the only input omikuji trains on.

    Header ``n d L``, then one line per row: ``l1,l2 f:v f:v``. No trailing space: omikuji rejects a line that
    ends in one (a row without features).
    """
    X, Y = sp.csr_matrix(X), sp.csr_matrix(Y)
    with open(path, "w", encoding="ascii") as out:
        out.write(f"{X.shape[0]} {X.shape[1]} {Y.shape[1]}\n")
        xi, xd, yi = X.indices.tolist(), X.data.tolist(), Y.indices.tolist()
        for row in range(X.shape[0]):
            labels = ",".join(map(str, yi[Y.indptr[row] : Y.indptr[row + 1]]))
            lo, hi = X.indptr[row], X.indptr[row + 1]
            feats = " ".join(f"{j}:{v:.8g}" for j, v in zip(xi[lo:hi], xd[lo:hi], strict=True))
            out.write(f"{labels} {feats}".rstrip() + "\n")


class OmikujiModel(SparsePeerModel):
    """omikuji behind the contract; the two registered names differ only in their Config defaults."""

    name = "omikuji-parabel"
    Config = OmikujiConfig
    library = "omikuji"
    citation = PARABEL_CITATION
    # k-means initial centroids come from Rust's thread_rng() (no seed parameter), and a loaded forest sums its
    # trees in directory-listing order: neither fits nor reloads are bit-for-bit repeatable.
    deterministic = False

    def __init__(self, config: Any | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self._model: Any = None

    @classmethod
    def tiny_config(cls) -> dict[str, Any]:
        """Leaves of 8 labels so the 30-label test problem builds a real tree."""
        return {"min_branch_size": 8, "tfidf_min_df": 1}

    def library_settings(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "n_trees": cfg.n_trees,
            "cluster_k": cfg.cluster_k,
            "cluster_balanced": cfg.cluster_balanced,
            "cluster_eps": cfg.cluster_eps,
            "cluster_min_size": cfg.cluster_min_size,
            "max_depth": cfg.max_depth,
            "min_branch_size": cfg.min_branch_size,
            "centroid_threshold": cfg.centroid_threshold,
            "collapse_every_n_layers": cfg.collapse_every_n_layers,
            "linear_loss_type": cfg.loss,
            "linear_c": cfg.linear_c,
            "linear_eps": cfg.linear_eps,
            "linear_max_iter": cfg.linear_max_iter,
            "linear_weight_threshold": cfg.weight_threshold,
            "beam_size": cfg.beam_size,
            "threads": self.library_threads(),
        }

    def _hyper_param(self, omikuji: Any) -> Any:
        hp = omikuji.Model.default_hyper_param()
        for key, value in self.library_settings().items():
            if key in ("beam_size", "threads"):
                continue
            if key == "linear_loss_type":
                value = (omikuji.LossType.HINGE if value == "hinge" else omikuji.LossType.LOG).value
            setattr(hp, key, value)
        return hp

    def _fit_matrix(self, X: sp.csr_matrix, Y: sp.csr_matrix, ctx: FitContext) -> None:
        omikuji = self.require()
        threads = self.library_threads()
        if ctx.work_dir is not None:  # the runner's scratch folder of this cell (removed after fit)
            Path(ctx.work_dir).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="omikuji-", dir=ctx.work_dir) as tmp:
            path = Path(tmp) / "train.txt"
            write_xc_file(path, X, Y)
            self._model = omikuji.Model.train_on_data(str(path), self._hyper_param(omikuji), n_threads=threads)
        self._model.init_prediction_thread_pool(threads)

    def _library_fitted(self) -> bool:
        return self._model is not None

    def _predict_rows(self, X: sp.csr_matrix, rows: range, k: int, idx: np.ndarray, val: np.ndarray) -> None:
        beam = self.config.beam_size
        indices, data, indptr = X.indices.tolist(), X.data.tolist(), X.indptr
        for r in rows:
            lo, hi = indptr[r], indptr[r + 1]
            got = self._model.predict(list(zip(indices[lo:hi], data[lo:hi], strict=True)), beam_size=beam, top_k=k)
            for j, (label, score) in enumerate(got):
                idx[r, j], val[r, j] = label, score

    def _predict_matrix(self, X: sp.csr_matrix, k: int) -> TopK:
        n = X.shape[0]
        idx = np.full((n, k), -1, dtype=np.int64)
        val = np.full((n, k), -np.inf, dtype=np.float32)
        workers = min(self.library_threads(), max(1, n // MIN_ROWS_PER_THREAD))
        if workers <= 1:
            self._predict_rows(X, range(n), k, idx, val)
        else:
            bounds = np.linspace(0, n, workers + 1).astype(int)
            with ThreadPoolExecutor(workers) as pool:
                jobs = [
                    pool.submit(self._predict_rows, X, range(bounds[i], bounds[i + 1]), k, idx, val)
                    for i in range(workers)
                ]
                for job in jobs:
                    job.result()
        return TopK(idx, val)

    def _save_library(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._model.save(str(folder))  # settings.json + one CBOR file per tree

    def _load_library(self, folder: Path) -> None:
        omikuji = self.require()
        try:
            self._model = omikuji.Model.load(str(folder))
        except RuntimeError as exc:
            raise HarnessError(f"cannot load the omikuji model in {folder}: {exc}") from exc
        self._model.init_prediction_thread_pool(self.library_threads())

    def deviations(self) -> list[str]:
        cfg, defaults = self.config, self.Config()
        out = [
            "omikuji draws its k-means initial centroids from an unseeded RNG: two fits differ slightly and the "
            "run's seed does not reach it",
            "a loaded model sums its trees' scores in the order omikuji lists the tree files, so scores after "
            "save/load may differ from the fitted model's in the last float32 bit (rankings match)",
            "no model selection on validation (validation metrics are recorded only)",
        ]
        shared = {f.name for f in dataclasses.fields(SparseFeatureFields)}
        changed = [
            f"{f.name} {getattr(cfg, f.name)!r} ({self._reference()} setting: {getattr(defaults, f.name)!r})"
            for f in dataclasses.fields(cfg)
            if f.name not in shared and getattr(cfg, f.name) != getattr(defaults, f.name)
        ]
        if changed:
            out.append("settings differ from omikuji's documented ones: " + ", ".join(changed))
        return out

    def _reference(self) -> str:
        return "Parabel"


class OmikujiBonsaiModel(OmikujiModel):
    """Bonsai's wide, shallow, unbalanced trees in omikuji."""

    name = "omikuji-bonsai"
    Config = BonsaiConfig
    citation = BONSAI_CITATION

    @classmethod
    def tiny_config(cls) -> dict[str, Any]:
        """4 children per node and leaves of 8 labels on the 30-label test problem."""
        return {"cluster_k": 4, "min_branch_size": 8, "tfidf_min_df": 1}

    def _reference(self) -> str:
        return "Bonsai"
