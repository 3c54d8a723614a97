"""Fixtures for the tracking tests: an isolated MLflow environment and, for the server test, a real server."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # Registered here so the marker works without touching pyproject.toml (which the lead owns).
    config.addinivalue_line("markers", "mlflow: talks to a real MLflow store or server (runs by default)")


@pytest.fixture(autouse=True)
def mlflow_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No telemetry, no user tracking URI leaking in, and quick failures against dead servers."""
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")


def _scratch_root() -> str | None:
    """``/dev/shm`` where writable: SQLite's fsyncs there are free (store creation 2 s instead of 7 s)."""
    shm = "/dev/shm"  # noqa: S108 - a private mkdtemp below it, removed after use
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


@contextlib.contextmanager
def _scratch(fallback: Path) -> Iterator[Path]:
    root = _scratch_root()
    if root is None:
        fallback.mkdir(parents=True, exist_ok=True)
        yield fallback
        return
    path = Path(tempfile.mkdtemp(prefix="xmc-harness-test-", dir=root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def _mlflow_db_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An empty, fully migrated MLflow SQLite store, made once (creating one runs ~50 migrations)."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow.tracking import MlflowClient

    with _scratch(tmp_path_factory.mktemp("mlflow_template")) as folder:
        path = folder / "mlflow.db"
        MlflowClient(f"sqlite:///{path}").search_experiments()
        yield path


@pytest.fixture
def fast_dir(tmp_path: Path) -> Iterator[Path]:
    """A scratch folder on tmpfs when there is one (for MLflow stores only: results stay under tmp_path)."""
    with _scratch(tmp_path / "fast") as folder:
        yield folder


@pytest.fixture
def mlflow_db(_mlflow_db_template: Path) -> Callable[[Path], str]:
    """``mlflow_db(path)`` copies the migrated empty store to ``path`` and returns its ``sqlite:///`` URI."""

    def make(path: Path) -> str:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_mlflow_db_template, path)
        return f"sqlite:///{path}"

    return make
