"""Regressions for the reliability defects of issue 13 (found by a hostile new user): one test per defect."""

from __future__ import annotations

import gzip
import json
import shutil
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main as cli_main
from harness.data import formats, get_split, load_dataset
from harness.data.formats import read_combined, read_filter_pairs, read_json_lines, read_sparse_matrix
from harness.data.splits import manifest_path
from harness.errors import DataFormatError, HarnessError
from tests.data.conftest import json_lines, records, sparse_text, write


def test_d0_sparse_file_ending_before_its_header_row_count_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("s.txt", "s.txt.gz"):
        short = write(tmp_path / name, "5 10\n1:1\n2:1\n")
        with pytest.raises(DataFormatError, match=rf"{name}:1: header says 5 rows but the file ends after 2 of them"):
            read_sparse_matrix(short)
    no_newline = write(tmp_path / "n.txt", "3 10\n1:1\n2:1")  # 2 lines, no room for a third row
    with pytest.raises(DataFormatError, match="ends after 2 of them"):
        read_sparse_matrix(no_newline)
    # The same file through `harness evaluate` (it used to score 3 phantom empty rows, exit 0).
    short = tmp_path / "s.txt"
    assert cli_main.main(["evaluate", "--pred", str(short), "--truth", str(short), "-k", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and f"{short}:1: header says 5 rows" in err
    # Every row has its line, an empty row an empty line; trailing blank lines beyond the header are ignored.
    assert read_sparse_matrix(write(tmp_path / "ok.txt", "4 10\n1:1\n\n2:1\n\n")).shape == (4, 10)
    assert read_sparse_matrix(write(tmp_path / "tail.txt", "2 10\n1:1\n\n\n\n")).shape == (2, 10)
    # The one allowance: an empty last row without a line of its own after a final newline ("\n".join).
    joined = read_sparse_matrix(write(tmp_path / "joined.txt", "3 10\n1:1\n2:1\n"))
    assert joined.shape == (3, 10) and joined.getrow(2).nnz == 0


def test_d2_header_is_checked_before_memory_is_spent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A 24-byte file cannot hold 10^14 rows: refused at the header, before any allocation (was a numpy
    # _ArrayMemoryError traceback); a gzip file, whose size says nothing, is refused by the row count.
    for name in ("huge.txt", "huge.txt.gz"):
        huge = write(tmp_path / name, "99999999999999 10\n1:1\n")
        with pytest.raises(DataFormatError, match=rf"{name}:1: header says 99,999,999,999,999 rows but "):
            read_sparse_matrix(huge)
    with pytest.raises(DataFormatError, match=r"only 4 bytes follow"):
        formats.read_sparse_header(tmp_path / "huge.txt")
    with pytest.raises(DataFormatError, match=r"c\.txt:1: header says 99,999,999,999 rows"):
        read_combined(write(tmp_path / "c.txt", "99999999999 3 2\n0 1:1\n"))
    # Trailing blank lines are counted, not stored: 2 million of them (a 2 KB gzip) cost no memory.
    blank = write(tmp_path / "blank.txt.gz", b"1 10\n0:1\n" + b"\n" * 2_000_000)
    monkeypatch.setattr(formats, "CHUNK_BYTES", 1 << 16)  # parse temporaries small, so storage shows
    tracemalloc.start()
    try:
        assert read_sparse_matrix(blank).shape == (1, 10)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8e6, f"{peak / 1e6:.1f} MB for 2M blank lines"
    # Running out of memory for a legitimate but huge header is one clear error naming the header.
    ok = write(tmp_path / "ok.txt", "3 10\n1:1\n\n\n")

    def no_memory(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(formats, "_assemble", no_memory)
    with pytest.raises(DataFormatError, match=r"ok\.txt:1: header '3 10' needs more memory"):
        read_sparse_matrix(ok)


def test_d3_user_folders_are_keyed_by_resolved_path_not_basename(tmp_path: Path, isolated_harness_home: Path) -> None:
    from harness.data.embedded import EMBEDDED_ROOT, list_embedded
    from harness.runner.dataset_ref import dataset_ref

    def folder(root: Path, titles: list[str]) -> Path:
        write(root / "trn.json", json_lines(records(titles, [[i % 2] for i in range(len(titles))])))
        write(root / "tst.json", json_lines(records(["x", "y"], [[0], [1]], prefix="q")))
        return root

    # Two different folders both named mydata: each keeps its own split (the second used to be refused).
    one = load_dataset(folder(tmp_path / "a" / "mydata", [f"t{i}" for i in range(20)]))
    two = load_dataset(folder(tmp_path / "b" / "mydata", [f"u{i}" for i in range(30)]))
    m1, m2 = get_split(one)[2], get_split(two)[2]
    assert manifest_path(one, 0, 0.1) != manifest_path(two, 0, 0.1)
    assert (m1.n_train, m2.n_train) == (20, 30) and get_split(one)[2] == m1 and get_split(two)[2] == m2
    assert m1.dataset == m2.dataset == "mydata"  # the name results are filed under is unchanged

    # A user folder named like the embedded dataset never writes that dataset's manifest...
    fake = folder(tmp_path / "c" / "wordnet-nouns", [f"w{i}" for i in range(10)])
    registered = manifest_path("wordnet-nouns", 0, 0.1)
    assert registered == isolated_harness_home / "splits" / "wordnet-nouns" / "seed0-val0.1.json"
    get_split(load_dataset(fake))
    assert not registered.exists()
    # ... and a run refuses it, since its results would be filed under the registered name.
    with pytest.raises(HarnessError, match=r"registered dataset 'wordnet-nouns'.*Rename the folder"):
        dataset_ref(str(fake), None)
    with pytest.raises(HarnessError, match=r"registered dataset 'Bibtex'"):
        dataset_ref(str(folder(tmp_path / "d" / "bibtex", ["p", "q", "r"])), None)
    assert dataset_ref(str(tmp_path / "a" / "mydata"), None) == ("mydata", str(tmp_path / "a" / "mydata"))
    # A download folder with its exact registered name is that dataset, loaded from the path given.
    bibtex = tmp_path / "e" / "Bibtex"
    write(bibtex / "train.txt", "2 1836 159\n158 1835:1\n3 0:1\n")
    write(bibtex / "test.txt", "1 1836 159\n0 0:1\n")
    assert dataset_ref(str(bibtex), None) == ("Bibtex", str(bibtex))
    assert get_split(load_dataset(bibtex))[2].dataset == "Bibtex"
    assert manifest_path(load_dataset(bibtex), 0, 0.1) == manifest_path("Bibtex", 0, 0.1)
    if "wordnet-nouns" in list_embedded():  # the shipped folder by path is the registered dataset itself
        assert dataset_ref(str(EMBEDDED_ROOT / "wordnet-nouns"), None) == ("wordnet-nouns", "wordnet-nouns")
        real = load_dataset(EMBEDDED_ROOT / "wordnet-nouns")
        assert real.spec is not None and manifest_path(real, 0, 0.1) == registered


def test_d7_duplicate_id_in_a_long_row_is_found_in_linear_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    n = 40_000
    ids = list(range(n))
    row = " ".join(f"{i}:1" for i in ids)
    monkeypatch.setattr(formats, "CHUNK_BYTES", 1 << 12)  # the ~390 KB line spans ~100 read blocks
    ok = write(tmp_path / "ok.txt", f"2 {n}\n\n{row}\n")
    Y = read_sparse_matrix(ok)
    assert Y.shape == (2, n) and Y.getrow(1).indices.tolist() == ids
    bad = write(tmp_path / "bad.txt", f"2 {n}\n\n{row} 7:1\n")  # 389 KB file; the old check took 15 s
    start = time.perf_counter()
    with pytest.raises(DataFormatError, match=r"bad\.txt:3: duplicate index 7 in one row"):
        read_sparse_matrix(bad)
    labels = ",".join(map(str, ids)) + ",9"
    combined = write(tmp_path / "c.txt", f"1 3 {n}\n{labels} 0:1\n")
    with pytest.raises(DataFormatError, match=r"c\.txt:2: duplicate label id 9 in one row"):
        read_combined(combined)
    assert time.perf_counter() - start < 3.0


def test_d8_deeply_nested_json_is_a_format_error(tmp_path: Path) -> None:
    good = json_lines(records(["a"], [[0]]))
    deep = "[" * 100_000 + "]" * 100_000 + "\n"
    with pytest.raises(DataFormatError, match=r"trn\.json:2: invalid JSON \(nested too deeply\)"):
        read_json_lines(write(tmp_path / "trn.json", good + deep))
    nested = '{"uid": "1", "title": "t", "target_ind": ' + "[" * 100_000 + "]" * 100_000 + "}\n"
    with pytest.raises(DataFormatError, match=r"tst\.json:1: invalid JSON"):
        read_json_lines(write(tmp_path / "tst.json", nested))
    digits = '{"uid": "1", "title": "t", "target_ind": [' + "1" * 5000 + "]}\n"  # int() digit limit
    with pytest.raises(DataFormatError, match=r"lbl\.json:1: invalid JSON"):
        read_json_lines(write(tmp_path / "lbl.json", digits))


def test_d9_huge_garbage_tokens_are_not_echoed_whole(tmp_path: Path) -> None:
    junk = "x" * 1_000_000  # the report's was 10 MB; the message is what matters
    cases = [
        (lambda p: read_sparse_matrix(p), "s.txt", f"1 4\n0:1 {junk}\n"),
        (lambda p: read_sparse_matrix(p), "v.txt", f"1 4\n0:{junk}\n"),
        (lambda p: read_combined(p), "c.txt", f"1 4 4\n0,{junk} 1:1\n"),
        (lambda p: read_filter_pairs(p), "f.txt", f"0 1\n{junk} 2\n"),
        (lambda p: read_json_lines(p), "j.json", json.dumps({"uid": "1", "title": "t", "target_ind": [junk]}) + "\n"),
        (lambda p: read_json_lines(p), "k.json", json.dumps({"uid": "1", junk: 1}) + "\n"),
    ]
    for read, name, text in cases:
        with pytest.raises(DataFormatError) as info:
            read(write(tmp_path / name, text))
        msg = str(info.value)
        assert len(msg) < len(str(tmp_path)) + 200 and "xxx..." in msg, (name, msg[:300])


def test_d10_validate_refuses_empty_splits_and_ambiguous_files(
    tmp_path: Path, json_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def validate(root: Path) -> str:
        assert cli_main.main(["data", "validate", str(root)]) == 1
        return capsys.readouterr().err

    empty_gz = tmp_path / "empty-gz"
    shutil.copytree(json_dir, empty_gz)
    (empty_gz / "trn.json.gz").write_bytes(b"")  # 0 bytes: used to validate as OK
    assert "the train split has no rows (trn.json.gz: 0 bytes)" in validate(empty_gz)

    header_only = tmp_path / "header-only"
    write(header_only / "tst_X_Y.txt", sparse_text([[0], [1]], 4))
    write(header_only / "trn_X_Y.txt", "0 4\n")
    assert "the train split has no rows (trn_X_Y.txt)" in validate(header_only)
    write(header_only / "trn_X_Y.txt", "9 4\n")  # used to "run" to P@1 11 %: nine phantom empty rows
    assert "trn_X_Y.txt:1: header says 9 rows but only 0 bytes follow it" in validate(header_only)
    write(header_only / "trn_X_Y.txt", "2 4\n\n\n")  # rows, but not one label to learn from
    assert "no training point has any label" in validate(header_only)

    both = tmp_path / "both"
    shutil.copytree(json_dir, both)
    with gzip.open(both / "trn.json.gz", "rb") as fh:
        (both / "trn.json").write_bytes(fh.read())  # the plain one used to win silently
    err = validate(both)
    assert "both trn.json and trn.json.gz exist" in err
    (both / "trn.json.gz").unlink()
    assert cli_main.main(["data", "validate", str(both)]) == 0
    assert np.array_equal(load_dataset(both).train.Y.toarray(), load_dataset(json_dir).train.Y.toarray())
