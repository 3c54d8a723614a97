"""In-memory containers for a loaded XMC dataset: one :class:`SplitData` per split inside an :class:`XMCDataset`.

Usage::

    from harness.data import load_dataset
    ds = load_dataset("LF-AmazonTitles-131K", data_dir="~/xc")
    ds.train.Y            # csr (n_train, L), binary float32
    ds.test.texts[:3]     # titles, or None for BoW-only layouts
    ds.sha256             # identity recorded in every result
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.data.catalog import DatasetSpec


@dataclass
class SplitData:
    """One split (train or test) as published.

    Attributes:
        Y: binary float32 CSR label matrix, one row per point.
        texts: the input text of each point (``title`` for the *Titles sets), or ``None`` without raw text.
        X: the bag-of-words features as shipped (CSR), or ``None`` when not shipped or not loaded.
        uids: the points' ids from the JSON files, or ``None``.
    """

    Y: sp.csr_matrix
    texts: list[str] | None = None
    X: sp.csr_matrix | None = None
    uids: list[str] | None = None

    def __post_init__(self) -> None:
        # Rows of Y, X, texts and uids are aligned by position; a mismatch would silently pair the
        # wrong labels with a text, so it is refused here once rather than at every use.
        n = self.Y.shape[0]
        for what, size in (("texts", self.texts), ("X rows", self.X), ("uids", self.uids)):
            if size is not None:
                m = size.shape[0] if sp.issparse(size) else len(size)
                if m != n:
                    raise HarnessError(f"split has {n} label rows but {m} {what}")

    def take(self, idx: Sequence[int] | np.ndarray) -> SplitData:
        """Rows ``idx`` of this split (labels, texts, features and ids alike), e.g. the validation part of train."""
        return SplitData(
            Y=self.Y[idx],
            texts=[self.texts[i] for i in idx] if self.texts is not None else None,
            X=self.X[idx] if self.X is not None else None,
            uids=[self.uids[i] for i in idx] if self.uids is not None else None,
        )

    def __len__(self) -> int:
        return self.Y.shape[0]


@dataclass
class XMCDataset:
    """A train/test XMC dataset with the metadata needed to evaluate and to record it.

    Attributes:
        name: canonical registry name, or the folder name for a user's own data.
        root: the folder it was read from (``None`` for in-memory data).
        layout: ``"json"``, ``"sparse"``, ``"combined"`` or ``"rawtext"`` (see ``layout.detect_layout``).
        train, test: the published splits, used as they are.
        num_labels: L, the label-space size (columns of Y).
        num_features: BoW dimension, or ``None`` when no BoW features exist.
        label_texts: label titles (LF sets' ``lbl.json.gz``) or label names, or ``None``.
        feature_names: BoW vocabulary (``features.txt``), or ``None``.
        A, B: propensity constants (Jain et al. 2016) used for PSP@k.
        filter_test, filter_train: ``(n, 2)`` reciprocal-pair filters of LF sets, or ``None``.
        files: ``relative path -> sha256`` of every data file read.
        spec: the registry entry, or ``None`` for a user's own folder.
        rehearsal: the folder is a synthetic stand-in written by ``harness data synth`` (it carries the real
            dataset's name and layout, not its data); results and reports say so.
    """

    name: str
    root: Path | None
    layout: str
    train: SplitData
    test: SplitData
    num_labels: int
    num_features: int | None = None
    label_texts: list[str] | None = None
    feature_names: list[str] | None = None
    A: float = 0.55
    B: float = 1.5
    filter_test: np.ndarray | None = None
    filter_train: np.ndarray | None = None
    files: dict[str, str] = field(default_factory=dict)
    spec: DatasetSpec | None = None
    rehearsal: bool = False

    def __post_init__(self) -> None:
        for split, part in (("train", self.train), ("test", self.test)):
            if part.Y.shape[1] != self.num_labels:
                raise HarnessError(
                    f"{self.name}: {split} labels have {part.Y.shape[1]} columns, expected {self.num_labels}"
                )
            if part.X is not None and self.num_features is not None and part.X.shape[1] != self.num_features:
                raise HarnessError(
                    f"{self.name}: {split} features have {part.X.shape[1]} columns, expected {self.num_features}"
                )
        if self.label_texts is not None and len(self.label_texts) != self.num_labels:
            raise HarnessError(f"{self.name}: {len(self.label_texts)} label texts for {self.num_labels} labels")
        names, dim = self.feature_names, self.num_features
        if names is not None and dim is not None and len(names) != dim:
            raise HarnessError(f"{self.name}: {len(names)} feature names for {dim} features")

    @property
    def sha256(self) -> str:
        """Dataset identity: SHA-256 of the ``SHA256SUMS``-style listing of its files, sorted by path.

        Hashing the listing (not the parsed arrays) ties a result to the exact files on disk, and is
        cheap to recompute from a published ``SHA256SUMS``.
        """
        listing = "".join(f"{digest}  {rel}\n" for rel, digest in sorted(self.files.items()))
        return hashlib.sha256(listing.encode()).hexdigest()

    @property
    def is_lf(self) -> bool:
        """True for label-feature ("LF") datasets, whose labels have their own texts."""
        return self.spec.lf if self.spec is not None else self.label_texts is not None

    @property
    def has_texts(self) -> bool:
        """True when both splits carry raw text (needed by text encoders such as InceptionXML)."""
        return self.train.texts is not None and self.test.texts is not None

    def label_freq(self, split: str = "train") -> np.ndarray:
        """Number of points of ``split`` carrying each label (int64, length L); train by default.

        Propensities are computed from these train counts, never from test.
        """
        Y = {"train": self.train.Y, "test": self.test.Y}[split]
        return np.bincount(Y.indices, minlength=self.num_labels).astype(np.int64)

    def sha256sums(self) -> str:
        """The files' checksums in ``sha256sum`` format (what ``harness data info`` prints)."""
        return "".join(f"{digest}  {rel}\n" for rel, digest in sorted(self.files.items()))

    def __repr__(self) -> str:
        return (
            f"XMCDataset({self.name!r}, layout={self.layout!r}, train={len(self.train)}, test={len(self.test)}, "
            f"labels={self.num_labels}, sha256={self.sha256[:12]})"
        )
