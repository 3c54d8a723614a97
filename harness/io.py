"""One home for the file operations every part of the harness needs: atomic writes, file hashes, folder sizes.

Usage::

    from harness.io import atomic_write, write_json_atomic, write_npz_atomic, file_sha256, dir_bytes
    write_json_atomic(cell / "result.json", record)          # never a half-written file, even on SIGKILL
    write_npz_atomic(cell / "topk.npz", indices=idx, scores=s)
    dir_bytes(cell / "model")                                  # model bytes on disk, one definition for all

A crash, a kill or a concurrent reader must never see a truncated result, archive or cache entry: each writer
goes through a temporary file in the target's folder (same filesystem) and ``os.replace``, which is atomic on
POSIX. Before this module the harness had four such writers and two folder sizes that disagreed on symlinks.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_write(
    path: str | Path, mode: str = "wb", *, durable: bool = True, make_parents: bool = True
) -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path`` for writing; on success it replaces ``path``, on error it is removed.

    ``durable`` fsyncs before the rename (results, caches); scratch files such as live progress skip it.
    ``make_parents=False`` fails instead of recreating a folder someone removed (a cell folder being cleaned up).
    The file gets the usual umask permissions (``mkstemp`` alone would leave it 0600), because results are shared.
    """
    path = Path(path)
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | Path, data: Any, *, default: Callable[[Any], Any] | None = None) -> None:
    """JSON (sorted keys, indented, no NaN) written atomically and durably."""
    with atomic_write(path, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True, allow_nan=False, default=default)
        fh.write("\n")


def write_npz_atomic(path: str | Path, *, compressed: bool = True, **arrays: Any) -> None:
    """A numpy ``.npz`` archive written atomically: a killed process never leaves a truncated archive."""
    import numpy as np

    with atomic_write(path, "wb") as fh:
        (np.savez_compressed if compressed else np.savez)(fh, **arrays)


def file_sha256(path: str | Path) -> str:
    """SHA-256 hex digest of a file's bytes as stored (compressed files are hashed compressed)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dir_bytes(path: str | Path) -> int:
    """Bytes on disk of the regular files under ``path`` (a saved model folder), symlinks not followed."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
