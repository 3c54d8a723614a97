"""The real Bibtex and Delicious files (../shared) load with the XC repository's counts and checksums."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.data import dataset_stats, load_dataset

pytestmark = pytest.mark.shared

# XC repository table: features / labels / train points / test points.
EXPECTED = {"Bibtex": (1836, 159, 4880, 2515), "Delicious": (500, 983, 12920, 3185)}


def _sums(shared_xc: Path, name: str) -> dict[str, str]:
    out = {}
    for line in (shared_xc / "SHA256SUMS").read_text().splitlines():
        digest, rel = line.split(maxsplit=1)
        folder, _, file_name = rel.partition("/")
        if folder == name:
            out[file_name] = digest
    return out


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_dataset_counts_and_checksums(shared_xc: Path, name: str) -> None:
    ds = load_dataset(shared_xc / name)
    features, labels, n_train, n_test = EXPECTED[name]
    assert (ds.num_features, ds.num_labels, len(ds.train), len(ds.test)) == EXPECTED[name]
    assert ds.layout == "combined" and ds.name == name and (ds.A, ds.B) == (0.55, 1.5)
    assert ds.train.X.shape == (n_train, features) and ds.test.Y.shape == (n_test, labels)
    assert len(ds.feature_names) == features and len(ds.label_texts) == labels
    assert ds.files == _sums(shared_xc, name)  # every file, hashed as published


def test_real_dataset_by_name_equals_by_path(shared_xc: Path) -> None:
    by_name = load_dataset("delicious", data_dir=shared_xc)
    by_path = load_dataset(shared_xc / "Delicious")
    assert by_name.sha256 == by_path.sha256 and by_name.spec is by_path.spec
    stats = dataset_stats(by_name)
    assert stats["train_empty_rows"] == 10 and stats["test_empty_rows"] == 4  # lines starting with a space
    assert stats["avg_labels_per_point"] == pytest.approx(by_name.train.Y.nnz / 12920)
