"""Helpers that write small XC-format files and dataset folders for the data-layer tests."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest


def write(path: Path, text: str | bytes) -> Path:
    """Write ``text`` to ``path`` (gzip-compressed when the name ends in .gz); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode() if isinstance(text, str) else text
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def json_lines(records: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def records(titles: list[str], labels: list[list[int]] | None = None, prefix: str = "p") -> list[dict]:
    out = []
    for i, title in enumerate(titles):
        rec: dict = {"uid": f"{prefix}{i}", "title": title}
        if labels is not None:
            rec["target_ind"] = labels[i]
            rec["target_rel"] = [1.0] * len(labels[i])
        out.append(rec)
    return out


TRAIN_TITLES = ["red apple", "green apple", "blue sky", "Deep Sea"]
TRAIN_LABELS = [[0, 1], [1], [2], []]
TEST_TITLES = ["red apple", "deep  sea", "night sky"]
TEST_LABELS = [[0], [3], [2, 3]]
LABEL_TITLES = ["fruit", "apple", "sky", "sea"]


@pytest.fixture
def json_dir(tmp_path: Path) -> Path:
    """A tiny LF dataset in the raw JSON-lines layout (4 labels, 4 train, 3 test, filter files)."""
    root = tmp_path / "tiny-lf"
    write(root / "trn.json.gz", json_lines(records(TRAIN_TITLES, TRAIN_LABELS)))
    write(root / "tst.json.gz", json_lines(records(TEST_TITLES, TEST_LABELS, prefix="t")))
    write(root / "lbl.json.gz", json_lines(records(LABEL_TITLES, prefix="l")))
    write(root / "filter_labels_test.txt", "0 1\n2 0\n")
    return root


def sparse_text(rows: list[list[int]], num_cols: int) -> str:
    return f"{len(rows)} {num_cols}\n" + "".join(" ".join(f"{i}:1" for i in r) + "\n" for r in rows)


@pytest.fixture
def sparse_dir(tmp_path: Path) -> Path:
    """The same labels in the split sparse layout, with 3-dimensional BoW features."""
    root = tmp_path / "tiny-sparse"
    write(root / "trn_X_Y.txt", sparse_text(TRAIN_LABELS, 4))
    write(root / "tst_X_Y.txt", sparse_text(TEST_LABELS, 4))
    write(root / "trn_X_Xf.txt", "4 3\n0:0.5 2:1.5\n1:1\n\n2:0.25\n")
    write(root / "tst_X_Xf.txt", "3 3\n0:1\n1:2\n")
    return root
