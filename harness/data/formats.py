"""Streaming readers and writers for every Extreme Classification Repository file layout.

Every reader raises exactly one :class:`~harness.errors.DataFormatError` ("file:line: problem") on bad
input, and reads ``.gz`` files transparently (chosen by suffix).

Usage::

    from harness.data.formats import read_sparse_matrix, read_combined, read_json_lines
    Y = read_sparse_matrix("LF-AmazonTitles-131K/trn_X_Y.txt", binary=True)   # csr, header shape
    X, Y = read_combined("Bibtex/train.txt")
    recs = read_json_lines("LF-AmazonTitles-131K/trn.json.gz")               # uids, texts, labels
    pairs = read_filter_pairs("LF-AmazonTitles-131K/filter_labels_test.txt")   # (n, 2) int64
"""

from __future__ import annotations

import gzip
import json
import math
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import scipy.sparse as sp

from harness.errors import DataFormatError, HarnessError
from harness.io import file_sha256  # noqa: F401 - re-exported: fmt.file_sha256

#: Bytes parsed per chunk. Measured on 1M rows: 0.5-2 MiB chunks read fastest (cache-friendly numpy
#: passes) with the lowest peak memory; re-scanning one bad chunk line by line stays well under a second.
CHUNK_BYTES = 2 << 20
#: A header line is a few numbers; reading more than this before its newline means it is not a header.
HEADER_BYTES = 4096
#: Longest piece of a bad token or line echoed in an error message.
SHOWN_CHARS = 60


# Low-level I/O --------------------------------------------------------------------------------------
def open_binary(path: str | Path) -> BinaryIO:
    """Open ``path`` for binary reading, through gzip when its name ends in ``.gz``."""
    path = Path(path)
    if not path.is_file():
        raise HarnessError(f"{path}: file not found")
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")  # noqa: SIM115


def _stream_error(path: Path, lineno: int, exc: BaseException) -> DataFormatError:
    # A truncated download is the usual cause; gzip reports it as EOFError or BadGzipFile (an OSError).
    where = f" after line {lineno}" if lineno else ""
    return DataFormatError(path, None, f"truncated or corrupt gzip stream{where} ({exc})")


def _clip(text: str | bytes, limit: int = SHOWN_CHARS) -> str:
    """``text`` for an error message, cut to ``limit`` characters with ``...`` (a token may be megabytes)."""
    if isinstance(text, bytes):
        text = text[: 4 * limit].decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + "..."


def _utf8_error(path: Path, lineno: int, line: bytes, exc: UnicodeDecodeError, offset: int = 0) -> DataFormatError:
    """Name the first undecodable byte; ``offset`` is where ``line`` starts inside the decoded buffer."""
    col = exc.start - offset
    return DataFormatError(path, lineno, f"not valid UTF-8 (byte 0x{line[col]:02x} at column {col + 1})")


def _read_all(path: Path) -> bytes:
    with open_binary(path) as fh:
        try:
            return fh.read()
        except (EOFError, OSError, zlib.error) as exc:
            raise _stream_error(path, 0, exc) from None


class _Chunks:
    r"""Iterate ``(first_line_number, data)`` where data is whole lines, each ending in ``\n``.

    After iteration, ``unterminated`` says whether the last line lacked its newline (one was added). A
    line longer than a chunk is gathered block by block and joined once, so it costs linear time.
    """

    def __init__(self, fh: BinaryIO, path: Path, lineno: int) -> None:
        self.fh, self.path, self.lineno = fh, path, lineno
        self.unterminated = False

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        pending: list[bytes] = []  # blocks of one line that has not ended yet
        lineno = self.lineno
        while True:
            try:
                block = self.fh.read(CHUNK_BYTES)
            except (EOFError, OSError, zlib.error) as exc:
                raise _stream_error(self.path, lineno, exc) from None
            if not block:
                break
            cut = block.rfind(b"\n") + 1
            if cut == 0:  # no line ends in this block: keep gathering
                pending.append(block)
                continue
            data = b"".join((*pending, block[:cut])) if pending else block[:cut]
            pending = [block[cut:]] if cut < len(block) else []
            yield lineno, data
            lineno += data.count(b"\n")
        if pending:  # last line without a trailing newline
            self.unterminated = True
            yield lineno, b"".join(pending) + b"\n"


def _chunks(fh: BinaryIO, path: Path, lineno: int) -> Iterator[tuple[int, bytes]]:
    r"""Yield ``(first_line_number, data)`` where data is whole lines, each ending in ``\n``."""
    return iter(_Chunks(fh, path, lineno))


