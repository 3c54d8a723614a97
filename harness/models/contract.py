"""The model contract every registered model follows, and the runner relies on.

Usage::

    from harness.models import model_registry
    model = model_registry.get("inceptionxml")(epochs=3)        # config overrides as keyword arguments
    report = model.fit(train, val, ctx=FitContext(seed=0, num_labels=L))
    top = model.predict_topk(["wooden chair", "sea bass"], k=5)  # TopK(indices int64 n×k, scores float32 n×k)
    model.save(out_dir); again = type(model).load(out_dir)       # safe: JSON + tensors, never pickle
    model.card()                                                 # parameters by part, config, deviations

A model is a class with a frozen-dataclass ``Config`` (its hyper-parameters with commented defaults), registered
lazily in :mod:`harness.models` so that listing models never imports torch.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:
    from harness.data.dataset import SplitData


@dataclass
class TopK:
    """Top-k predictions: label ``indices`` (int64, n×k, -1 where a model has fewer than k) and ``scores``."""

    indices: np.ndarray
    scores: np.ndarray

    def __post_init__(self) -> None:
        if self.indices.shape != self.scores.shape or self.indices.ndim != 2:
            raise ValueError(f"indices {self.indices.shape} and scores {self.scores.shape} must be equal n×k")


@dataclass
class FitContext:
    """What the runner tells a model about the run, beyond the data itself.

    Attributes:
        seed: seeds Python, numpy and torch; a model must be deterministic given it (on CPU).
        num_labels: size of the label space (columns of Y), which may exceed the labels seen in train.
        label_texts: label titles for LF datasets (``None`` otherwise).
        device: "cpu", "cuda" or "auto" (cuda when available).
        inv_prop: inverse propensities of the labels (for PSP@k on validation), or ``None``.
        progress: show a progress bar.
        work_dir: scratch folder for checkpoints of this fit (``None``: a temporary folder).
        on_progress: receives live progress events as dicts (``None``: nobody listens). Every event has a
            ``phase`` ("clustering", "train", "validate", ...); training events add ``epoch``, ``epochs`` (the
            current maximum), ``step``, ``steps`` (per epoch), ``loss`` and, after validation, ``val_p@1``.
            The runner turns them into the terminal's live progress; a listener must not raise.
        threads: CPU threads the runner gives this cell (the suite's ``threads``); a library with its own thread
            pool uses it, so every model of a comparison runs on the same cores. ``None``: every usable core.
        unlabelled_texts: the test split's texts *without* labels. Only for a model whose config asks for the
            paper's transductive vocabulary (InceptionXML counts train + test words, methods.md §1.1); every
            other model must ignore them, and a model that reads them records it on its card.
    """

    seed: int = 0
    num_labels: int = 0
    label_texts: Sequence[str] | None = None
    device: str = "auto"
    inv_prop: np.ndarray | None = None
    progress: bool = False
    work_dir: Path | None = None
    on_progress: Callable[[dict[str, Any]], None] | None = None
    unlabelled_texts: Sequence[str] | None = None
    threads: int | None = None

    def report(self, **event: Any) -> None:
        """Send one progress event to :attr:`on_progress` (a no-op when nobody listens)."""
        if self.on_progress is not None:
            self.on_progress(event)


@dataclass
class FitReport:
    """What happened during ``fit``: for the result record and the closing notes of a run."""

    train_seconds: float
    epochs_run: int
    best_epoch: int | None = None
    best_val: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    #: Why training ended: "plateau" (the validation metric stopped improving: converged), "max_epochs",
    #: "max_steps" or "time_budget" (cut by a budget: not converged), "fixed" (a model trained for a set
    #: length without validation-based stopping, e.g. the sparse peers), "no_validation".
    stop_reason: str = "fixed"
    #: True when the validation metric plateaued before any budget ended; None where the notion does not apply
    #: (non-iterative models such as kNN or the tree peers, which train to their own completion).
    converged: bool | None = None
    #: The schedule as run (warm-up, the epoch the cool-down started, steps), for iterative models.
    schedule: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelCard:
    """Describes a fitted model: sizes by part, the resolved configuration, and every deviation from the paper."""

    name: str
    params: dict[str, int]  # e.g. {"embedding": ..., "encoder": ..., "head": ..., "total": ...}
    config: dict[str, Any]
    embeddings: str | None = None
    deviations: list[str] = field(default_factory=list)
    citation: str | None = None


class XMCModel(abc.ABC):
    """Base class of every registered model: the whole contract the runner, profiler and tests rely on.

    A subclass must set ``name`` and ``Config`` and implement the abstract methods (``fit``, ``predict_topk``,
    ``save``, ``load``, ``card``). Everything else below is optional and declared here with its default, so no
    caller probes a model for an attribute: override what applies. docs/adding-a-model.md walks through it.
    """

    name: ClassVar[str]
    Config: ClassVar[type]

    #: Why FLOPs per query do not apply (e.g. a tree of sparse linear models), shown instead of a number;
    #: ``None``: the profiler counts FLOPs on :meth:`profiling_target`.
    flops_na_reason: ClassVar[str | None] = None
    #: The same seed and data give identical predictions on CPU. ``False`` where a library takes no seed; the
    #: determinism tests then skip the model and say why.
    deterministic: ClassVar[bool] = True
    #: ``card().params`` are the model's real parameter counts; ``False`` where a library does not expose them.
    params_exposed: ClassVar[bool] = True
    #: The model can predict from BoW feature rows (:meth:`predict_matrix`), so a BoW-only dataset still gets
    #: latency figures; text models leave it ``False``.
    predicts_from_features: ClassVar[bool] = False

    def __init__(self, config: Any | None = None, **overrides: Any) -> None:
        base = config if config is not None else self.Config()
        self.config = dataclasses.replace(base, **overrides) if overrides else base
        #: L, the label-space size, once fitted or loaded (0 before); the profiler splits FLOPs by it.
        self.num_labels = 0

    @classmethod
    def tiny_config(cls) -> dict[str, Any]:
        """Config overrides that make a fit take about a second on CPU: the contract tests and the smoke suite."""
        return {}

    @classmethod
    def build_untrained(
        cls,
        num_labels: int,
        vocab_size: int,
        embedding_dim: int | None = None,
        *,
        device: str = "cpu",
        **overrides: Any,
    ) -> XMCModel:
        """A predict-ready model of the given size with random weights, for ``harness profile`` before training.

        Neural models override it; the default says plainly that this model cannot be sized without training.
        """
        from harness.errors import HarnessError

        raise HarnessError(
            f"model {cls.name!r} cannot be built untrained: it would need a classmethod build_untrained(num_labels, "
            "vocab_size, embedding_dim=None, *, device='cpu', **overrides) (docs/adding-a-model.md)"
        )

    def predict_matrix(self, X: Any, k: int) -> TopK:
        """The ``k`` best labels of each BoW feature row of ``X`` (models with ``predicts_from_features`` only)."""
        from harness.errors import HarnessError

        raise HarnessError(f"{self.name} predicts from text only, not from BoW feature rows")

    @abc.abstractmethod
    def fit(self, train: SplitData, val: SplitData, *, ctx: FitContext) -> FitReport:
        """Train on ``train``; select the model (epoch, early stop) on ``val`` only, never on test."""

    @abc.abstractmethod
    def predict_topk(self, texts: Sequence[str], k: int) -> TopK:
        """Return the ``k`` best labels of each text, best first."""

    def predict_split(self, split: SplitData, k: int) -> TopK:
        """Predict for a whole split; text models use its titles, feature models override to use ``split.X``."""
        if split.texts is None:
            raise ValueError(f"{self.name} needs raw text, but this split has none (a BoW-only dataset)")
        return self.predict_topk(split.texts, k)

    def predict_split_scorings(self, split: SplitData, k: int) -> dict[str, TopK]:
        """Top-k under each scoring a model can report, when it has several; ``{}`` when it has one.

        SyncXML ranks by σ(ext) or by σ(ext)·σ(meta) (methods.md §2.6): the runner records every scoring's
        metrics under ``metrics_extra`` beside the reported ``metrics``, so neither is lost.
        """
        return {}

    def profiling_target(self, batch_size: int = 1) -> tuple[Any, tuple[Any, ...]] | None:
        """The ``torch.nn.Module`` that maps one batch of encoded queries to label scores, and example inputs.

        The profiler counts FLOPs per query on it (fvcore, eval mode) and must see every op a query costs,
        including shortlist gathers and candidate products. ``None`` for non-neural models (FLOPs: n/a).
        """
        return None

    @abc.abstractmethod
    def save(self, directory: Path) -> None:
        """Write everything needed to predict into ``directory`` (JSON and tensors; no pickles)."""

    @classmethod
    @abc.abstractmethod
    def load(cls, directory: Path) -> XMCModel:
        """Load a model written by :meth:`save`; must refuse to execute arbitrary code (safe loading)."""

    @abc.abstractmethod
    def card(self) -> ModelCard:
        """Parameter counts by part, the resolved configuration, embeddings used and deviations from the paper."""


def config_from_dict(cls: type, data: dict[str, Any], what: str) -> Any:
    """``cls(**data)`` for a saved or planned model config, refusing unknown keys (with the closest field) so that a
    typo or a config written by another model is an error rather than silently ignored. ``what`` names the config
    in the message.
    """
    from harness.errors import HarnessError
    from harness.registry import did_you_mean

    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        hint = did_you_mean(unknown[0], names)
        raise HarnessError(f"unknown {what} config keys: {unknown}.{hint}")
    return cls(**data)
