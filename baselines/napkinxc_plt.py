"""napkinXC's Probabilistic Label Tree as a harness model: "napkinxc-plt".

Usage::

    pip install -c constraints/cpu.txt -e .            # napkinxc==0.7.2 (a C++ library)
    model = model_registry.get("napkinxc-plt")()
    model.fit(train, val, ctx=FitContext(seed=0, num_labels=L))
    model.predict_split(test, k=5)

Settings are ``napkinxc.models.PLT``'s documented defaults: a hierarchical balanced 2-means tree with at most
100 labels under a pre-leaf node, logistic-loss LIBLINEAR node classifiers (C=10, eps 0.1, ≤100 iterations),
weights below 0.1 pruned, unit-norm features plus a bias feature, exact top-k search. napkinXC takes scipy
sparse matrices directly and writes its model into a folder of its own format, which :meth:`save` copies.

Why training runs on one thread by default: LIBLINEAR's dual solver shuffles with the C library's shared
``rand()``, which napkinXC's ``seed`` does not reach. Re-seeding it with ``srand(seed)`` just before ``fit``
makes a one-thread fit repeatable; with more threads the node trainings interleave their draws.
"""

from __future__ import annotations

import contextlib
import ctypes
import shutil
import tempfile
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from baselines.sparse_peer import SparseFeatureFields, SparsePeerModel
from harness.errors import HarnessError
from harness.models.config_types import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE
from harness.models.contract import FitContext, TopK

CITATION = (
    "Jasinska-Kobus et al. Probabilistic Label Trees for Extreme Multi-label Classification. arXiv:2009.11218; "
    "napkinXC (github.com/mwydmuch/napkinXC), Jasinska-Kobus et al., NeurIPS 2020 / JMLR"
)


#: A tree node has at least two children.
TREE_ARITY = {"min": 2}


