"""Saving and loading the torch models of this package: ``config.json`` beside a ``weights.pt`` state dict.

InceptionXML and the shortlist models (SyncXML, LightXML-style) store their files the same way, so the safety
rules live here once: the metadata is plain JSON naming the model, and tensors are read with
``weights_only=True`` so that loading a results folder can never execute code from it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from harness.errors import HarnessError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.pt"


def write_model(directory: Path, meta: dict[str, Any], net: nn.Module) -> Path:
    """Write ``meta`` as ``config.json`` and ``net``'s state dict (on CPU) as ``weights.pt``; returns the folder."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CONFIG_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    torch.save(state, directory / WEIGHTS_FILE)
    return directory


def read_meta(directory: Path, model_name: str) -> dict[str, Any]:
    """``config.json`` of a model saved by :func:`write_model`; refuses a missing file or another model's folder."""
    path = Path(directory) / CONFIG_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise HarnessError(f"{directory} does not hold a saved {model_name} model ({exc.filename})") from exc
    if meta.get("model") != model_name:
        raise HarnessError(f"{directory} holds a {meta.get('model')!r} model, not {model_name!r}")
    return meta


def load_weights(net: nn.Module, directory: Path) -> nn.Module:
    """Fill ``net`` (built with the saved shapes) from ``weights.pt``, tensors only; returns it in eval mode."""
    state = torch.load(Path(directory) / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    net.load_state_dict(state)
    return net.eval()


def describe_embeddings(info: dict[str, Any] | None) -> str | None:
    """The model card's one-line account of the word vectors used (name, size, source, out-of-vocabulary rates)."""
    if info is None:
        return None
    composed = info.get("composed_words")
    return (
        f"{info['name']} (D={info['dim']}; {info['source']}; OOV {info['oov_rate']:.1%} of words, "
        f"{info['oov_token_rate']:.1%} of tokens"
        + (f"; {composed} words composed from word pieces" if composed else "")
        + ")"
    )