def _read_header(fh: BinaryIO, path: Path, names: tuple[str, ...]) -> tuple[int, ...]:
    try:
        raw = fh.readline(HEADER_BYTES)
    except (EOFError, OSError, zlib.error) as exc:
        raise _stream_error(path, 0, exc) from None
    expected = f"'{' '.join(names)}' ({len(names)} non-negative integers)"
    if len(raw) == HEADER_BYTES and not raw.endswith(b"\n"):
        raise DataFormatError(path, 1, f"bad header {_clip(raw)!r}: expected {expected} on a short first line")
    if not raw.strip():
        raise DataFormatError(path, 1, f"missing header: expected {expected}")
    fields = raw.lstrip(b"\xef\xbb\xbf").split()  # tolerate a UTF-8 byte-order mark
    if len(fields) != len(names) or not all(f.isdigit() and len(f) < 16 for f in fields):
        shown = raw.strip().decode("utf-8", "replace")[:80]
        raise DataFormatError(path, 1, f"bad header {shown!r}: expected {expected}")
    return tuple(int(f) for f in fields)


# Vectorised scanner ---------------------------------------------------------------------------------
# Parsing is done on whole chunks with numpy (byte classes, piece boundaries, digit arithmetic); any chunk
# the fast path does not fully accept is re-parsed line by line by `_slow`, which is the authority: it
# either returns the same arrays or raises the one DataFormatError naming the bad line.
_BODY, _SPACE, _NL, _COLON, _COMMA = 0, 1, 2, 3, 4
_CLASS = np.zeros(256, np.uint8)
_CLASS[list(b" \t\r\x0b\x0c")] = _SPACE  # exactly the bytes that bytes.split() treats as whitespace
_CLASS[ord("\n")] = _NL
_CLASS[ord(":")] = _COLON
_CLASS[ord(",")] = _COMMA
_WS = b" \t\n\r\x0b\x0c"


class _Fallback(Exception):
    """The fast path cannot vouch for a chunk; parse it line by line instead."""


@dataclass
class _Parsed:
    """One chunk: per-line pair counts and the pairs; for the combined format also the label ids."""

    lines: int
    row_nnz: np.ndarray
    idx: np.ndarray
    val: np.ndarray
    lab_count: np.ndarray | None = None
    lab: np.ndarray | None = None
    sorted: bool = True
    # set by _parse_chunks: global row numbers and pair counts of the non-empty rows (features, labels)
    x_rows: np.ndarray | None = None
    x_nnz: np.ndarray | None = None
    y_rows: np.ndarray | None = None
    y_nnz: np.ndarray | None = None


