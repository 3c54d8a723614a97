"""Builders that derive the harness's own datasets from real sources (``harness data build NAME``).

Each entry maps a dataset name to a lazy ``"module:function"`` whose function has the signature
``build(out_dir: Path, source: Path | None = None) -> Path`` and writes a complete dataset folder.
"""

from __future__ import annotations

from harness.registry import Registry

builder_registry: Registry = Registry("dataset builder")
builder_registry.register_lazy("wordnet-nouns", "harness.data.builders.wordnet:build")
