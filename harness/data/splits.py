"""Deterministic validation split carved from the published train set, fixed once by a manifest on disk.

The published train/test splits are used as they are; model selection needs a validation set, which
is carved from train by ranking rows on a fixed integer hash of (seed, row) (splitmix64), which, unlike a
numpy Generator's stream, cannot change between numpy versions. The first call writes a manifest (index hashes plus
the dataset's sha256) under ``$HARNESS_HOME/splits/`` (keyed by the registered name, or for a user's own folder
by its name and resolved path); later calls recompute and must match it.

Usage::

    from harness.data import load_dataset
    from harness.data.splits import get_split
    ds = load_dataset("wordnet-nouns")
    fit_idx, val_idx, manifest = get_split(ds, seed=0, fraction=0.1)
    manifest.manifest_hash        # recorded in every result
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harness.errors import HarnessError
from harness.paths import harness_home
from harness.results import write_json_atomic

if TYPE_CHECKING:
    from harness.data.dataset import SplitData, XMCDataset

#: How the indices are drawn; part of the manifest so a change of method is visible.
METHOD = "rank rows by splitmix64(row ^ splitmix64(seed)); the round(fraction*n_train) lowest -> val; both sorted"

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """Vectorised splitmix64 finaliser on uint64 (wrapping arithmetic): a fixed, well-mixed hash."""
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def carve_validation(n_train: int, seed: int = 0, fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(n_train)`` into sorted, disjoint ``(fit_idx, val_idx)`` int64 arrays covering it.

    Args:
        n_train: number of training points.
        seed: any non-negative integer; the same seed gives the same split on every platform and numpy version.
        fraction: share of train held out for validation, in (0, 1); at least one point goes to each
            side when ``n_train >= 2``.
    """
    if not 0.0 < fraction < 1.0:
        raise HarnessError(f"validation fraction must be in (0, 1), got {fraction}")
    if n_train < 2:
        raise HarnessError(f"cannot carve a validation set from {n_train} training point(s)")
    n_val = min(max(math.floor(fraction * n_train + 0.5), 1), n_train - 1)  # round half up, keep both sides
    if seed < 0:
        raise HarnessError(f"split seed must be non-negative, got {seed}")
    rows = np.arange(n_train, dtype=np.uint64)
    keys = _splitmix64(rows ^ _splitmix64(np.array([seed % 2**64], dtype=np.uint64))[0])
    perm = np.lexsort((rows, keys))  # ties (practically impossible) broken by row index
    return np.sort(perm[n_val:]).astype(np.int64), np.sort(perm[:n_val]).astype(np.int64)


def _array_sha256(idx: np.ndarray) -> str:
    # Hash a fixed byte order and dtype so the digest does not depend on the platform.
    return hashlib.sha256(np.ascontiguousarray(idx, dtype="<i8").tobytes()).hexdigest()


@dataclass(frozen=True)
class SplitManifest:
    """Record of one validation split: enough to detect a changed dataset or a changed generator."""

    dataset: str
    dataset_sha256: str
    files: dict[str, str]
    n_train: int
    n_val: int
    n_test: int
    seed: int
    fraction: float
    fit_sha256: str
    val_sha256: str
    method: str = METHOD
    numpy_version: str = field(default=np.__version__, compare=False)  # informational only
    manifest_hash: str = ""

    def content(self) -> dict:
        """The fields that identify the split (everything except the informational numpy version)."""
        out = dataclasses.asdict(self)
        out.pop("manifest_hash")
        out.pop("numpy_version")
        return out

    def compute_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.content(), sort_keys=True).encode()).hexdigest()

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SplitManifest:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})