def _digits(arr: np.ndarray, s: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Parse the digit runs ``arr[s:e+1]`` as integers, right-aligned so one loop step per digit."""
    lens = e - s + 1
    width = int(lens.max()) if lens.size else 0
    if width > 18:  # would overflow int64; no real index is that long
        raise _Fallback
    out = np.zeros(lens.size, np.int64)
    for j in range(width):
        pos = e - (width - 1 - j)
        valid = pos >= s
        digit = arr[np.where(valid, pos, 0)].astype(np.int64) - 48
        if ((digit < 0) | (digit > 9))[valid].any():
            raise _Fallback
        out = out * 10 + np.where(valid, digit, 0)
    return out


def _floats(arr: np.ndarray, s: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Parse the pieces ``arr[s:e+1]`` as floats via a fixed-width bytes array (no Python objects)."""
    lens = e - s + 1
    if not lens.size:
        return np.zeros(0, np.float64)
    width = int(lens.max())
    if width > 64:
        raise _Fallback
    cols = np.arange(width)
    grid = arr[np.minimum(s[:, None] + cols, arr.size - 1)]
    grid[cols >= lens[:, None]] = 0  # NUL padding is ignored by the bytes dtype
    toks = grid.view(f"S{width}").ravel()
    try:  # label files repeat one value ("1" or "1.0"): parse it once
        vals = np.full(toks.size, float(toks[0])) if (toks == toks[0]).all() else toks.astype(np.float64)
    except ValueError:
        raise _Fallback from None
    if not np.isfinite(vals).all():
        raise _Fallback
    return vals


def _rows_sorted(line: np.ndarray, idx: np.ndarray) -> bool:
    """True if indices increase strictly within each line; False if merely unsorted; duplicates fall back."""
    if idx.size < 2 or not ((line[1:] == line[:-1]) & (idx[1:] <= idx[:-1])).any():
        return True
    order = np.lexsort((idx, line))
    ln, ix = line[order], idx[order]
    if ((ln[1:] == ln[:-1]) & (ix[1:] == ix[:-1])).any():
        raise _Fallback
    return False


def _pieces(data: bytes) -> tuple[np.ndarray, ...]:
    """Byte classes, class counts, piece starts/ends (maximal non-delimiter runs), newline positions."""
    arr = np.frombuffer(data, np.uint8)
    cls = _CLASS[arr]
    counts = np.bincount(cls, minlength=5)
    body = cls == _BODY
    step = np.diff(body.view(np.int8))
    starts = np.flatnonzero(step == 1) + 1
    if body[0]:
        starts = np.concatenate(([0], starts))
    ends = np.flatnonzero(step == -1)  # data ends in "\n", so every piece ends inside it
    return arr, cls, counts, starts, ends, np.flatnonzero(cls == _NL)


def _fast(data: bytes, mode: str, num_cols: int, num_labels: int) -> _Parsed:
    arr, cls, counts, starts, ends, nlpos = _pieces(data)
    pre, post = cls[starts - 1], cls[ends + 1]  # starts[0] - 1 == -1 is the chunk's last "\n"
    is_val, is_idx = pre == _COLON, post == _COLON
    # Every colon must join exactly two pieces, and no piece may sit between two colons ("1:2:3").
    if is_val.sum() != counts[_COLON] or is_idx.sum() != counts[_COLON] or (is_val & is_idx).any():
        raise _Fallback
    line_of = np.searchsorted(nlpos, starts)
    is_lab = ~(is_val | is_idx)
    part = _Parsed(nlpos.size, np.zeros(0), np.zeros(0), np.zeros(0))
    if mode == "sparse" and (is_lab.any() or counts[_COMMA]):
        raise _Fallback
    if mode == "combined":
        pre_c, post_c = pre == _COMMA, post == _COMMA
        if pre_c.sum() != counts[_COMMA] or post_c.sum() != counts[_COMMA] or ((pre_c | post_c) & ~is_lab).any():
            raise _Fallback
        line_start = np.concatenate(([0], nlpos[:-1] + 1))
        # label ids are the comma chain that starts the line; anything else without a colon is garbage
        if not (pre_c | (starts == line_start[line_of]))[is_lab].all():
            raise _Fallback
        lab = _digits(arr, starts[is_lab], ends[is_lab])
        if lab.size and lab.max() >= num_labels:
            raise _Fallback
        part.lab, part.lab_count = lab, np.bincount(line_of[is_lab], minlength=nlpos.size)
        part.sorted = _rows_sorted(line_of[is_lab], lab)
    idx = _digits(arr, starts[is_idx], ends[is_idx])
    if idx.size and idx.max() >= num_cols:
        raise _Fallback
    part.idx, part.val = idx, _floats(arr, starts[is_val], ends[is_val])
    part.row_nnz = np.bincount(line_of[is_idx], minlength=nlpos.size)
    part.sorted &= _rows_sorted(line_of[is_idx], idx)
    return part


def _slow(data: bytes, mode: str, num_cols: int, num_labels: int, path: Path, first: int) -> _Parsed:
    lines = data.split(b"\n")[:-1]
    what = "feature index" if mode == "combined" else "index"
    nnz, labn = np.zeros(len(lines), np.int64), np.zeros(len(lines), np.int64)
    idx: list[int] = []
    val: list[float] = []
    lab: list[int] = []
    for off, line in enumerate(lines):
        lineno = first + off
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _utf8_error(path, lineno, line, exc) from None
        toks = line.split()
        if mode == "combined" and toks and line[:1] not in _WS and b":" not in toks[0]:
            ids = toks.pop(0).split(b",")
            if not all(i.isdigit() for i in ids):
                raise DataFormatError(path, lineno, f"bad label list {_clip(b','.join(ids))!r}: expected ids like 3,17")
            labs = [int(i) for i in ids]
            _check_ids(labs, num_labels, "label id", path, lineno)
            lab.extend(labs)
            labn[off] = len(labs)
        row: list[int] = []
        for tok in toks:
            i, sep, v = tok.partition(b":")
            shown = _clip(tok)
            if not sep or not i.isdigit() or not v:
                raise DataFormatError(path, lineno, f"bad token {shown!r}: expected index:value")
            try:
                x = float(v)
            except ValueError:
                raise DataFormatError(path, lineno, f"bad value in {shown!r}: not a number") from None
            if not math.isfinite(x):
                raise DataFormatError(path, lineno, f"non-finite value in {shown!r}")
            row.append(int(i))
            val.append(x)
        _check_ids(row, num_cols, what, path, lineno)
        idx.extend(row)
        nnz[off] = len(row)
    out = _Parsed(len(lines), nnz, np.asarray(idx, np.int64), np.asarray(val, np.float64))
    line_nums = np.repeat(np.arange(len(lines)), nnz)
    out.sorted = _rows_sorted(line_nums, out.idx)
    if mode == "combined":
        out.lab, out.lab_count = np.asarray(lab, np.int64), labn
        out.sorted &= _rows_sorted(np.repeat(np.arange(len(lines)), labn), out.lab)
    return out


def _check_ids(ids: list[int], limit: int, what: str, path: Path, lineno: int) -> None:
    for i in ids:
        if i >= limit:
            raise DataFormatError(path, lineno, f"{what} {i} out of range [0, {limit})")
    if len(set(ids)) == len(ids):
        return
    seen: set[int] = set()
    for i in ids:  # the first repeat, in one pass: a row may hold a million ids
        if i in seen:
            raise DataFormatError(path, lineno, f"duplicate {what} {i} in one row")
        seen.add(i)


def first_bad_row(indptr: np.ndarray, indices: np.ndarray, num_cols: int) -> tuple[int, str] | None:
    """First row of a CSR structure with an index outside ``[0, num_cols)`` or a repeated index."""
    rows = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    found: list[tuple[int, str]] = []
    bad = np.flatnonzero((indices < 0) | (indices >= num_cols))
    if bad.size:
        found.append((int(rows[bad[0]]), f"index {indices[bad[0]]} out of range [0, {num_cols})"))
    order = np.lexsort((indices, rows))
    r, c = rows[order], indices[order]
    dup = np.flatnonzero((r[1:] == r[:-1]) & (c[1:] == c[:-1]))
    if dup.size:
        found.append((int(r[dup[0]]), f"duplicate index {c[dup[0]]}"))
    return min(found) if found else None


def _fast_pairs(data: bytes, num_rows: int | None, num_labels: int | None) -> np.ndarray:
    arr, _, counts, starts, ends, nlpos = _pieces(data)
    per_line = np.bincount(np.searchsorted(nlpos, starts), minlength=nlpos.size)
    if counts[_COLON] or counts[_COMMA] or ((per_line != 0) & (per_line != 2)).any():
        raise _Fallback
    pairs = _digits(arr, starts, ends).reshape(-1, 2)
    for col, limit in ((0, num_rows), (1, num_labels)):
        if limit is not None and pairs.size and pairs[:, col].max() >= limit:
            raise _Fallback
    return pairs


def _slow_pairs(data: bytes, num_rows: int | None, num_labels: int | None, path: Path, first: int) -> np.ndarray:
    out: list[int] = []
    for off, line in enumerate(data.split(b"\n")[:-1]):
        try:
            text = line.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise _utf8_error(path, first + off, line, exc) from None
        if not text:
            continue
        toks = text.split()
        nums = [_integral(t) for t in toks]
        if len(toks) != 2 or None in nums:
            raise DataFormatError(
                path, first + off, f"expected 'row label' (two non-negative integers), got {_clip(text)!r}"
            )
        for value, limit, what in ((nums[0], num_rows, "row"), (nums[1], num_labels, "label")):
            if limit is not None and value >= limit:  # type: ignore[operator]
                raise DataFormatError(path, first + off, f"{what} {value} out of range [0, {limit})")
        out.extend(nums)  # type: ignore[arg-type]
    return np.asarray(out, np.int64).reshape(-1, 2)


def _integral(token: str) -> int | None:
    """A non-negative integer token, or an integral float such as ``5.000000e+00`` (np.savetxt output)."""
    if token.isascii() and token.isdigit():  # str.isdigit alone accepts "²", which int() rejects
        value = int(token)
    else:
        try:
            x = float(token)
        except ValueError:
            return None
        if not (math.isfinite(x) and x >= 0 and x == int(x)):
            return None
        value = int(x)
    return value if value < 2**62 else None


# XC sparse and combined formats ---------------------------------------------------------------------
def _index_dtype(limit: int) -> type:
    return np.int32 if limit < 2**31 else np.int64


def _parse_chunks(
    path: Path, fh: BinaryIO, mode: str, shape: tuple[int, int, int], values: np.dtype | None
) -> tuple[list[_Parsed], int, bool, bool]:
    """Parse every chunk after the header; returns the parts, the line count, sortedness, final newline.

    ``shape`` is (rows, columns, labels). Each part is shrunk to its final dtypes at once (values dropped
    when ``values`` is None) and keeps only its non-empty rows, so memory grows with the nonzeros, not with
    the text, the parse temporaries or the number of blank lines.
    """
    num_rows, num_cols, num_labels = shape
    parts: list[_Parsed] = []
    rows = 0
    all_sorted = True
    chunks = _Chunks(fh, path, lineno=2)
    for first, data in chunks:
        try:
            part = _fast(data, mode, num_cols, num_labels)
        except _Fallback:  # the line-by-line parser either names the bad line or parses it
            part = _slow(data, mode, num_cols, num_labels, path, first)
        all_sorted &= part.sorted
        counts = part.row_nnz if part.lab_count is None else part.row_nnz + part.lab_count
        over = np.flatnonzero(counts[max(num_rows - rows, 0) :])
        if over.size:  # trailing blank lines are tolerated, data beyond the header's row count is not
            line = first + max(num_rows - rows, 0) + int(over[0])
            raise DataFormatError(path, line, f"more rows than the header's {num_rows}")
        part.idx = part.idx.astype(_index_dtype(num_cols))
        part.val = _cast_values(part, values, path, first) if values is not None else np.zeros(0, np.float32)
        part.x_rows, part.x_nnz = _nonempty(part.row_nnz, rows, num_rows)
        if part.lab is not None and part.lab_count is not None:
            part.lab = part.lab.astype(_index_dtype(num_labels))
            part.y_rows, part.y_nnz = _nonempty(part.lab_count, rows, num_rows)
        part.row_nnz = part.lab_count = None  # type: ignore[assignment]  # one entry per line: not kept
        rows += part.lines
        parts.append(part)
    return parts, rows, all_sorted, not chunks.unterminated


def _nonempty(counts: np.ndarray, offset: int, num_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Global row numbers and pair counts of the lines holding pairs, in compact dtypes."""
    local = np.flatnonzero(counts)
    nnz = counts[local]
    return (local + offset).astype(_index_dtype(num_rows)), nnz.astype(_index_dtype(int(nnz.max(initial=0))))


def _check_rows_fit(path: Path, fh: BinaryIO, num_rows: int) -> None:
    """Refuse, before reading on, a header claiming more rows than an uncompressed file has bytes left.

    Every row but an empty last one needs at least its newline, so a file of 17 bytes cannot hold 900
    million rows; a gzip file's size says nothing, and is checked by the row count once read.
    """
    if path.suffix == ".gz":
        return
    left = path.stat().st_size - fh.tell()
    if num_rows > left + 1:
        raise DataFormatError(
            path,
            1,
            f"header says {num_rows:,} rows but only {left:,} bytes follow it (each row is a line): "
            "wrong header or truncated file",
        )


def _check_rows_present(path: Path, num_rows: int, lines: int, final_newline: bool) -> None:
    r"""A file that ends before its header's row count is truncated (or its header is wrong).

    After a final newline (or right after the header) there is room for one more, empty, row: a file
    written as ``"\n".join(rows)`` whose last row is empty has no line left for that row.
    """
    if lines + final_newline < num_rows:
        raise DataFormatError(
            path,
            1,
            f"header says {num_rows:,} rows but the file ends after {lines:,} of them (at line {lines + 1:,}): "
            "truncated file or wrong header (every row has its line; an empty row is an empty line)",
        )


def _out_of_memory(path: Path, header: tuple[int, ...]) -> DataFormatError:
    shown = " ".join(str(h) for h in header)
    return DataFormatError(path, 1, f"header '{shown}' needs more memory than is available for the matrix")


def _cast_values(part: _Parsed, dtype: np.dtype, path: Path, first: int) -> np.ndarray:
    """Cast parsed float64 values to ``dtype``; a value too large for it (1e300 in float32) names its line."""
    with np.errstate(over="ignore"):
        out = part.val.astype(dtype)
    if out.dtype.kind == "f" and not np.isfinite(out).all():
        k = int(np.flatnonzero(~np.isfinite(out))[0])
        line = first + int(np.searchsorted(np.cumsum(part.row_nnz), k, side="right"))
        raise DataFormatError(path, line, f"value {part.val[k]:g} overflows {dtype}")
    return out


def _assemble(
    parts: list[_Parsed], num_rows: int, num_cols: int, labels: bool, dtype: np.dtype | None
) -> sp.csr_matrix:
    """Stack the parts into CSR; ``dtype=None`` means binary (all values 1.0 as float32)."""
    rows = [p.y_rows if labels else p.x_rows for p in parts]
    counts = [p.y_nnz if labels else p.x_nnz for p in parts]
    nnz = sum(int(c.sum(dtype=np.int64)) for c in counts)
    idx_dtype = _index_dtype(max(num_cols, nnz))
    indptr = np.zeros(num_rows + 1, idx_dtype)  # rows without pairs (empty lines) stay empty
    for r, c in zip(rows, counts, strict=True):
        indptr[r + 1] = c
    np.cumsum(indptr, dtype=idx_dtype, out=indptr)
    indices = np.concatenate([(p.lab if labels else p.idx) for p in parts] or [np.zeros(0, idx_dtype)])
    if dtype is None:
        data = np.ones(indices.size, np.float32)
    else:
        data = np.concatenate([p.val for p in parts] or [np.zeros(0, dtype)])
    return sp.csr_matrix((data, indices.astype(idx_dtype, copy=False), indptr), shape=(num_rows, num_cols))


def read_sparse_header(path: str | Path) -> tuple[int, int]:
    """Read only the ``num_rows num_cols`` header of an XC sparse file (cheap shape check of big files)."""
    path = Path(path)
    with open_binary(path) as fh:
        rows, cols = _read_header(fh, path, ("num_rows", "num_cols"))
        _check_rows_fit(path, fh, rows)
    return rows, cols


def read_sparse_matrix(
    path: str | Path, *, num_cols: int | None = None, binary: bool = False, dtype: np.dtype | type = np.float32
) -> sp.csr_matrix:
    r"""Read an XC sparse file (``trn_X_Y.txt``, ``trn_X_Xf.txt``, score files) into CSR.

    The header ``num_rows num_cols`` fixes the shape. Every row has its line (an empty row an empty
    line, as pyxclib and the XC tools write them); a file that ends before the header's row count is
    refused as truncated. The one allowance: an empty last row may lack its line when the file ends in a
    newline (``"\n".join(rows)`` writes it so). Blank lines after the last row are ignored.

    Args:
        path: the file (``.gz`` is decompressed on the fly).
        num_cols: when given, the header's column count must equal it (e.g. predictions vs. truth).
        binary: store 1.0 for every pair (label files may carry relevances; metrics want 0/1).
        dtype: dtype of the values.

    Raises:
        DataFormatError: bad header, garbage token, index out of range, duplicate index in a row,
            non-finite value, non-UTF-8 bytes, more or fewer rows than the header says, a header too
            large for the file or for memory, truncated gzip.
    """
    path = Path(path)
    with open_binary(path) as fh:
        n_rows, n_cols = _read_header(fh, path, ("num_rows", "num_cols"))
        if num_cols is not None and n_cols != num_cols:
            raise DataFormatError(path, 1, f"header says {n_cols} columns, expected {num_cols}")
        _check_rows_fit(path, fh, n_rows)
        values = None if binary else np.dtype(dtype)
        try:
            parts, lines, is_sorted, final_newline = _parse_chunks(path, fh, "sparse", (n_rows, n_cols, 0), values)
        except MemoryError:
            raise _out_of_memory(path, (n_rows, n_cols)) from None
    _check_rows_present(path, n_rows, lines, final_newline)
    try:
        out = _assemble(parts, n_rows, n_cols, False, values)
        if not is_sorted:
            out.sort_indices()
    except MemoryError:
        raise _out_of_memory(path, (n_rows, n_cols)) from None
    return out


def read_combined(path: str | Path, *, dtype: np.dtype | type = np.float32) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Read the old combined format (``train.txt``/``test.txt``) into ``(X features, Y labels)``.

    Header ``num_points num_features num_labels``; each line is comma-separated label ids, a space and
    ``feature:value`` pairs. A point with no labels starts its line with a space.

    Raises:
        DataFormatError: as :func:`read_sparse_matrix`, plus label ids outside ``[0, num_labels)`` and a
            line count different from the header's.
    """
    path = Path(path)
    with open_binary(path) as fh:
        header = _read_header(fh, path, ("num_points", "num_features", "num_labels"))
        n, n_feat, n_lab = header
        _check_rows_fit(path, fh, n)
        try:
            parts, lines, is_sorted, _ = _parse_chunks(path, fh, "combined", (n, n_feat, n_lab), np.dtype(dtype))
        except MemoryError:
            raise _out_of_memory(path, header) from None
    if lines < n:  # unlike split sparse files, every point has a line here (pyxclib read_data)
        raise DataFormatError(path, None, f"header says {n} points but the file has {lines} data lines")
    try:
        X = _assemble(parts, n, n_feat, False, np.dtype(dtype))
        Y = _assemble(parts, n, n_lab, True, None)
        if not is_sorted:
            X.sort_indices()
            Y.sort_indices()
    except MemoryError:
        raise _out_of_memory(path, header) from None
    return X, Y


def _row_tokens(matrix: sp.spmatrix, with_values: bool) -> tuple[list[str], list[int]]:
    csr = sp.csr_matrix(matrix)
    if not csr.has_sorted_indices:
        csr = csr.copy()
        csr.sort_indices()
    toks = csr.indices.astype(str)
    if with_values:  # astype(str) gives the shortest repr that round-trips the value's dtype
        toks = np.strings.add(np.strings.add(toks, ":"), csr.data.astype(str))
    return toks.tolist(), csr.indptr.tolist()


def _write_text(path: Path, head: str, lines: Iterable[str]) -> None:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8", newline="\n") as fh:
        fh.write(head)
        fh.writelines(lines)


def write_sparse_matrix(path: str | Path, matrix: sp.spmatrix) -> None:
    """Write ``matrix`` in the XC sparse format (header, then sorted ``index:value`` pairs per row)."""
    toks, ptr = _row_tokens(matrix, True)
    rows = (" ".join(toks[ptr[i] : ptr[i + 1]]) + "\n" for i in range(matrix.shape[0]))
    _write_text(Path(path), f"{matrix.shape[0]} {matrix.shape[1]}\n", rows)


def write_combined(path: str | Path, X: sp.spmatrix, Y: sp.spmatrix) -> None:
    """Write features and labels in the old combined format read by :func:`read_combined`."""
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but Y has {Y.shape[0]}")
    ft, fp = _row_tokens(X, True)
    lt, lp = _row_tokens(Y, False)
    rows = (",".join(lt[lp[i] : lp[i + 1]]) + " " + " ".join(ft[fp[i] : fp[i + 1]]) + "\n" for i in range(X.shape[0]))
    _write_text(Path(path), f"{X.shape[0]} {X.shape[1]} {Y.shape[1]}\n", rows)


# JSON lines (trn.json.gz / tst.json.gz / lbl.json.gz) ----------------------------------------------
@dataclass
class JsonRecords:
    """The records of one JSON-lines file: ids, texts and (for trn/tst) label lists in CSR pieces."""

    path: Path
    uids: list[str]
    texts: list[str]
    indptr: np.ndarray | None = None
    indices: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.uids)

    def label_matrix(self, num_labels: int) -> sp.csr_matrix:
        """Binary float32 label matrix; a ``target_ind`` outside ``[0, num_labels)`` names its line."""
        if self.indptr is None or self.indices is None:
            raise HarnessError(f"{self.path}: has no target_ind labels")
        bad = first_bad_row(self.indptr, self.indices, num_labels)
        if bad is not None:  # every line is one record, so row r is line r + 1
            raise DataFormatError(self.path, bad[0] + 1, f"target_ind: {bad[1]}")
        data = np.ones(self.indices.size, np.float32)
        out = sp.csr_matrix((data, self.indices, self.indptr), shape=(len(self), num_labels))
        out.sort_indices()
        return out


def read_json_lines(path: str | Path, *, text_field: str = "title", targets: bool = True) -> JsonRecords:
    """Read XC raw-text JSON lines: ``uid``, the text field and (with ``targets``) ``target_ind``.

    Args:
        path: ``trn.json.gz``, ``tst.json``, ``trn.raw.json.gz``, ``lbl.json.gz`` ...
        text_field: the input text (``title`` for the *Titles benchmarks, ``content`` for full text).
        targets: read ``target_ind`` (``False`` for ``lbl.json.gz``, whose lines have no labels).
    """
    path = Path(path)
    uids: list[str] = []
    texts: list[str] = []
    flat: list[int] = []
    ptr = [0]
    lineno = 0
    with open_binary(path) as fh:
        try:
            for lineno, raw in enumerate(fh, 1):  # noqa: B007 -- lineno is used by the except clause
                rec = _json_record(path, lineno, raw, text_field, targets)
                uids.append(rec[0])
                texts.append(rec[1])
                if targets:
                    flat.extend(rec[2])
                    ptr.append(len(flat))
        except (EOFError, OSError, zlib.error) as exc:
            raise _stream_error(path, lineno, exc) from None
    if not targets:
        return JsonRecords(path, uids, texts)
    try:
        indices = np.asarray(flat, np.int64)
    except OverflowError:
        row = next(r for r in range(len(ptr) - 1) if any(abs(t) >= 2**63 for t in flat[ptr[r] : ptr[r + 1]]))
        raise DataFormatError(path, row + 1, "target_ind holds an integer too large for int64") from None
    return JsonRecords(path, uids, texts, np.asarray(ptr, np.int64), indices)


def _json_record(path: Path, lineno: int, raw: bytes, field: str, targets: bool) -> tuple[str, str, list]:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _utf8_error(path, lineno, raw, exc) from None
    if not line.strip():
        raise DataFormatError(path, lineno, "empty line: expected one JSON object per line")
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataFormatError(path, lineno, f"invalid JSON ({exc.msg} at column {exc.colno})") from None
    except ValueError as exc:  # e.g. an integer of 5,000 digits (Python's int conversion limit)
        raise DataFormatError(path, lineno, f"invalid JSON ({_clip(str(exc))})") from None
    except RecursionError:  # e.g. [[[[...]]]] nested 100,000 deep
        raise DataFormatError(path, lineno, "invalid JSON (nested too deeply)") from None
    if not isinstance(rec, dict):
        raise DataFormatError(path, lineno, f"expected a JSON object, got {type(rec).__name__}")
    for key in ("uid", field, *(("target_ind",) if targets else ())):
        if key not in rec:
            raise DataFormatError(path, lineno, f"missing field {key!r} (fields: {_clip(', '.join(rec))})")
    text = rec[field]
    if not isinstance(text, str):
        raise DataFormatError(path, lineno, f"field {field!r} must be a string, got {type(text).__name__}")
    labels = rec.get("target_ind", []) if targets else []
    if not isinstance(labels, list) or not all(type(t) is int for t in labels):
        raise DataFormatError(path, lineno, f"target_ind must be a list of integers, got {_clip(_short_repr(labels))}")
    return str(rec["uid"]), text, labels


def _short_repr(value: object) -> str:
    """``repr`` of a JSON value, without building the whole text of a huge list."""
    if isinstance(value, list) and len(value) > SHOWN_CHARS:
        value = value[:SHOWN_CHARS]
    try:
        return repr(value)
    except RecursionError:
        return "a value nested too deeply"


# One text per line, name lists, filter pairs -------------------------------------------------------
def read_lines(path: str | Path) -> list[str]:
    r"""Read one string per line (``features.txt``, ``labels.txt``, ``train_raw_texts.txt``, ``trn_X.txt``).

    Lines are split on ``\n`` only (a trailing ``\r`` is dropped), never on the other Unicode line
    breaks that ``str.splitlines`` honours, because titles may contain them and rows must stay aligned.
    """
    path = Path(path)
    data = _read_all(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        lineno = data.count(b"\n", 0, exc.start) + 1
        start = data.rfind(b"\n", 0, exc.start) + 1
        raise _utf8_error(
            path, lineno, data[start:], UnicodeDecodeError("utf-8", data, exc.start - start, 0, "")
        ) from None
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [s[:-1] if s.endswith("\r") else s for s in lines]


def read_label_names(path: str | Path) -> list[list[str]]:
    """Read LightXML/AttentionXML ``train_labels.txt``: space-separated label names, one line per point."""
    return [line.split() for line in read_lines(path)]


def read_filter_pairs(path: str | Path, *, num_rows: int | None = None, num_labels: int | None = None) -> np.ndarray:
    """Read ``filter_labels_test.txt``/``filter_labels_train.txt``: one ``row label`` pair per line.

    Blank lines are skipped (as ``np.loadtxt`` does). Integral floats such as ``5.0`` are accepted,
    since pyxclib loads these files with ``np.loadtxt`` and casts.

    Returns:
        ``(n, 2)`` int64 array of (row, label) pairs, 0-based.
    """
    path = Path(path)
    parts = []
    with open_binary(path) as fh:
        for first, data in _chunks(fh, path, lineno=1):
            try:
                parts.append(_fast_pairs(data, num_rows, num_labels))
            except _Fallback:
                parts.append(_slow_pairs(data, num_rows, num_labels, path, first))
    return np.concatenate(parts or [np.zeros((0, 2), np.int64)]).reshape(-1, 2)
