"""Datasets of a suite for the runner: where each one is, whether it is missing, and its identity for cell keys.

Usage::

    from harness.runner.dataset_ref import dataset_ref, dataset_identity
    name, ref = dataset_ref("wordnet-nouns", data_dir=None)    # ("wordnet-nouns", "wordnet-nouns")
    name, ref = dataset_ref("synthetic-tiny", None)            # generated on first use; ref is its folder
    info = dataset_identity(ref, None, val_fraction=0.1, split_seed=0)   # sha256, split hash, sizes, A, B

A dataset whose folder cannot be found raises :class:`MissingDatasetError` (with the download instructions of
its registry entry), which ``--missing skip`` turns into a skipped dataset; every other data error is fatal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.registry import did_you_mean


def dataset_ref(name: str, data_dir: str | None) -> tuple[str, str]:
    """``(canonical name, what load_dataset receives)``; raises MissingDatasetError when it is not on disk.

    A folder given by path is a user's own dataset, filed under its folder name, unless it is a registered
    dataset's download folder (its exact folder name) or the shipped folder of an embedded one. A user folder
    named like a registered or synthetic dataset (``/tmp/wordnet-nouns``) is refused: its results would be
    filed and compared under that dataset's name.
    """
    from harness.data.catalog import dataset_registry
    from harness.data.layout import registered_name_clash, resolve
    from harness.runner.synthetic import SYNTHETIC, is_synthetic, materialize

    if is_synthetic(name):
        return name.lower(), str(materialize(name))
    if name not in dataset_registry and not Path(name).expanduser().is_dir():
        # A typo is an error even under --missing skip, which is only for registered datasets not downloaded.
        known = [*dataset_registry.names(), *SYNTHETIC]
        raise HarnessError(
            f"unknown dataset {name!r}.{did_you_mean(name, known)} Known: {', '.join(known)}, or a dataset folder"
        )
    if name in dataset_registry and dataset_registry.get(name).embedded:
        root, spec = resolve(name, data_dir)  # a damaged embedded dataset is an error, never "missing"
    else:
        try:
            root, spec = resolve(name, data_dir)
        except HarnessError as exc:
            raise MissingDatasetError(str(exc)) from None
    if spec is None:  # a user's own folder
        _refuse_name_clash(root, registered_name_clash(root))
        return root.resolve().name, str(root)
    if spec.embedded or _names_registered(name):
        return spec.name, spec.name
    return spec.name, str(root)  # a download folder given by path: load it from there, as that dataset


def _names_registered(text: str) -> bool:
    """True when ``text`` is read as a registered name, not as a path (as harness.data.layout.resolve does)."""
    from harness.data.catalog import dataset_registry

    looks_like_path = any(c in text for c in "/\\") or text[:1] in ".~"
    return not looks_like_path and text in dataset_registry


def _refuse_name_clash(root: Path, registered: str | None) -> None:
    from harness.paths import harness_home
    from harness.runner.synthetic import is_synthetic

    base = root.resolve().name
    clash = registered
    if clash is None and is_synthetic(base):
        if root.resolve() == (harness_home() / "synthetic" / base.lower()).resolve():
            return  # the generated synthetic folder itself
        clash = base.lower()
    if clash is None:
        return
    raise HarnessError(
        f"{root}: a folder of your own named {base!r} would be filed, and compared, under the name of the "
        f"{'synthetic' if registered is None else 'registered'} dataset {clash!r}, but it is not that dataset's "
        f"data. Rename the folder (for example to {base}-own). To run {clash} itself, pass --datasets {clash}"
        + ("" if registered is None else " (with --data-dir for a downloaded one)")
        + "."
    )


class MissingDatasetError(HarnessError):
    """A dataset of the suite is not on disk (the message says where to download it and the layout)."""


def dataset_identity(ref: str, data_dir: str | None, val_fraction: float, split_seed: int) -> dict[str, Any]:
    """Load the dataset once and return its ``DatasetInfo`` (sha256, split manifest hash, sizes, A, B)."""
    from harness.data import get_split, load_dataset

    ds = load_dataset(ref, data_dir=data_dir)
    _, val_idx, manifest = get_split(ds, seed=split_seed, fraction=val_fraction)
    info: dict[str, Any] = {
        "name": ds.name,
        "sha256": ds.sha256,
        "split_manifest_hash": manifest.manifest_hash,
        "n_train": len(ds.train) - int(val_idx.size),
        "n_val": int(val_idx.size),
        "n_test": len(ds.test),
        "n_labels": ds.num_labels,
        "A": ds.A,
        "B": ds.B,
    }
    if ds.rehearsal:
        info["rehearsal"] = True
    return info
