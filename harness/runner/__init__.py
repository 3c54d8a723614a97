"""The benchmark runner: suites → cells → one subprocess per cell → result records on disk.

Usage::

    from harness.suites import load_suite
    from harness.runner import plan_suite, execute
    plan = plan_suite(load_suite("smoke"), runs_dir=Path("results/runs"))
    summary = execute(plan, rerun="missing")       # summary.executed, summary.failed, summary.exit_code

Modules: ``plan`` (cells, keys, resolved configs), ``cell`` (one cell, run as ``python -m harness.runner.cell``),
``execute`` (the orchestrator: resume, failure isolation, progress), ``measure`` (profiler, environment and
report hooks), ``synthetic`` (the smoke suite's generated dataset). docs/running.md describes the layout.
Names are imported on first use, so that ``python -m harness.runner.cell`` does not import itself twice.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CellOutcome": "harness.runner.execute",
    "RunSummary": "harness.runner.execute",
    "execute": "harness.runner.execute",
    "show_config": "harness.runner.plan",
    "CellSpec": "harness.runner.plan",
    "Plan": "harness.runner.plan",
    "cell_key": "harness.runner.plan",
    "plan_suite": "harness.runner.plan",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'harness.runner' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
