"""Datasets shipped inside the package (``harness/data/embedded/NAME``), checksum-verified before use.

Usage::

    from harness.data.embedded import list_embedded, verified_embedded_dir

    list_embedded()                              # ['wordnet-nouns']
    folder = verified_embedded_dir("wordnet-nouns")   # every file checked against its SHA256SUMS
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from harness.errors import HarnessError
from harness.registry import UnknownNameError, did_you_mean

__all__ = ["EMBEDDED_ROOT", "list_embedded", "verified_embedded_dir", "clear_verification_cache"]

#: Folder holding one sub-folder per embedded dataset (installed as package data).
EMBEDDED_ROOT: Path = Path(__file__).resolve().parent / "embedded"
SUMS_FILE = "SHA256SUMS"

#: Folders already verified in this process: hashing a few MB on every load would be wasted work.
_verified: set[Path] = set()

# ``sha256sum`` output: 64 hex digits, two spaces (or space + '*' for binary mode), a plain file name.
_SUMS_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")


def list_embedded() -> list[str]:
    """Names of the embedded datasets (sub-folders of :data:`EMBEDDED_ROOT` holding a ``SHA256SUMS``)."""
    root = EMBEDDED_ROOT
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / SUMS_FILE).is_file())


def clear_verification_cache() -> None:
    """Forget which folders were verified, so the next :func:`verified_embedded_dir` re-hashes them."""
    _verified.clear()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _repair_hint(name: str) -> str:
    return (
        f"Rebuild it with `harness data build {name} --out DIR` and point the harness at DIR, "
        "or reinstall xmc-harness (pip install --force-reinstall xmc-harness)."
    )


def _read_sums(folder: Path, name: str) -> list[tuple[str, str]]:
    """Parse ``SHA256SUMS`` into ``(file name, hex digest)`` pairs; file names must be plain names."""
    sums_path = folder / SUMS_FILE
    if not sums_path.is_file():
        raise HarnessError(f"embedded dataset {name!r}: {sums_path} is missing. {_repair_hint(name)}")
    entries: list[tuple[str, str]] = []
    for lineno, line in enumerate(sums_path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        match = _SUMS_LINE.match(line)
        file_name = match.group(2) if match else ""
        # A path outside the folder would let a tampered SHA256SUMS vouch for arbitrary files.
        if not match or "/" in file_name or "\\" in file_name or file_name in {".", ".."}:
            raise HarnessError(
                f"embedded dataset {name!r}: {sums_path}:{lineno} is not a 'sha256  file' line. " + _repair_hint(name)
            )
        entries.append((file_name, match.group(1).lower()))
    if not entries:
        raise HarnessError(f"embedded dataset {name!r}: {sums_path} lists no files. {_repair_hint(name)}")
    return entries


def verified_embedded_dir(name: str) -> Path:
    """Return the folder of embedded dataset ``name`` after checking every file against ``SHA256SUMS``.

    The check runs once per folder per process; later calls return the cached result.

    Args:
        name: the dataset name, e.g. ``"wordnet-nouns"``.

    Returns:
        The dataset folder.

    Raises:
        UnknownNameError: no embedded dataset of that name (the message suggests the closest).
        HarnessError: ``SHA256SUMS`` or a listed file is missing, or a file's checksum differs; the
            message names the file and how to repair the installation.
    """
    known = list_embedded()
    if name not in known:
        raise UnknownNameError(
            f"unknown embedded dataset {name!r}.{did_you_mean(name, known)} "
            f"Embedded datasets: {', '.join(known) or '(none)'}"
        )
    folder = (EMBEDDED_ROOT / name).resolve()
    if folder in _verified:
        return folder
    for file_name, expected in _read_sums(folder, name):
        path = folder / file_name
        if not path.is_file():
            raise HarnessError(
                f"embedded dataset {name!r}: {path} is listed in {SUMS_FILE} but missing. {_repair_hint(name)}"
            )
        actual = _file_sha256(path)
        if actual != expected:
            raise HarnessError(
                f"embedded dataset {name!r}: checksum mismatch for {path} "
                f"(expected {expected}, got {actual}); the file is corrupted or was modified. " + _repair_hint(name)
            )
    _verified.add(folder)
    return folder
