"""PECOS XR-Linear (methods.md §8), registered as "pecos-xrlinear": the strongest linear peer of the neural models.

Usage::

    pip install -c constraints/cpu.txt -e .[pecos]        # or run everything in `tox -e pecos`
    model = model_registry.get("pecos-xrlinear")()        # PECOS's documented defaults
    model.fit(train, val, ctx=FitContext(seed=0, num_labels=L))
    model.predict_topk(["golden retriever"], k=5)         # TF-IDF of the text -> beam search down the label tree
    model.save(d); type(model).load(d)                    # PECOS's own npz + JSON folder, the TF-IDF as JSON + npy

XR-Linear, as PECOS trains it (Yu et al. 2020, Algorithm 1 and 2):

1. **Label features (PIFA)**: each label is the L2-normalised sum of the L2-normalised feature rows of its
   training points (``LabelEmbeddingFactory.create(Y, X, method="pifa")``).
2. **Label tree**: hierarchical spherical k-means on those features (``HierarchicalKMeans``: ``nr_splits`` 16,
   ``max_leaf_size`` 100, 20 k-means iterations), i.e. a chain of clusterings from 16 clusters down to the labels.
3. **Recursive linear models**: one sparse one-vs-rest linear model per tree level (the matchers, then the ranker
   over the labels), L2-regularised squared-hinge SVMs solved in the dual (``L2R_L2LOSS_SVC_DUAL``, Cp = Cn = 1),
   each trained only on the points whose positives fall under a node (teacher-forced negatives, ``tfn``), weights
   below 0.1 pruned to keep the model sparse.
4. **Beam search**: a query keeps the ``beam_size`` best nodes per level, scores combined down the tree by the
   ``l3-hinge`` post-processor, and the best ``only_topk`` labels are returned.

Features come from :class:`~baselines.sparse_peer.SparsePeerModel`, as for every sparse peer: the harness's word
uni+bigram TF-IDF of the text (vocabulary from the training split, cached), or on BoW-only datasets (Bibtex,
Delicious) the dataset's own ``split.X``, rows L2-normalised. This module adds only the PECOS calls.

libpecos is an *optional* extra (it forces numpy<2 and scipy<1.14 and pulls torch and Hugging Face packages), so
this module imports without it and constructing the model raises :class:`~harness.errors.OptionalDependencyError`
naming the install command and ``tox -e pecos``. Setup and measured figures: docs/models/pecos.md.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import scipy.sparse as sp

from baselines.sparse_peer import SparseFeatureFields, SparsePeerModel
from harness.errors import HarnessError, OptionalDependencyError
from harness.models.contract import FitContext, ModelCard, TopK

#: The libpecos release this adapter is written and tested against (pyproject's ``pecos`` extra pins it).
PECOS_VERSION = "1.2.8"

INSTALL_HINT = (
    "pecos-xrlinear needs the optional libpecos package, which is not installed in this environment. "
    "Install the extra with the CPU constraint: `pip install -c constraints/cpu.txt -e .[pecos]` "
    "(libpecos forces numpy<2 and scipy<1.14, so use a separate virtual environment), "
    "or run it in its own tox environment: `tox -e pecos` (docs/models/pecos.md)."
)

PECOS_CITATION = (
    "Yu, Zhong, Zhang, Chang, Dhillon. PECOS: Prediction for Enormous and Correlated Output Spaces. "
    "JMLR 23(98), 2022. arXiv:2010.05878"
)

#: PECOS's documented defaults (methods.md §8; XLinearModel, HierarchicalKMeans, MLModel and
#: HierarchicalMLModel TrainParams/PredParams in libpecos 1.2.8). Any config value that differs is a deviation.
PECOS_DEFAULTS: dict[str, Any] = {
    "nr_splits": 16,
    "max_leaf_size": 100,
    "spherical": True,
    "kmeans_max_iter": 20,
    "solver_type": "L2R_L2LOSS_SVC_DUAL",
    "Cp": 1.0,
    "Cn": 1.0,
    "threshold": 0.1,
    "max_iter": 100,
    "eps": 0.1,
    "bias": 1.0,
    "negative_sampling": "tfn",
    "beam_size": 10,
    "only_topk": 20,
    "post_processor": "l3-hinge",
}


@contextlib.contextmanager
def _quiet_pecos() -> Iterator[None]:
    """Silence two known, harmless warnings that libpecos 1.2.8 itself raises on every call.

    It calls the deprecated ``scipy.sparse.sputils`` (a DeprecationWarning under scipy 1.13) and leaves its
    ``param.json`` files for the garbage collector to close (ResourceWarning). Both are libpecos's, not ours, and
    the test suite turns warnings into errors, so they are ignored here, narrowly, around PECOS calls only.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*scipy\.sparse\.sputils", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=ResourceWarning)
        yield


