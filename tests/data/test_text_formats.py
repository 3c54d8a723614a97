"""JSON-lines, one-text-per-line, label-name and filter-pair readers, including every malformed input."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from harness.data import formats
from harness.data.formats import read_filter_pairs, read_json_lines, read_label_names, read_lines
from harness.errors import DataFormatError
from tests.data.conftest import json_lines, records, write


@pytest.mark.parametrize("name", ["trn.json.gz", "trn.json", "trn.raw.json.gz"])
def test_json_lines_read_uids_titles_labels(tmp_path: Path, name: str) -> None:
    path = write(tmp_path / name, json_lines(records(["a b", "ç ü"], [[2, 0], []])))
    recs = read_json_lines(path)
    assert recs.uids == ["p0", "p1"] and recs.texts == ["a b", "ç ü"]
    Y = recs.label_matrix(3)
    assert Y.toarray().tolist() == [[1, 0, 1], [0, 0, 0]] and Y.dtype == np.float32


def test_json_lines_other_text_field_and_label_file_without_targets(tmp_path: Path) -> None:
    path = write(tmp_path / "trn.json", '{"uid": 7, "title": "t", "content": "long text", "target_ind": [0]}\n')
    assert read_json_lines(path, text_field="content").texts == ["long text"]
    assert read_json_lines(path).uids == ["7"]  # integer uids become strings
    lbl = write(tmp_path / "lbl.json.gz", '{"uid": "x", "title": "label"}\n')
    assert read_json_lines(lbl, targets=False).texts == ["label"]


@pytest.mark.parametrize(
    ("body", "line", "problem"),
    [
        ('{"uid": 1, "title": "a", "target_ind": [0]}\n{"uid": 2, "title": "b", \n', 2, r"invalid JSON \("),
        ('{"uid": 1, "target_ind": [0]}\n', 1, "missing field 'title'"),
        ('{"uid": 1, "title": "a"}\n', 1, "missing field 'target_ind'"),
        ('{"title": "a", "target_ind": []}\n', 1, "missing field 'uid'"),
        ('{"uid": 1, "title": null, "target_ind": []}\n', 1, "field 'title' must be a string"),
        ('{"uid": 1, "title": "a", "target_ind": [1.5]}\n', 1, "target_ind must be a list of integers"),
        ('{"uid": 1, "title": "a", "target_ind": []}\n\n', 2, "empty line"),
        ("[1, 2]\n", 1, "expected a JSON object"),
    ],
)
def test_malformed_json_lines_name_file_and_line(tmp_path: Path, body: str, line: int, problem: str) -> None:
    path = write(tmp_path / "tst.json.gz", body)
    with pytest.raises(DataFormatError, match=rf"tst\.json\.gz:{line}: {problem}"):
        read_json_lines(path)


def test_json_non_utf8_names_line(tmp_path: Path) -> None:
    path = write(
        tmp_path / "trn.json", b'{"uid": 1, "title": "ok", "target_ind": []}\n{"uid": 2, "title": "caf\xe9"}\n'
    )
    with pytest.raises(DataFormatError, match=r"trn\.json:2: not valid UTF-8 \(byte 0xe9 at column 25\)"):
        read_json_lines(path)


def test_json_target_out_of_range_names_line(tmp_path: Path) -> None:
    recs = read_json_lines(write(tmp_path / "trn.json", json_lines(records(["a", "b", "c"], [[0], [1], [5]]))))
    with pytest.raises(DataFormatError, match=r"trn\.json:3: target_ind: index 5 out of range \[0, 4\)"):
        recs.label_matrix(4)
    dup = read_json_lines(write(tmp_path / "dup.json", json_lines(records(["a", "b"], [[0], [1, 1]]))))
    with pytest.raises(DataFormatError, match=r"dup\.json:2: target_ind: duplicate index 1"):
        dup.label_matrix(4)


def test_truncated_json_gzip_names_file(tmp_path: Path) -> None:
    blob = gzip.compress(json_lines(records(["x y"] * 500, [[0]] * 500)).encode())
    path = tmp_path / "trn.json.gz"
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataFormatError, match=r"trn\.json\.gz: truncated or corrupt gzip stream after line \d+"):
        read_json_lines(path)


def test_read_lines_splits_on_newline_only(tmp_path: Path) -> None:
    path = write(tmp_path / "trn_X.txt", "a\u2028b\r\n\nc\x1cd\n")
    assert read_lines(path) == ["a\u2028b", "", "c\x1cd"]
    assert read_lines(write(tmp_path / "empty.txt", "")) == []
    assert read_lines(write(tmp_path / "no_nl.txt.gz", "x\ny")) == ["x", "y"]


def test_read_lines_non_utf8_names_line(tmp_path: Path) -> None:
    path = write(tmp_path / "labels.txt", b"ok\nfine\nbad \xff here\n")
    with pytest.raises(DataFormatError, match=r"labels\.txt:3: not valid UTF-8 \(byte 0xff at column 5\)"):
        read_lines(path)


def test_read_label_names(tmp_path: Path) -> None:
    path = write(tmp_path / "train_labels.txt", "b a\n\n10 9\n")
    assert read_label_names(path) == [["b", "a"], [], ["10", "9"]]


def test_filter_pairs_read_and_blank_lines_skipped(tmp_path: Path) -> None:
    path = write(tmp_path / "filter_labels_test.txt", "0 3\n\n2 1\n2 2\n")
    pairs = read_filter_pairs(path, num_rows=3, num_labels=4)
    assert pairs.dtype == np.int64 and pairs.tolist() == [[0, 3], [2, 1], [2, 2]]
    assert read_filter_pairs(write(tmp_path / "empty.txt", "")).shape == (0, 2)
    # np.savetxt's default float format is accepted when integral (pyxclib loads these with np.loadtxt)
    floats = write(tmp_path / "f.txt", "1.000000000000000000e+00 5.000000000000000000e+00\n")
    assert read_filter_pairs(floats).tolist() == [[1, 5]]


@pytest.mark.parametrize(
    ("body", "line", "problem"),
    [
        ("0 1\n2\n", 2, "expected 'row label'"),
        ("0 1\n1 2 3\n", 2, "expected 'row label'"),
        ("0 x\n", 1, "expected 'row label'"),
        ("0:1\n", 1, "expected 'row label'"),
        ("0 -1\n", 1, "expected 'row label'"),
        ("0 1.5\n", 1, "expected 'row label'"),
        ("0 1\n9 0\n", 2, r"row 9 out of range \[0, 3\)"),
        ("0 4\n", 1, r"label 4 out of range \[0, 4\)"),
        (b"0 1\n\xfe 1\n", 2, "not valid UTF-8"),
    ],
)
def test_bad_filter_lines_name_file_and_line(tmp_path: Path, body: str, line: int, problem: str) -> None:
    path = write(tmp_path / "filter_labels_test.txt", body)
    with pytest.raises(DataFormatError, match=rf"filter_labels_test\.txt:{line}: {problem}"):
        read_filter_pairs(path, num_rows=3, num_labels=4)


def test_filter_pairs_across_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formats, "CHUNK_BYTES", 16)
    path = write(tmp_path / "f.txt", "".join(f"{i} {i * 7}\n" for i in range(50)))
    assert read_filter_pairs(path).tolist() == [[i, i * 7] for i in range(50)]