@dataclass(frozen=True)
class PLTConfig(SparseFeatureFields):
    """``napkinxc.models.PLT`` arguments (same names); defaults are napkinXC 0.7.2's."""

    tree_type: str = field(default="hierarchicalKmeans", metadata={"help": "tree building (napkinXC default)"})
    arity: int = field(default=2, metadata={"help": "k of the k-means tree (default 2)", **TREE_ARITY})
    max_leaves: int = field(
        default=100, metadata={"help": "labels under a pre-leaf node (default 100)", **AT_LEAST_ONE}
    )
    kmeans_eps: float = field(default=1e-4, metadata={"help": "k-means tolerance", **POSITIVE})
    kmeans_balanced: bool = field(default=True, metadata={"help": "balanced k-means (default)"})
    loss: str = field(default="log", metadata={"help": "node classifier loss: log | l2 (squared hinge)"})
    liblinear_c: float = field(default=10.0, metadata={"help": "LIBLINEAR C (default 10)", **POSITIVE})
    liblinear_eps: float = field(default=0.1, metadata={"help": "LIBLINEAR tolerance", **POSITIVE})
    liblinear_max_iter: int = field(default=100, metadata={"help": "LIBLINEAR iterations", **AT_LEAST_ONE})
    weights_threshold: float = field(default=0.1, metadata={"help": "prune weights below this", **NON_NEGATIVE})
    ensemble: int = field(default=1, metadata={"help": "trees in the ensemble (default 1)", **AT_LEAST_ONE})
    tree_search_type: str = field(default="exact", metadata={"help": "exact | beam"})
    beam_search_width: int = field(
        default=10, metadata={"help": "beam width when tree_search_type='beam'", **AT_LEAST_ONE}
    )
    train_threads: int = field(
        default=1,
        metadata={"help": "threads for fit; 1 keeps it repeatable (see the module docstring)", **NON_NEGATIVE},
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.loss not in ("log", "l2"):
            raise HarnessError(f"loss must be 'log' or 'l2', got {self.loss!r}")


def _reseed_c_rand(seed: int) -> None:
    """``srand(seed)`` of the C library that LIBLINEAR's ``rand()`` draws from (no-op where unavailable)."""
    with contextlib.suppress(OSError, AttributeError):  # not a POSIX libc: the fit is simply not repeatable
        ctypes.CDLL(None).srand(ctypes.c_uint(seed))


class NapkinXCPLTModel(SparsePeerModel):
    """napkinXC's PLT behind the contract."""

    name = "napkinxc-plt"
    Config = PLTConfig
    library = "napkinxc"
    citation = CITATION

    def __init__(self, config: Any | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self._model: Any = None
        self._folder: Path | None = None

    @classmethod
    def tiny_config(cls) -> dict[str, Any]:
        """Pre-leaf nodes of 8 labels so the 30-label test problem builds a real tree."""
        return {"max_leaves": 8, "tfidf_min_df": 1}

    def library_settings(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "tree_type": cfg.tree_type,
            "arity": cfg.arity,
            "max_leaves": cfg.max_leaves,
            "kmeans_eps": cfg.kmeans_eps,
            "kmeans_balanced": cfg.kmeans_balanced,
            "loss": cfg.loss,
            "liblinear_c": cfg.liblinear_c,
            "liblinear_eps": cfg.liblinear_eps,
            "liblinear_max_iter": cfg.liblinear_max_iter,
            "weights_threshold": cfg.weights_threshold,
            "ensemble": cfg.ensemble,
            "tree_search_type": cfg.tree_search_type,
            "beam_search_width": cfg.beam_search_width,
            "threads": self.library_threads(),
        }

    def _new_folder(self) -> Path:
        """A private folder for napkinXC's files, removed with this object (napkinXC needs one on disk)."""
        folder = Path(tempfile.mkdtemp(prefix="napkinxc-plt-"))
        weakref.finalize(self, shutil.rmtree, folder, True)
        self._folder = folder
        return folder

    def _fit_matrix(self, X: sp.csr_matrix, Y: sp.csr_matrix, ctx: FitContext) -> None:
        self.require()
        from napkinxc.models import PLT

        folder = self._new_folder() / "model"
        settings = self.library_settings()
        settings["threads"] = self.config.train_threads or self.library_threads(0)
        self._model = PLT(str(folder), seed=ctx.seed, verbose=0, **settings)
        _reseed_c_rand(ctx.seed)
        self._model.fit(X, sp.csr_matrix(Y, dtype=np.float32))
        self._model.set_params(threads=self.library_threads())

    def _library_fitted(self) -> bool:
        return self._model is not None

    def _predict_matrix(self, X: sp.csr_matrix, k: int) -> TopK:
        rows = self._model.predict_proba(X, top_k=k)
        idx = np.full((X.shape[0], k), -1, dtype=np.int64)
        val = np.full((X.shape[0], k), -np.inf, dtype=np.float32)
        for r, pairs in enumerate(rows):
            for j, (label, prob) in enumerate(pairs[:k]):
                idx[r, j], val[r, j] = label, prob
        return TopK(idx, val)

    def _save_library(self, folder: Path) -> None:
        assert self._model is not None
        source = Path(self._model.get_params()["output"])
        if folder.exists():
            shutil.rmtree(folder)
        shutil.copytree(source, folder)

    def _load_library(self, folder: Path) -> None:
        from napkinxc.models import PLT

        if not (folder / "args.bin").is_file():
            raise HarnessError(f"{folder} does not hold a napkinXC model (no args.bin)")
        # Copied, so that the loaded model never writes into (or depends on) the saved folder.
        local = self._new_folder() / "model"
        shutil.copytree(folder, local)
        self._model = PLT(str(local), threads=self.library_threads())
        self._model.load()

    def deviations(self) -> list[str]:
        cfg, defaults = self.config, PLTConfig()
        out = ["no model selection on validation (validation metrics are recorded only)"]
        if cfg.train_threads != 1:
            out.append(f"fit on {cfg.train_threads or 'all'} threads: not repeatable under a seed")
        skip = {"features", "tfidf_min_df", "tfidf_max_features", "threads", "train_threads"}
        for name in self.library_settings():
            if name not in skip and getattr(cfg, name) != getattr(defaults, name):
                out.append(f"{name} {getattr(cfg, name)!r} (napkinXC default: {getattr(defaults, name)!r})")
        return out