def manifest_key(dataset: XMCDataset | str) -> str:
    """The folder name of a dataset's manifests: its registered name, or for a user's own folder (no registry
    entry) and for rehearsal data its name plus a short hash of the folder's resolved path.

    Two different folders both called ``mydata`` then get two manifests, and neither a folder named like a
    registered dataset (``/tmp/wordnet-nouns``) nor a synthetic rehearsal of one ever writes into that dataset's
    manifest. A registered dataset keeps its plain name, so its existing manifests stay where they are; cell
    keys record the manifest's content hash, never its path.
    """
    if isinstance(dataset, str):
        return dataset
    if dataset.root is None or (dataset.spec is not None and not dataset.rehearsal):
        return dataset.name
    where = hashlib.sha256(str(Path(dataset.root).resolve()).encode()).hexdigest()[:12]
    return f"{dataset.name}-{where}"


def manifest_path(dataset: XMCDataset | str, seed: int, fraction: float) -> Path:
    """Where the manifest of ``(dataset, seed, fraction)`` lives under ``$HARNESS_HOME/splits/``.

    ``dataset`` is the loaded dataset (see :func:`manifest_key`), or a registered dataset's name.
    """
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", manifest_key(dataset))
    return harness_home() / "splits" / safe / f"seed{seed}-val{fraction:g}.json"


def get_split(
    dataset: XMCDataset, seed: int = 0, fraction: float = 0.1
) -> tuple[np.ndarray, np.ndarray, SplitManifest]:
    """Return ``(fit_idx, val_idx, manifest)`` for ``dataset``, writing the manifest on first use.

    Raises:
        HarnessError: a manifest exists and the recomputed split differs: the dataset's files changed
            (sha256 differs), or the index generator changed (same data, different indices).
    """
    fit, val = carve_validation(len(dataset.train), seed, fraction)
    fresh = SplitManifest(
        dataset=dataset.name,
        dataset_sha256=dataset.sha256,
        files=dict(sorted(dataset.files.items())),
        n_train=len(dataset.train),
        n_val=int(val.size),
        n_test=len(dataset.test),
        seed=seed,
        fraction=fraction,
        fit_sha256=_array_sha256(fit),
        val_sha256=_array_sha256(val),
    )
    fresh = dataclasses.replace(fresh, manifest_hash=fresh.compute_hash())
    path = manifest_path(dataset, seed, fraction)
    if not path.is_file():
        write_json_atomic(path, fresh.to_dict())  # tmp + rename: never a half-written manifest
        return fit, val, fresh
    try:
        stored = SplitManifest.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError, KeyError) as exc:
        raise HarnessError(f"{path}: unreadable split manifest ({exc}); delete it to recreate the split") from None
    if stored.content() == fresh.content() and stored.manifest_hash == fresh.manifest_hash:
        return fit, val, stored
    raise HarnessError(_mismatch(path, stored, fresh))


def _mismatch(path: Path, stored: SplitManifest, fresh: SplitManifest) -> str:
    if stored.dataset_sha256 != fresh.dataset_sha256:
        changed = sorted(
            rel for rel in set(stored.files) | set(fresh.files) if stored.files.get(rel) != fresh.files.get(rel)
        )
        return (
            f"the data of {fresh.dataset} changed since its split was fixed in {path}: dataset sha256 "
            f"{stored.dataset_sha256[:12]} -> {fresh.dataset_sha256[:12]}; files differing: {', '.join(changed)}. "
            "Restore the original files, or delete the manifest to fix a new split (results will not be comparable)."
        )
    if stored.manifest_hash != stored.compute_hash():
        return f"{path}: the split manifest was edited (its manifest_hash does not match its content)"
    return (
        f"the recomputed validation split of {fresh.dataset} differs from {path} although the data is unchanged: "
        f"the split method changed (manifest written with numpy {stored.numpy_version}, now {np.__version__}; "
        f"method {stored.method!r}). Pin numpy, or delete the manifest to fix a new split."
    )


def split_train(
    dataset: XMCDataset, seed: int = 0, fraction: float = 0.1
) -> tuple[SplitData, SplitData, SplitManifest]:
    """``(fit, val, manifest)``: the training split cut into the part a model fits and its validation part."""
    fit_idx, val_idx, manifest = get_split(dataset, seed=seed, fraction=fraction)
    return dataset.train.take(fit_idx), dataset.train.take(val_idx), manifest
