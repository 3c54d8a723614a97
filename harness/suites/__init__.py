"""Benchmark suites: committed YAML files in this folder, one per suite (``harness ls suites``).

Usage::

    from harness.suites import list_suites
    list_suites()   # [{"name": ..., "datasets": ..., "description": ...}, ...]

The runner that executes suites arrives with ``harness run``; until then this only lists what is committed.
"""

from __future__ import annotations

from pathlib import Path

SUITES_DIR = Path(__file__).resolve().parent


def list_suites() -> list[dict[str, str]]:
    """Name, datasets and description of every committed suite file, sorted by name."""
    import yaml

    rows = []
    for path in sorted(SUITES_DIR.glob("*.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        rows.append(
            {
                "name": path.stem,
                "datasets": ", ".join(spec.get("datasets", [])),
                "description": str(spec.get("description", "")),
            }
        )
    return rows
