"""Parameter counts by part (embedding table, encoder, heads, total) and model sizes in bytes.

Usage::

    from harness.profiling.params import params_by_prefix, normalize_parts, module_bytes, dir_bytes
    params_by_prefix(net)                       # {"embedding": …, "encoder": …, "head": …, "total": …}
    normalize_parts(model.card().params)        # a model's own mapping, completed to the standard parts
    module_bytes(net)                           # parameters + buffers × dtype size (an in-memory estimate)
    dir_bytes(saved_folder)                     # bytes on disk of what ``model.save`` wrote

The standard parts let the report compare models whose internals are named differently: ``embedding`` is the
input lookup table(s), ``head`` everything after the text vector (classifier, shortlister, label tables), and
``encoder`` the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from harness.io import dir_bytes  # noqa: F401 - re-exported for the profiler and its callers

if TYPE_CHECKING:
    from torch import nn

STANDARD_PARTS = ("embedding", "encoder", "head", "total")

#: Top-level module-name prefixes of each part; a parameter matching none of them belongs to the encoder.
DEFAULT_PREFIXES: dict[str, tuple[str, ...]] = {
    "embedding": ("embedding", "embeddings", "embed", "word_embeddings", "emb"),
    "head": ("head", "heads", "classifier", "meta", "extreme", "clf", "label_emb", "label_embedding"),
}


def part_of(name: str, prefixes: Mapping[str, Sequence[str]] | None = None) -> str:
    """The part ("embedding", "head" or "encoder") a parameter or module name belongs to."""
    prefixes = DEFAULT_PREFIXES if prefixes is None else prefixes
    first = name.split(".", 1)[0]
    for part, names in prefixes.items():
        if any(first == p or first.startswith(p + "_") for p in names):
            return part
    return "encoder"


def params_by_prefix(module: nn.Module, prefixes: Mapping[str, Sequence[str]] | None = None) -> dict[str, int]:
    """Count parameters by part from their top-level module name; shared (tied) tensors count once.

    Args:
        module: the network.
        prefixes: part → top-level names (default :data:`DEFAULT_PREFIXES`); unmatched names go to "encoder".
    """
    prefixes = DEFAULT_PREFIXES if prefixes is None else prefixes
    counts = dict.fromkeys(STANDARD_PARTS, 0)
    for name, param in module.named_parameters():  # named_parameters() already skips tied duplicates
        part = part_of(name, prefixes)
        counts[part] = counts.get(part, 0) + param.numel()
        counts["total"] += param.numel()
    return counts


def normalize_parts(params: Mapping[str, Any]) -> dict[str, int]:
    """Complete a model-provided mapping (e.g. ``card().params``) to at least the standard parts.

    Extra keys (``head_hidden``, ``head_classifier`` …) are kept. A missing ``head`` is the sum of ``head_*``
    keys, a missing ``total`` the sum of embedding, encoder and head, and a missing part is 0.
    """
    out = {str(k): int(v) for k, v in params.items() if v is not None}
    if "head" not in out:
        out["head"] = sum(v for k, v in out.items() if k.startswith("head_"))
    for part in ("embedding", "encoder"):
        out.setdefault(part, 0)
    out.setdefault("total", out["embedding"] + out["encoder"] + out["head"])
    return out


def module_bytes(module: nn.Module) -> int:
    """Bytes of the parameters and buffers (numel × element size): what the weights occupy in memory.

    It approximates the saved size of a ``state_dict`` (a few KiB of container overhead aside); buffers count
    because BatchNorm statistics are needed to predict.
    """
    seen: set[int] = set()
    total = 0
    for tensor in [*module.parameters(), *module.buffers()]:
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        total += tensor.numel() * tensor.element_size()
    return total
