"""Read the values the report and the MLflow tracker need out of a result record, tolerant of layout.

The efficiency block of a record is written by the profiler, whose exact nesting may evolve; every reader
of it goes through :func:`efficiency_values`, which knows the accepted spellings of each figure, so only
this module changes when the layout does.

Usage::

    from harness.report.fields import efficiency_values, compat_key
    eff = efficiency_values(record)          # {"latency_ms_p50_bs1": 1.7, "flops_per_query": None, ...}
    key = compat_key(record)                 # records with different keys are never averaged together
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

#: Canonical efficiency names -> the record paths that may hold them, first match wins. The canonical
#: names are also the MLflow metric keys.
EFFICIENCY_PATHS: dict[str, tuple[tuple[str, ...], ...]] = {
    "train_s": (("efficiency", "train_s"), ("efficiency", "train_seconds"), ("fit", "train_seconds")),
    "params_total": (("efficiency", "params", "total"), ("efficiency", "params"), ("card", "params", "total")),
    "model_bytes": (("efficiency", "model_bytes"), ("efficiency", "size", "model_bytes")),
    "flops_per_query": (("efficiency", "flops_per_query"), ("efficiency", "flops", "per_query")),
    "latency_ms_p50_bs1": (
        ("efficiency", "latency_ms_p50_bs1"),
        ("efficiency", "infer_ms_p50_bs1"),
        ("efficiency", "latency", "p50_ms_bs1"),
        ("efficiency", "latency", "bs1_p50_ms"),
        ("efficiency", "latency", "p50_ms"),
    ),
    "latency_ms_p95_bs1": (
        ("efficiency", "latency_ms_p95_bs1"),
        ("efficiency", "infer_ms_p95_bs1"),
        ("efficiency", "latency", "p95_ms_bs1"),
        ("efficiency", "latency", "bs1_p95_ms"),
        ("efficiency", "latency", "p95_ms"),
    ),
    "throughput_qps": (
        ("efficiency", "throughput_qps"),
        ("efficiency", "latency", "throughput_qps"),
        ("efficiency", "throughput", "qps"),
    ),
    "peak_rss_mb": (("efficiency", "peak_rss_mb"), ("efficiency", "memory", "peak_rss_mb")),
    "peak_gpu_mb": (("efficiency", "peak_gpu_mb"), ("efficiency", "memory", "peak_gpu_mb")),
}


class CompatKey(NamedTuple):
    """What must be equal for two results to be averaged or compared (MTEB #5228: never mix versions)."""

    dataset_sha256: str
    split_hash: str
    metrics_version: str


def lookup(data: Any, path: Iterable[str]) -> Any:
    """Follow ``path`` through nested mappings; ``None`` when any step is missing."""
    for part in path:
        if not isinstance(data, Mapping) or part not in data:
            return None
        data = data[part]
    return data


def as_number(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` (bools, strings, dicts and NaN are not figures)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def efficiency_values(record: Mapping[str, Any]) -> dict[str, float | None]:
    """Every canonical efficiency figure of a record; ``None`` where absent (e.g. FLOPs of a tree model)."""
    return {name: _first_number(record, paths)[0] for name, paths in EFFICIENCY_PATHS.items()}


def efficiency_paths_used(record: Mapping[str, Any]) -> set[tuple[str, ...]]:
    """The record paths :func:`efficiency_values` read, so other exporters can skip them as duplicates."""
    used = set()
    for paths in EFFICIENCY_PATHS.values():
        path = _first_number(record, paths)[1]
        if path is not None:
            used.add(path)
    return used


def _first_number(record: Mapping[str, Any], paths: tuple[tuple[str, ...], ...]) -> tuple[float | None, Any]:
    for path in paths:
        value = as_number(lookup(record, path))
        if value is not None:
            return value, path
    return None, None


def fit_stop(record: Mapping[str, Any]) -> tuple[str | None, bool | None]:
    """``(fit.stop_reason, fit.converged)`` of a record; ``(None, None)`` for records written before they existed.

    Only a literal boolean counts as a verdict: an older record must never read as converged (or not).
    """
    fit = record.get("fit") or {}
    reason = fit.get("stop_reason") if isinstance(fit, Mapping) else None
    converged = fit.get("converged") if isinstance(fit, Mapping) else None
    return (str(reason) if reason is not None else None), (converged if isinstance(converged, bool) else None)


def compat_key(record: Mapping[str, Any]) -> CompatKey:
    """Dataset sha256, split manifest hash and metrics version of a record ("?" where unrecorded)."""
    dataset = record.get("dataset") or {}
    return CompatKey(
        str(dataset.get("sha256") or "?"),
        str(dataset.get("split_manifest_hash") or "?"),
        str(record.get("metrics_version") or "?"),
    )


def config_digest(record: Mapping[str, Any]) -> str:
    """A short hash of the resolved config without any ``seed`` key, so the seeds of one config group together."""
    canonical = json.dumps(_drop_seeds(record.get("config") or {}), sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:8]


def _drop_seeds(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _drop_seeds(v) for k, v in value.items() if k != "seed"}
    if isinstance(value, list | tuple):
        return [_drop_seeds(v) for v in value]
    return value


def hardware_summary(env: Mapping[str, Any] | None) -> str:
    """One line naming CPU, GPU, torch threads and library versions, from whichever keys the env has."""
    env = env or {}
    cpu = _first_str(env, ("cpu", "model"), ("cpu",), ("hardware", "cpu"), ("processor",))
    cores = _first_str(env, ("cpu", "usable_cores"), ("cpu", "logical_cores"), ("cpu_count",))
    gpu = _first_str(env, ("gpu", "name"), ("gpu",), ("gpu_name",))
    threads = _first_str(env, ("torch_threads",), ("threads",))
    torch = _first_str(env, ("versions", "torch"), ("torch",))
    python = _first_str(env, ("versions", "python"), ("python",))
    parts = [f"{cpu or 'unknown CPU'}" + (f" ({cores} cores)" if cores else "")]
    parts.append(f"GPU {gpu}" if gpu else "no GPU")
    if threads:
        parts.append(f"{threads} torch thread{'' if threads == '1' else 's'}")
    if torch:
        parts.append(f"torch {torch}")
    if python:
        parts.append(f"Python {python}")
    return ", ".join(parts)


def _first_str(env: Mapping[str, Any], *paths: tuple[str, ...]) -> str | None:
    for path in paths:
        value = lookup(env, path)
        if value not in (None, "", []) and not isinstance(value, Mapping | list):
            return str(value)
    return None


def humanise_count(value: float) -> str:
    """``12_345_678`` -> ``"12.3M"``: three significant digits with an SI suffix."""
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= div:
            return f"{value / div:.3g}{suffix}"
    return f"{value:.3g}"


def humanise_seconds(mean: float, std: float | None = None) -> str:
    """Seconds as s, min or h (one unit for mean and std), e.g. ``"12.3 ± 0.4 min"``."""
    for div, unit, limit in ((1.0, "s", 120.0), (60.0, "min", 7200.0), (3600.0, "h", math.inf)):
        if mean < limit:
            text = f"{mean / div:.1f}"
            if std is not None:
                text += f" ± {std / div:.1f}"
            return f"{text} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover
