"""Shared fixtures: the ../shared reference data (skipped when absent) and an isolated harness home."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
#: ../shared beside the repository; a user's fresh clone does not have it, so tests using it skip.
SHARED_DIR = Path(os.environ.get("HARNESS_SHARED_DIR", REPO_ROOT.parent / "shared"))


@pytest.fixture
def shared_xc() -> Path:
    """Folder holding the real XC-repository datasets (Bibtex, Delicious); skips when ../shared is absent."""
    path = SHARED_DIR / "data" / "xc"
    if not (path / "Bibtex" / "train.txt").is_file():
        pytest.skip(f"reference data not found at {path} (../shared is absent)")
    return path


@pytest.fixture(autouse=True)
def isolated_harness_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point HARNESS_HOME (split manifests, caches) at a fresh folder so tests never touch the user's."""
    home = tmp_path_factory.mktemp("harness_home")
    monkeypatch.setenv("HARNESS_HOME", str(home))
    monkeypatch.delenv("HARNESS_DATA", raising=False)
    return home
