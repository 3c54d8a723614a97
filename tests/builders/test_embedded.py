"""Embedded datasets: checksum verification (tampering, missing files, caching) and the shipped wordnet-nouns."""

from __future__ import annotations

import gzip
import json
import re
import shutil
from pathlib import Path

import pytest

from harness.data import embedded
from harness.errors import HarnessError
from harness.registry import UnknownNameError

NAME = "wordnet-nouns"


@pytest.fixture
def embedded_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped folder under a monkeypatched EMBEDDED_ROOT, with a fresh verification cache."""
    root = tmp_path / "embedded"
    shutil.copytree(embedded.EMBEDDED_ROOT / NAME, root / NAME)
    monkeypatch.setattr(embedded, "EMBEDDED_ROOT", root)
    embedded.clear_verification_cache()
    yield root / NAME
    embedded.clear_verification_cache()


def read_jsonl(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def test_tampered_file_is_detected(embedded_copy: Path) -> None:
    data = bytearray((embedded_copy / "tst.json.gz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (embedded_copy / "tst.json.gz").write_bytes(bytes(data))
    with pytest.raises(HarnessError, match=r"checksum mismatch for .*tst\.json\.gz") as info:
        embedded.verified_embedded_dir(NAME)
    assert "harness data build wordnet-nouns" in str(info.value)


def test_missing_file_is_named(embedded_copy: Path) -> None:
    (embedded_copy / "lbl.json.gz").unlink()
    with pytest.raises(HarnessError, match=r"lbl\.json\.gz is listed in SHA256SUMS but missing"):
        embedded.verified_embedded_dir(NAME)
    (embedded_copy / "SHA256SUMS").unlink()
    assert embedded.list_embedded() == []  # without its checksums a folder is not an embedded dataset


def test_bad_sums_line_is_rejected(embedded_copy: Path) -> None:
    sums = embedded_copy / "SHA256SUMS"
    sums.write_text(sums.read_text(encoding="ascii") + f"{'0' * 64}  ../escape\n", encoding="ascii")
    with pytest.raises(HarnessError, match=r"SHA256SUMS:6 is not a 'sha256  file' line"):
        embedded.verified_embedded_dir(NAME)


def test_verification_is_cached_per_process(embedded_copy: Path) -> None:
    assert embedded.verified_embedded_dir(NAME) == embedded_copy.resolve()
    (embedded_copy / "README.md").write_text("changed", encoding="utf-8")
    assert embedded.verified_embedded_dir(NAME) == embedded_copy.resolve()  # cached: not re-hashed
    embedded.clear_verification_cache()
    with pytest.raises(HarnessError, match="README.md"):
        embedded.verified_embedded_dir(NAME)


def test_unknown_name_suggests_the_closest(embedded_copy: Path) -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'wordnet-nouns'"):
        embedded.verified_embedded_dir("wordnet-noun")


def test_shipped_wordnet_nouns_verifies_and_is_consistent() -> None:
    embedded.clear_verification_cache()
    assert NAME in embedded.list_embedded()
    folder = embedded.verified_embedded_dir(NAME)
    train, test = read_jsonl(folder / "trn.json.gz"), read_jsonl(folder / "tst.json.gz")
    label_rows = read_jsonl(folder / "lbl.json.gz")
    n_labels = len(label_rows)
    label_uids = [lab["uid"] for lab in label_rows]
    assert len(set(label_uids)) == n_labels

    def key(title: str) -> str:
        return " ".join(title.casefold().split())

    assert not {key(p["title"]) for p in train} & {key(p["title"]) for p in test}  # de-duplicated
    uids = [p["uid"] for p in train + test]
    assert len(uids) == len(set(uids))
    carried = set()
    for p in train + test:
        assert p["target_ind"], p["uid"]  # every point has a label
        assert p["target_ind"] == sorted(set(p["target_ind"]))
        assert p["target_ind"][0] >= 0 and p["target_ind"][-1] < n_labels
        assert len(p["target_rel"]) == len(p["target_ind"])
        assert p["uid"] not in {label_uids[i] for i in p["target_ind"]}  # never its own label
        carried.update(p["target_ind"])
    assert carried == set(range(n_labels))  # every label is carried by some point

    # The README's statistics describe these very files.
    readme = (folder / "README.md").read_text(encoding="utf-8")

    def stat(name: str) -> int:
        return int(re.search(rf"^\| {name} \| (\d+) \|$", readme, re.MULTILINE).group(1))

    assert (stat("train_points"), stat("test_points"), stat("labels")) == (len(train), len(test), n_labels)
    assert stat("train_nnz") == sum(len(p["target_ind"]) for p in train)
    assert 0.25 <= len(test) / (len(train) + len(test)) <= 0.35
