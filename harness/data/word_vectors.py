"""Check a word-vector text file (GloVe format) once, before any cell reads it, and name it by its content.

Usage::

    from harness.data.word_vectors import check_word_vectors, word_vectors_path
    path = word_vectors_path(cli_value)            # --glove PATH, else $HARNESS_GLOVE, else None
    info = check_word_vectors(path)                 # {"path", "sha256", "bytes", "words", "dim"}

The paper's embeddings (GloVe 6B 300d, ~1 GB) cannot ship with the harness, so a user passes the file. A run
of many cells must not discover a truncated download in its tenth cell, nor let two different files at the
same path share results: every line is checked here (one clear error naming the file and line) and the file's
sha256 goes into the cell key instead of its path. The check streams the file once (about 10 s for 1 GB) and
is remembered in ``$HARNESS_HOME/cache/word-vectors`` by path, size and modification time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import HarnessError

#: The environment variable that names the word-vector file when ``--glove`` is not given.
GLOVE_ENV = "HARNESS_GLOVE"
#: Bump when the check or the recorded fields change, so that remembered checks are redone.
CHECK_VERSION = 1

WHERE_TO_GET = (
    "The paper's vectors are GloVe 6B 300d: download glove.6B.zip from https://nlp.stanford.edu/projects/glove/ "
    "(822 MB), unzip it and pass --glove /path/to/glove.6B.300d.txt (or set $HARNESS_GLOVE). Any text file with "
    "one 'word v1 ... vD' line per word works."
)


def word_vectors_path(value: str | os.PathLike[str] | None) -> Path | None:
    """The word-vector file a run should use: ``value`` (``--glove``), else ``$HARNESS_GLOVE``, else ``None``."""
    text = os.fspath(value) if value is not None else os.environ.get(GLOVE_ENV, "").strip()
    return Path(text).expanduser().resolve() if text else None


def check_word_vectors(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Validate every line of a GloVe-format file and return its identity.

    Returns:
        ``{"path", "sha256", "bytes", "words", "dim"}``.

    Raises:
        HarnessError: the file is missing, empty, not UTF-8, or a line is not ``word`` followed by ``dim`` numbers
            (the message names the file and the line, and says where to get GloVe).
    """
    p = Path(path).expanduser().resolve()
    if not p.is_file():
        raise HarnessError(f"word-vector file not found: {p}. {WHERE_TO_GET}")
    stat = p.stat()
    memo = _memo_path(p, stat)
    if memo.is_file():
        try:
            remembered = json.loads(memo.read_text(encoding="utf-8"))
            if remembered.get("check_version") == CHECK_VERSION:
                return {k: remembered[k] for k in ("path", "sha256", "bytes", "words", "dim")}
        except (OSError, ValueError, KeyError):
            pass  # a damaged memo is redone
    info = _scan(p)
    _remember(memo, {**info, "check_version": CHECK_VERSION})
    return info


def _scan(p: Path) -> dict[str, Any]:
    """One streaming pass: sha256 of the bytes and a check of every line."""
    digest = hashlib.sha256()
    dim = None
    words = 0
    with p.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            digest.update(raw)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise HarnessError(f"{p}:{lineno}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
            parts = line.rstrip("\n").rstrip().split(" ")
            if lineno == 1 and len(parts) == 2 and all(x.isdigit() for x in parts):
                continue  # a word2vec-style "count dim" header, which the reader skips too
            if dim is None:
                dim = len(parts) - 1
                if dim < 1:
                    raise HarnessError(f"{p}:{lineno}: expected a word followed by numbers, got {line[:60]!r}")
            if len(parts) < dim + 1 or not parts[0]:
                raise HarnessError(
                    f"{p}:{lineno}: expected a word and {dim} numbers (as on the first line), got {len(parts) - 1} "
                    f"fields; the file may be truncated or not in GloVe format. {WHERE_TO_GET}"
                )
            try:
                np.asarray(parts[-dim:], dtype=np.float32)
            except ValueError:
                bad = next(x for x in parts[-dim:] if not _is_number(x))
                raise HarnessError(f"{p}:{lineno}: {bad[:30]!r} is not a number (word {parts[0][:30]!r})") from None
            words += 1
    if dim is None or words == 0:
        raise HarnessError(f"{p}: empty word-vector file. {WHERE_TO_GET}")
    return {"path": str(p), "sha256": digest.hexdigest(), "bytes": p.stat().st_size, "words": words, "dim": dim}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _memo_path(p: Path, stat: os.stat_result) -> Path:
    """Where the check of this exact file (path, size, mtime) is remembered."""
    from harness.paths import harness_home

    ident = hashlib.sha256(f"{p}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()).hexdigest()[:24]
    return harness_home() / "cache" / "word-vectors" / f"{ident}.json"


def _remember(memo: Path, data: dict[str, Any]) -> None:
    """Write the memo atomically; a read-only cache only costs the next run another scan."""
    from harness.results import write_json_atomic

    with contextlib.suppress(OSError):
        write_json_atomic(memo, data)
