"""The data layer: XC-repository readers, the dataset registry, loading, validation splits and statistics.

Names below are imported on first use, so ``import harness.data`` (and ``harness ls datasets``) stays
cheap: numpy/scipy load only when data is read, torch and pandas never.

Usage::

    from harness.data import load_dataset, get_split, dataset_stats
    ds = load_dataset("LF-AmazonTitles-131K", data_dir="~/xc")    # or a folder path, or "wordnet-nouns"
    fit_idx, val_idx, manifest = get_split(ds, seed=0)
    dataset_stats(ds)["avg_labels_per_point"]
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "load_dataset": "harness.data.layout",
    "detect_layout": "harness.data.layout",
    "XMCDataset": "harness.data.dataset",
    "SplitData": "harness.data.dataset",
    "DatasetSpec": "harness.data.catalog",
    "dataset_registry": "harness.data.catalog",
    "carve_validation": "harness.data.splits",
    "get_split": "harness.data.splits",
    "split_train": "harness.data.splits",
    "SplitManifest": "harness.data.splits",
    "dataset_stats": "harness.data.stats",
    "format_stats": "harness.data.stats",
    "read_sparse_matrix": "harness.data.formats",
    "write_sparse_matrix": "harness.data.formats",
    "read_combined": "harness.data.formats",
    "read_json_lines": "harness.data.formats",
    "read_lines": "harness.data.formats",
    "read_filter_pairs": "harness.data.formats",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'harness.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
