"""Helpers for the runner tests: suite files in a temp folder and ``harness run`` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGIN = "tests.runner.plugin_models"


def write_suite(folder: Path, name: str, **fields: object) -> Path:
    """A suite YAML with test defaults (synthetic data, 1 thread, no profiling) overridden by ``fields``."""
    spec = {
        "datasets": ["synthetic-tiny"],
        "models": {"test-ok": {}},
        "seeds": [0],
        "device": "cpu",
        "threads": 1,
        "profiling": {"enabled": False},
    }
    spec.update(fields)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def harness_run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``harness run ARGS`` in a fresh process with the test-model plugin (its own registry, not ours)."""
    env = dict(os.environ, HARNESS_PLUGINS=PLUGIN, PYTHONPATH=str(REPO_ROOT))
    return subprocess.run(
        [sys.executable, "-m", "harness.cli.main", "run", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=REPO_ROOT,
    )


def results(runs_dir: Path) -> dict[str, dict]:
    """``{model/seed-n: record}`` of every result.json under ``runs_dir``."""
    out = {}
    for path in sorted(runs_dir.rglob("result.json")):
        rec = json.loads(path.read_text())
        out[f"{rec['model']}/seed-{rec['seed']}"] = rec
    return out


def invocations(runs_dir: Path, suite: str) -> list[dict]:
    """The invocation records of ``suite``, oldest first."""
    return [json.loads(p.read_text()) for p in sorted((runs_dir / suite / "invocations").glob("*.json"))]


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    return tmp_path / "runs"