@dataclass(frozen=True)
class PecosXRLinearConfig(SparseFeatureFields):
    """XR-Linear settings under PECOS's own names; defaults are its documented ones (:data:`PECOS_DEFAULTS`)."""

    nr_splits: int = field(default=16, metadata={"help": "label-tree branching factor (PECOS default 16)"})
    max_leaf_size: int = field(default=100, metadata={"help": "labels per leaf cluster at most (PECOS default 100)"})
    spherical: bool = field(default=True, metadata={"help": "spherical k-means (PECOS default)"})
    kmeans_max_iter: int = field(default=20, metadata={"help": "k-means iterations per split (PECOS default 20)"})
    solver_type: str = field(default="L2R_L2LOSS_SVC_DUAL", metadata={"help": "linear solver (PECOS default)"})
    Cp: float = field(default=1.0, metadata={"help": "SVM cost of positives"})
    Cn: float = field(default=1.0, metadata={"help": "SVM cost of negatives"})
    threshold: float = field(default=0.1, metadata={"help": "weights with |w| below this are pruned"})
    max_iter: int = field(default=100, metadata={"help": "solver iterations"})
    eps: float = field(default=0.1, metadata={"help": "solver tolerance"})
    bias: float = field(default=1.0, metadata={"help": "bias feature appended to every row"})
    negative_sampling: str = field(default="tfn", metadata={"help": "tfn: teacher-forced negatives (PECOS default)"})
    beam_size: int = field(default=10, metadata={"help": "tree nodes kept per level at prediction"})
    only_topk: int = field(default=20, metadata={"help": "labels PECOS returns per query (raised to k if smaller)"})
    post_processor: str = field(default="l3-hinge", metadata={"help": "how level scores combine (PECOS default)"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.nr_splits < 2:
            raise HarnessError(f"nr_splits must be >= 2, got {self.nr_splits}")
        for name in ("max_leaf_size", "kmeans_max_iter", "beam_size", "only_topk", "max_iter"):
            if getattr(self, name) < 1:
                raise HarnessError(f"{name} must be >= 1, got {getattr(self, name)}")


class PecosXRLinearModel(SparsePeerModel):
    """XR-Linear from libpecos behind the model contract: PIFA, PECOS's label tree and its linear chain."""

    name = "pecos-xrlinear"
    Config = PecosXRLinearConfig
    library = "pecos"  # the import name; the distribution is libpecos (see library_version)
    citation = PECOS_CITATION
    params_exposed = True

    def __init__(self, config: PecosXRLinearConfig | None = None, **overrides: Any) -> None:
        self.require()  # the one clear error, before anything else, when the extra is missing
        super().__init__(config, **overrides)
        self._xlinear: Any = None

    @classmethod
    def tiny_config(cls) -> dict[str, Any]:
        """A three-level tree even on the 30-label synthetic set (the defaults would give one leaf)."""
        return {"nr_splits": 4, "max_leaf_size": 4, "tfidf_min_df": 1, "threads": 1}

    @classmethod
    def require(cls) -> ModuleType:
        """Import libpecos and its compiled core, or raise :class:`OptionalDependencyError` with how to install it."""
        try:
            import pecos
            import pecos.xmc.xlinear.model  # noqa: F401 - the compiled core loads here: fail now, not mid-fit
        except ImportError as exc:
            raise OptionalDependencyError(f"{INSTALL_HINT} ({exc})") from None
        return pecos

    @classmethod
    def library_version(cls) -> str | None:
        try:
            return importlib.metadata.version("libpecos")
        except importlib.metadata.PackageNotFoundError:
            return None

    # ------------------------------------------------------------------------------------ library hooks
    def _fit_matrix(self, X: sp.csr_matrix, Y: sp.csr_matrix, ctx: FitContext) -> None:
        """PIFA label features, hierarchical spherical k-means, then the recursive linear chain (Algorithms 1-2)."""
        from pecos.xmc import Indexer, LabelEmbeddingFactory
        from pecos.xmc.xlinear.model import XLinearModel

        cfg = self.config
        Y = sp.csr_matrix(Y, dtype=np.float32, copy=True)
        Y.data[:] = 1.0
        threads = self.library_threads()
        with _quiet_pecos():
            # A label no training point carries gets a zero PIFA vector and an empty ranker column: it is placed in
            # some leaf but never scores, which is all a linear model can do for it.
            label_feat = LabelEmbeddingFactory.create(Y, X, method="pifa", threads=threads)
            chain = Indexer.gen(
                label_feat,
                indexer_type="hierarchicalkmeans",
                nr_splits=cfg.nr_splits,
                max_leaf_size=cfg.max_leaf_size,
                spherical=cfg.spherical,
                kmeans_max_iter=cfg.kmeans_max_iter,
                seed=int(ctx.seed),
                threads=threads,
            )
            self._xlinear = XLinearModel.train(
                X,
                Y,
                C=chain,
                nr_splits=cfg.nr_splits,
                negative_sampling_scheme=cfg.negative_sampling,
                solver_type=cfg.solver_type,
                Cp=cfg.Cp,
                Cn=cfg.Cn,
                threshold=cfg.threshold,
                max_iter=cfg.max_iter,
                eps=cfg.eps,
                bias=cfg.bias,
                threads=threads,
                beam_size=cfg.beam_size,
                only_topk=cfg.only_topk,
                post_processor=cfg.post_processor,
            )

    def _predict_matrix(self, X: sp.csr_matrix, k: int) -> TopK:
        """Beam search down the label tree; PECOS's sparse scores become an ordered top-k.

        PECOS parallelises prediction over query rows, so more threads than rows only add OpenMP start-up and,
        on a busy machine, spin-waiting: a single Delicious query took 0.8 ms on one thread but 1.8 ms (p95
        55 ms) on two of two loaded cores. Threads are therefore capped at the number of rows.
        """
        cfg = self.config
        with _quiet_pecos():
            scores = self._xlinear.predict(
                X,
                beam_size=cfg.beam_size,
                only_topk=max(cfg.only_topk, k),
                post_processor=cfg.post_processor,
                threads=max(1, min(self.library_threads(), X.shape[0])),
            )
        return csr_to_topk(sp.csr_matrix(scores), k)

    def _save_library(self, folder: Path) -> None:
        """PECOS's own format: ``param.json`` plus ``W.npz``/``C.npz`` per tree level (no pickle)."""
        with _quiet_pecos():
            self._xlinear.save(str(folder))

    def _load_library(self, folder: Path) -> None:
        """Read with PECOS's loader (JSON and ``np.load`` of npz, pickles not allowed); Python-side model so that
        the weights stay inspectable for the card.
        """
        from pecos.xmc.xlinear.model import XLinearModel

        if not (Path(folder) / "param.json").is_file():
            raise HarnessError(f"{folder} holds no PECOS XLinearModel (param.json missing)")
        with _quiet_pecos():
            self._xlinear = XLinearModel.load(str(folder), is_predict_only=False)

    def _library_fitted(self) -> bool:
        return self._xlinear is not None

    # ------------------------------------------------------------------------------------------ card
    def tree_sizes(self) -> list[int]:
        """Nodes per level of the label tree (the last level is the labels): one weight column per node."""
        return [int(m.nr_labels) for m in self._xlinear.model.model_chain] if self._xlinear is not None else []

    def weight_nnz(self) -> list[int]:
        """Stored (unpruned) weights of each level's linear model, the matchers first and the ranker last."""
        return [int(m.W.nnz) for m in self._xlinear.model.model_chain] if self._xlinear is not None else []

    def library_settings(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "label_features": "pifa",
            "indexer": {
                "indexer_type": "hierarchicalkmeans",
                "nr_splits": cfg.nr_splits,
                "max_leaf_size": cfg.max_leaf_size,
                "spherical": cfg.spherical,
                "kmeans_max_iter": cfg.kmeans_max_iter,
            },
            "train": {
                "negative_sampling_scheme": cfg.negative_sampling,
                "solver_type": cfg.solver_type,
                "Cp": cfg.Cp,
                "Cn": cfg.Cn,
                "threshold": cfg.threshold,
                "max_iter": cfg.max_iter,
                "eps": cfg.eps,
                "bias": cfg.bias,
            },
            "predict": {"beam_size": cfg.beam_size, "only_topk": cfg.only_topk, "post_processor": cfg.post_processor},
            "label_tree_nodes_per_level": self.tree_sizes(),
            "weight_nnz_per_level": self.weight_nnz(),
            "model_in_memory": "Python-side XLinearModel (not PECOS's predict-only C++ model)",
        }

    def deviations(self) -> list[str]:
        cfg = self.config
        out = [
            "one XR-Linear model, one seed (PECOS's published XR-Linear tables are single models too; its "
            "XR-Transformer tables are ensembles)",
            "no selection on validation: PECOS's documented settings as given; validation is only scored",
        ]
        if self.library_version() not in (None, PECOS_VERSION):
            out.append(f"libpecos {self.library_version()} (adapter written for {PECOS_VERSION})")
        out.extend(
            f"{key} {getattr(cfg, key)} (PECOS default: {value})"
            for key, value in PECOS_DEFAULTS.items()
            if getattr(cfg, key) != value
        )
        return out

    def card(self) -> ModelCard:
        """The base card plus parameter counts: XR-Linear's weights are sparse, so params are stored non-zeros."""
        card = super().card()
        nnz = self.weight_nnz()
        if nnz:
            embedding = self.featurizer.vocabulary_size if self.featurizer is not None else 0
            card.params = {
                "embedding": embedding,
                "encoder": 0,
                "head": int(sum(nnz)),
                "head_matcher": int(sum(nnz[:-1])),
                "head_ranker": int(nnz[-1]),
                "total": int(sum(nnz)) + embedding,
            }
            card.config["params_note"] = (
                "params count stored non-zero weights of the sparse linear models (head: matchers + ranker, "
                "bias rows included) plus the TF-IDF idf vector as embedding (0 for BoW features)"
            )
        return card


def csr_to_topk(scores: sp.csr_matrix, k: int) -> TopK:
    """Each row's best ``min(k, stored)`` scores, by (score desc, label asc), as (n, m ≤ k) arrays.

    PECOS returns at most ``only_topk`` stored scores per row in no guaranteed order; the tie-break by label index
    makes the ranking independent of that order. The base class pads short rows with -1 / -inf.
    """
    scores = sp.csr_matrix(scores)
    n = scores.shape[0]
    counts = np.diff(scores.indptr)
    width = int(min(k, counts.max())) if n else 0
    indices = np.full((n, width), -1, dtype=np.int64)
    values = np.full((n, width), -np.inf, dtype=np.float32)
    for i in range(n):
        lo, hi = scores.indptr[i], scores.indptr[i + 1]
        cols, vals = scores.indices[lo:hi], scores.data[lo:hi]
        order = np.lexsort((cols, -vals))[:width]
        indices[i, : order.size] = cols[order]
        values[i, : order.size] = vals[order]
    return TopK(indices=indices, scores=values)
