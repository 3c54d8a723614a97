"""XC sparse (trn_X_Y.txt) and combined (train.txt) readers: parsing, round trips and every error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from harness.data import formats
from harness.data.formats import read_combined, read_sparse_matrix, write_combined, write_sparse_matrix
from harness.errors import DataFormatError, HarnessError
from tests.data.conftest import write


def test_reads_header_shape_empty_and_missing_trailing_rows(tmp_path: Path) -> None:
    # One line per row; only the last empty row may lack its line when the file ends in a newline (D0).
    path = write(tmp_path / "y.txt", "5 4\n0:1 3:0.5\n\n2:2\n\n")
    Y = read_sparse_matrix(path)
    assert Y.shape == (5, 4) and Y.dtype == np.float32
    assert Y.toarray().tolist() == [[1, 0, 0, 0.5], [0] * 4, [0, 0, 2, 0], [0] * 4, [0] * 4]
    assert read_sparse_matrix(path, binary=True).data.tolist() == [1, 1, 1]


def test_gzip_crlf_unsorted_rows_and_no_final_newline(tmp_path: Path) -> None:
    path = write(tmp_path / "y.txt.gz", "2 10\r\n9:1 1:2\r\n5:1e-3")
    Y = read_sparse_matrix(path, dtype=np.float64)
    assert Y.has_sorted_indices and Y.indices.tolist() == [1, 9, 5]
    assert Y.data.tolist() == [2.0, 1.0, 0.001]


def test_trailing_blank_lines_beyond_header_are_tolerated(tmp_path: Path) -> None:
    assert read_sparse_matrix(write(tmp_path / "y.txt", "1 2\n1:1\n\n\n")).shape == (1, 2)


def test_round_trip_random_matrix_matches(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    M = sp.random(300, 50, density=0.1, format="lil", random_state=rng, dtype=np.float32)
    M[5, :] = 0  # an empty row in the middle
    M = M.tocsr()
    M.eliminate_zeros()
    write_sparse_matrix(tmp_path / "m.txt", M)
    R = read_sparse_matrix(tmp_path / "m.txt")
    assert R.shape == M.shape and (R != M).nnz == 0


def test_fast_and_line_by_line_parsers_agree(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    M = sp.random(200, 1000, density=0.02, format="csr", random_state=rng)
    write_sparse_matrix(tmp_path / "m.txt", M)
    body = (tmp_path / "m.txt").read_bytes().split(b"\n", 1)[1]
    fast = formats._fast(body, "sparse", 1000, 0)
    slow = formats._slow(body, "sparse", 1000, 0, tmp_path / "m.txt", 2)
    for key in ("row_nnz", "idx", "val"):
        assert np.array_equal(getattr(fast, key), getattr(slow, key))


def test_large_file_uses_chunks_and_errors_name_the_right_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(formats, "CHUNK_BYTES", 64)  # force many chunks on a small file
    rows = [" ".join(f"{j}:1" for j in range(i % 7)) for i in range(100)]
    ok = write(tmp_path / "ok.txt", "100 7\n" + "\n".join(rows) + "\n")
    assert read_sparse_matrix(ok).nnz == sum(i % 7 for i in range(100))
    rows[60] = "1:1 7:1"
    bad = write(tmp_path / "bad.txt", "100 7\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataFormatError, match=r"bad\.txt:62: index 7 out of range \[0, 7\)"):
        read_sparse_matrix(bad)


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("", 1, "missing header"),
        ("3\n0:1\n", 1, "bad header '3'"),
        ("3 x\n", 1, "bad header"),
        ("2 -4\n", 1, "bad header"),
        ("2 4 1\n", 1, "bad header"),
        ("2 4\n0:1\n4:1\n", 3, r"index 4 out of range \[0, 4\)"),
        ("2 4\n3:abc\n", 2, "bad value in '3:abc': not a number"),
        ("2 4\n1:1 x\n", 2, "bad token 'x': expected index:value"),
        ("2 4\n1:1:1\n", 2, "bad value in '1:1:1'"),
        ("2 4\n:1\n", 2, "bad token ':1'"),
        ("2 4\n1:\n", 2, "bad token '1:'"),
        ("2 4\n-1:1\n", 2, "bad token '-1:1'"),
        ("2 4\n1,2:1\n", 2, "bad token '1,2:1'"),
        ("2 4\n\n1 :1\n", 3, "bad token '1'"),
        ("2 4\n0:1\n1:1\n2:1\n", 4, "more rows than the header's 2"),
        ("2 4\n1:nan\n", 2, "non-finite value in '1:nan'"),
        ("2 4\n1:1 2:inf\n", 2, "non-finite value"),
        ("2 4\n1:1 3:1 1:0.5\n", 2, "duplicate index 1 in one row"),
        ("3 4\n1:1\n\n2:1 3:1e300\n", 4, "value 1e\\+300 overflows float32"),
        (b"2 4\n1:1\n\xff:1\n", 3, r"not valid UTF-8 \(byte 0xff at column 1\)"),
    ],
)
def test_malformed_sparse_names_file_and_line(tmp_path: Path, text: str | bytes, line: int, problem: str) -> None:
    path = write(tmp_path / "trn_X_Y.txt", text)
    with pytest.raises(DataFormatError, match=rf"trn_X_Y\.txt:{line}: {problem}") as info:
        read_sparse_matrix(path)
    assert info.value.line == line and info.value.path == str(path)


def test_expected_column_count_is_enforced(tmp_path: Path) -> None:
    path = write(tmp_path / "pred.txt", "1 5\n0:1\n")
    with pytest.raises(DataFormatError, match=r"pred\.txt:1: header says 5 columns, expected 4"):
        read_sparse_matrix(path, num_cols=4)


def test_truncated_gzip_names_the_file(tmp_path: Path) -> None:
    full = tmp_path / "full.txt.gz"
    write(full, "3 4\n" + "0:1 1:1 2:1\n" * 3)
    cut = tmp_path / "trn_X_Y.txt.gz"
    cut.write_bytes(full.read_bytes()[:-12])
    with pytest.raises(DataFormatError, match=r"trn_X_Y\.txt\.gz: truncated or corrupt gzip stream"):
        read_sparse_matrix(cut)
    garbage = tmp_path / "tst_X_Y.txt.gz"
    garbage.write_bytes(b"not gzip at all")
    with pytest.raises(DataFormatError, match=r"tst_X_Y\.txt\.gz: truncated or corrupt gzip"):
        read_sparse_matrix(garbage)


def test_missing_file_is_a_harness_error(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="file not found"):
        read_sparse_matrix(tmp_path / "nope.txt")


# Combined format -------------------------------------------------------------------------------------
COMBINED = "4 5 3\n0,2 0:1 4:0.5\n 1:1\n1\n\n"


def test_combined_reads_labels_features_and_unlabelled_points(tmp_path: Path) -> None:
    X, Y = read_combined(write(tmp_path / "train.txt", COMBINED))
    assert X.shape == (4, 5) and Y.shape == (4, 3)
    assert Y.toarray().tolist() == [[1, 0, 1], [0, 0, 0], [0, 1, 0], [0, 0, 0]]
    assert X.toarray()[0].tolist() == [1, 0, 0, 0, 0.5] and X[1].indices.tolist() == [1]


def test_combined_round_trip_and_fast_slow_agree(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    X = sp.random(150, 40, density=0.1, format="csr", random_state=rng, dtype=np.float32)
    Y = sp.random(150, 12, density=0.15, format="csr", random_state=rng)
    Y.data[:] = 1
    write_combined(tmp_path / "c.txt", X, Y)
    X2, Y2 = read_combined(tmp_path / "c.txt")
    assert (X2 != X).nnz == 0 and (Y2 != Y).nnz == 0
    body = (tmp_path / "c.txt").read_bytes().split(b"\n", 1)[1]
    fast = formats._fast(body, "combined", 40, 12)
    slow = formats._slow(body, "combined", 40, 12, tmp_path / "c.txt", 2)
    for key in ("row_nnz", "idx", "val", "lab_count", "lab"):
        assert np.array_equal(getattr(fast, key), getattr(slow, key))


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("2 5\n", 1, "bad header '2 5'"),
        ("2 5 3\n0 1:1\n3 1:1\n", 3, r"label id 3 out of range \[0, 3\)"),
        ("2 5 3\n0 5:1\n", 2, r"feature index 5 out of range \[0, 5\)"),
        ("2 5 3\n0,,1 1:1\n", 2, "bad label list '0,,1'"),
        ("2 5 3\na,b 1:1\n", 2, "bad label list 'a,b'"),
        ("2 5 3\n0,1,0 1:1\n", 2, "duplicate label id 0 in one row"),
        ("2 5 3\n 1 2:1\n", 2, "bad token '1'"),
        ("2 5 3\n0 1:1 2\n", 2, "bad token '2'"),
        ("1 5 3\n0 1:1\n1 1:1\n", 3, "more rows than the header's 1"),
        (b"1 5 3\n0 1:1 caf\xc3\n", 2, r"not valid UTF-8"),
    ],
)
def test_malformed_combined_names_file_and_line(tmp_path: Path, text: str | bytes, line: int, problem: str) -> None:
    path = write(tmp_path / "train.txt", text)
    with pytest.raises(DataFormatError, match=rf"train\.txt:{line}: {problem}"):
        read_combined(path)


def test_combined_with_too_few_lines_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "test.txt", "3 5 3\n0 1:1\n1 2:1\n")
    with pytest.raises(DataFormatError, match=r"test\.txt: header says 3 points but the file has 2 data lines"):
        read_combined(path)
