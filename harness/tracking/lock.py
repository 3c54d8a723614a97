"""A lock per (MLflow store, experiment), so concurrent ``harness sync`` and ``harness run`` log each cell once.

An advisory ``fcntl.flock`` on a small file: the kernel releases it when its holder exits or is killed, so a
crashed process never leaves it stuck, and the file itself is never deleted (that would let two processes
lock two different files). It serialises processes on one machine (or on one shared local folder for a
SQLite store); processes on different machines writing to one server are not covered.

Where the file is:

- SQLite store ``sqlite:////abs/results/mlflow.db``: ``/abs/results/mlruns/.harness-locks/<suite>.lock``, beside
  the artifacts of that store (so every user and container sharing the store shares the lock);
- any other store: ``<temp dir>/xmc-harness-<uid>/locks/<suite>-<hash of the store>.lock``.

Usage::

    from harness.tracking.lock import lock_path, store_lock
    with store_lock(lock_path("sqlite:////abs/results/mlflow.db", "smoke")):
        ...  # look up the cell in MLflow and log it if it is missing
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

from harness.tracking.uri import sqlite_path, strip_userinfo, uri_scheme

#: How long a process waits for another to finish logging a cell before giving up (one cell holds it seconds).
LOCK_TIMEOUT_S = 600.0
_POLL_S = 0.05

_held: dict[str, int] = {}  # lock files this process holds -> nesting depth (flock is not re-entrant)


def lock_path(uri: str, suite: str) -> Path:
    """The lock file shared by every process logging experiment ``suite`` to the store at ``uri``."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", suite)[:80] or "_"
    db = sqlite_path(uri)
    if db is not None:
        return db.resolve().parent / "mlruns" / ".harness-locks" / f"{name}.lock"
    store = strip_userinfo(uri)
    scheme = uri_scheme(uri)
    if scheme in ("", "file"):  # a local folder store: the same folder however it is spelled
        folder = urllib.parse.unquote(urllib.parse.urlsplit(store).path) if scheme == "file" else store
        store = str(Path(folder).resolve())
    digest = hashlib.sha256(f"{store}\n{suite}".encode()).hexdigest()[:16]
    return _private_dir() / f"{name}-{digest}.lock"


def _private_dir() -> Path:
    uid = os.getuid() if hasattr(os, "getuid") else 0
    base = Path(tempfile.gettempdir()) / f"xmc-harness-{uid}"
    base.mkdir(mode=0o700, exist_ok=True)
    info = base.lstat()
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode) or (hasattr(os, "getuid") and info.st_uid != uid):
        raise PermissionError(f"{base} is not a folder of this user; remove it or set TMPDIR elsewhere")
    locks = base / "locks"
    locks.mkdir(mode=0o700, exist_ok=True)
    return locks


@contextlib.contextmanager
def store_lock(path: Path, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the exclusive lock ``path`` (created if missing) for the ``with`` block; re-entrant in one process.

    Raises:
        TimeoutError: another process held it for ``timeout`` seconds.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: no cross-process protection (the records on disk are unaffected)
        yield
        return
    key = str(Path(path).absolute())
    if _held.get(key):
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(
                        f"{path}: another harness process logging to the same MLflow experiment held this lock "
                        f"for {timeout:.0f} s; try again when it is done"
                    ) from None
                time.sleep(_POLL_S)
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]
    finally:
        os.close(fd)  # releases the lock
