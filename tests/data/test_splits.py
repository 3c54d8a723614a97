"""Validation split: deterministic carving, manifest written once, reused, and tampering detected."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from harness.data import carve_validation, get_split, load_dataset
from harness.data.splits import manifest_path
from harness.errors import HarnessError
from tests.data.conftest import json_lines, records, write

#: Validation rows of carve_validation(20, seed=0, fraction=0.25), checked against a pure-Python splitmix64.
PINNED_VAL_20 = [1, 4, 5, 13, 18]


def test_carve_is_deterministic_disjoint_sorted_and_covering() -> None:
    fit, val = carve_validation(1000, seed=3, fraction=0.1)
    again = carve_validation(1000, seed=3, fraction=0.1)
    assert np.array_equal(fit, again[0]) and np.array_equal(val, again[1])
    assert fit.dtype == np.int64 and val.dtype == np.int64 and val.size == 100
    assert np.all(np.diff(fit) > 0) and np.all(np.diff(val) > 0)
    assert np.array_equal(np.union1d(fit, val), np.arange(1000)) and np.intersect1d(fit, val).size == 0
    other = carve_validation(1000, seed=4, fraction=0.1)[1]
    assert not np.array_equal(val, other)


def test_carve_keeps_both_sides_and_rejects_bad_input() -> None:
    fit, val = carve_validation(3, fraction=0.01)
    assert (fit.size, val.size) == (2, 1)
    with pytest.raises(HarnessError, match="fraction"):
        carve_validation(10, fraction=1.0)
    with pytest.raises(HarnessError, match="1 training point"):
        carve_validation(1)


@pytest.fixture
def big_json(tmp_path: Path) -> Path:
    root = tmp_path / "split-set"
    write(root / "trn.json", json_lines(records([f"t{i}" for i in range(50)], [[i % 5] for i in range(50)])))
    write(root / "tst.json", json_lines(records(["x", "y"], [[0], [1]], prefix="q")))
    return root


def test_manifest_written_once_and_reused(big_json: Path, isolated_harness_home: Path) -> None:
    ds = load_dataset(big_json)
    fit, val, manifest = get_split(ds, seed=0, fraction=0.2)
    path = manifest_path(ds, 0, 0.2)
    assert path.is_file() and path.is_relative_to(isolated_harness_home / "splits")
    stored = json.loads(path.read_text())
    assert stored["manifest_hash"] == manifest.manifest_hash and stored["dataset_sha256"] == ds.sha256
    assert (stored["n_train"], stored["n_val"], stored["n_test"]) == (50, 10, 2)
    mtime = path.stat().st_mtime_ns
    fit2, val2, manifest2 = get_split(load_dataset(big_json), seed=0, fraction=0.2)
    assert path.stat().st_mtime_ns == mtime  # not rewritten
    assert np.array_equal(fit, fit2) and np.array_equal(val, val2) and manifest2 == manifest
    _, val3, m3 = get_split(ds, seed=1, fraction=0.2)
    assert m3.manifest_hash != manifest.manifest_hash and not np.array_equal(val3, val)
    assert not list(path.parent.glob(".*.tmp"))  # atomic write left no temporary file


def test_changed_data_is_detected(big_json: Path, tmp_path: Path) -> None:
    get_split(load_dataset(big_json))
    text = (big_json / "trn.json").read_text().replace('"t7"', '"T7"')
    (big_json / "trn.json").write_text(text)
    with pytest.raises(HarnessError, match=r"the data of split-set changed .* files differing: trn\.json"):
        get_split(load_dataset(big_json))


def test_two_folders_with_one_name_keep_their_own_splits(big_json: Path, tmp_path: Path) -> None:
    """User folders are keyed by resolved path (issue 13, D3): a second `split-set` elsewhere is another dataset."""
    first = get_split(load_dataset(big_json))[2]
    other = tmp_path / "elsewhere" / "split-set"
    shutil.copytree(big_json, other)
    write(other / "tst.json", json_lines(records(["z"], [[0]], prefix="q")))
    second = get_split(load_dataset(other))[2]
    assert first.dataset_sha256 != second.dataset_sha256
    assert manifest_path(load_dataset(big_json), 0, 0.1) != manifest_path(load_dataset(other), 0, 0.1)


def test_edited_manifest_or_changed_generator_is_detected(big_json: Path) -> None:
    ds = load_dataset(big_json)
    get_split(ds)
    path = manifest_path(ds, 0, 0.1)
    data = json.loads(path.read_text())
    data["val_sha256"] = "0" * 64
    path.write_text(json.dumps(data))
    with pytest.raises(HarnessError, match="manifest was edited"):
        get_split(ds)
    data["manifest_hash"] = "x"  # pretend a consistent manifest from another generator
    from harness.data.splits import SplitManifest

    fake = SplitManifest.from_dict(data)
    data["manifest_hash"] = fake.compute_hash()
    path.write_text(json.dumps(data))
    with pytest.raises(HarnessError, match="the split method changed"):
        get_split(ds)


def test_validation_split_is_pinned_across_numpy_versions() -> None:
    # The split must not depend on numpy's RNG streams: these indices were produced by the splitmix64
    # ranking when the method was fixed; any change here silently changes every recorded split hash.
    fit, val = carve_validation(20, seed=0, fraction=0.25)
    assert val.tolist() == PINNED_VAL_20
    assert sorted(fit.tolist() + val.tolist()) == list(range(20))


def test_split_train_returns_the_manifest_rows_as_splits(big_json: Path) -> None:
    from harness.data import split_train

    ds = load_dataset(big_json)
    fit_idx, val_idx, manifest = get_split(ds, seed=0, fraction=0.1)
    fit, val, again = split_train(ds, seed=0, fraction=0.1)
    assert again.manifest_hash == manifest.manifest_hash
    assert (ds.train.Y[fit_idx] != fit.Y).nnz == 0 and (ds.train.Y[val_idx] != val.Y).nnz == 0
    assert fit.texts == [ds.train.texts[i] for i in fit_idx]
    assert val.uids == [ds.train.uids[i] for i in val_idx]
