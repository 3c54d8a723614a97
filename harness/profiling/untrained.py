"""Build a registered model untrained for a given size (L, V, D) and find the network the profiler counts.

Usage::

    from harness.profiling.untrained import build_untrained, profiling_target
    model = build_untrained("inceptionxml", num_labels=670_091, vocab_size=66_667, embedding_dim=300)
    module, inputs = profiling_target(model, batch_size=1)

The hooks a model provides (docs/profiling.md, "Adding a model"):

* ``Model.build_untrained(num_labels, vocab_size, embedding_dim=None, *, device="cpu", **overrides)``, a
  classmethod returning a predict-ready model with random weights: ``harness profile`` estimates cost before
  any training.
* ``model.profiling_target(batch_size)`` from the contract.

A model without ``build_untrained`` cannot be profiled before training (a clear error says so); a model whose
``profiling_target`` returns ``None`` reports FLOPs as not applicable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.models.contract import XMCModel


def build_untrained(
    name: str,
    *,
    num_labels: int,
    vocab_size: int,
    embedding_dim: int | None = None,
    device: str = "cpu",
    **overrides: Any,
) -> XMCModel:
    """A registered model with random weights for this label count, vocabulary size and embedding width.

    Args:
        name: registry name (or alias) of the model.
        num_labels: L, the label-space size.
        vocab_size: V, rows of the input embedding table (PAD and UNK included).
        embedding_dim: D (``None``: the model's default).
        device: where the network lives.
        overrides: config overrides, as for the model's constructor.
    """
    from harness.models import model_registry

    if num_labels < 1 or vocab_size < 1:
        raise HarnessError(f"num_labels and vocab_size must be positive (got {num_labels}, {vocab_size})")
    cls = model_registry.get(name)
    return cls.build_untrained(num_labels, vocab_size, embedding_dim, device=device, **overrides)


def profiling_target(model: XMCModel, batch_size: int = 1) -> tuple[Any, tuple[Any, ...]] | None:
    """``model.profiling_target(batch_size)``: the network and example inputs, or ``None`` (FLOPs n/a)."""
    return model.profiling_target(batch_size)


def tiny_overrides(cls: type) -> dict[str, Any]:
    """The model's ``tiny_config()`` overrides (fast test instances), or none."""
    return dict(cls.tiny_config())
