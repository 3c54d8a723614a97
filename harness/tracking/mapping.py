"""Map result records to MLflow params, metrics and tags, and aggregate seeds for parent runs (no mlflow import).

Kept free of MLflow so the mapping is testable in milliseconds and the same for live runs and ``harness sync``.

Usage::

    from harness.tracking.mapping import cell_metrics, cell_params, cell_tags, parent_metrics
    cell_metrics(record)["p_at_1"]                       # "p@1" on disk -> "p_at_1" in MLflow
    parent_metrics(records)["wordnet-nouns/p_at_1_mean"]  # seed mean of one dataset
"""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from harness import __version__
from harness.report.fields import as_number, compat_key, efficiency_paths_used, efficiency_values
from harness.results import ResultRecord

#: MLflow limits (mlflow.utils.validation): param values, tag values and entity keys.
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
MAX_KEY = 250

#: Numbers in the efficiency block that are measurement settings, not results (recorded in result.json).
EFFICIENCY_SETTINGS = frozenset(
    {"threads", "throughput_batch", "throughput_oom_backoffs", "latency_iters", "latency_k", "latency_warmup"}
)


def metric_key(name: str) -> str:
    """An MLflow-safe key: ``p@1`` -> ``p_at_1``; other characters MLflow rejects become ``_``."""
    key = re.sub(r"[^A-Za-z0-9_\-./ ]", "_", name.replace("@", "_at_"))
    return key[:MAX_KEY]


def truncate(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters, saying how much was dropped (MLflow rejects longer values)."""
    if len(text) <= limit:
        return text
    marker = f"...[truncated, {len(text)} chars in all]"
    return text[: limit - len(marker)] + marker


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings to dotted keys (``{"a": {"b": 1}}`` -> ``{"a.b": 1}``); lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def param_value(value: Any) -> str:
    """A param's text: JSON for lists, dicts and None (readable and unambiguous), ``str`` otherwise."""
    text = (
        json.dumps(value, sort_keys=True, default=str)
        if isinstance(value, list | tuple | dict) or value is None
        else str(value)
    )
    return truncate(text, MAX_PARAM_VALUE)


def cell_params(record: ResultRecord) -> dict[str, str]:
    """The flattened resolved config plus suite, dataset, model and seed (the columns users filter on)."""
    params = {
        "suite": str(record.get("suite") or ""),
        "dataset": record["dataset"]["name"],
        "model": record["model"],
        "seed": str(record["seed"]),
    }
    for key, value in flatten(record.get("config") or {}).items():
        params[metric_key(key)] = param_value(value)
    return params


def cell_metrics(record: ResultRecord) -> dict[str, float]:
    """Test metrics, other scorings (``sigma_ext/p_at_1``), validation (``val/p_at_1``) and efficiency."""
    out: dict[str, float] = {}
    for key, value in (record.get("metrics") or {}).items():
        _put(out, metric_key(key), value)
    for scoring, values in (record.get("metrics_extra") or {}).items():
        for key, value in (values or {}).items():
            _put(out, f"{metric_key(scoring)}/{metric_key(key)}", value)
    for key, value in (record.get("val_metrics") or {}).items():
        _put(out, f"val/{metric_key(key)}", value)
    for key, value in efficiency_values(record).items():
        _put(out, key, value)
    # The other top-level figures of the efficiency block and the parameter parts; nested diagnostics
    # (the FLOP breakdown by module and op) stay in the result.json artifact, and settings are not results.
    eff = record.get("efficiency") or {}
    used = efficiency_paths_used(record)
    for key, value in eff.items():
        if key not in EFFICIENCY_SETTINGS and ("efficiency", key) not in used:
            _put(out, metric_key(key), value)
    parts = eff.get("params")
    if isinstance(parts, Mapping):
        for part, value in parts.items():
            if part != "total":  # already params_total
                _put(out, metric_key(f"params_{part}"), value)
    for key in ("epochs_run", "best_epoch"):
        _put(out, key, (record.get("fit") or {}).get(key))
    return out


def _put(out: dict[str, float], key: str, value: Any) -> None:
    number = as_number(value)
    if number is not None:
        out[key] = number


def cell_tags(record: ResultRecord, invocation_id: str) -> dict[str, str]:
    """Tags that identify a cell (``harness.cell_key`` is how ``harness sync`` recognises it)."""
    dataset = record.get("dataset") or {}
    tags = {
        "harness.role": "cell",
        "harness.cell_key": record["cell_key"],
        "harness.finished_at": str(record.get("finished_at") or ""),
        "harness.invocation_id": invocation_id,
        "harness.suite": str(record.get("suite") or ""),
        "harness.dataset": str(dataset.get("name", "")),
        "harness.model": record["model"],
        "harness.seed": str(record["seed"]),
        "harness.status": record["status"],
        "harness.git_sha": str(record.get("git_sha") or "unknown"),
        "harness.git_dirty": str(record.get("git_dirty")),
        "harness.dataset_sha256": str(dataset.get("sha256", "")),
        "harness.split_hash": str(dataset.get("split_manifest_hash", "")),
        "harness.version": str(record.get("harness_version") or __version__),
        "harness.metrics_version": str(record.get("metrics_version", "")),
    }
    error = record.get("error")
    if error:
        tags["harness.error_type"] = str(error.get("type", ""))
        tags["harness.error_message"] = truncate(str(error.get("message", "")), 1000)
    if record.get("deviations"):
        tags["harness.deviations"] = truncate("\n".join(record["deviations"]), MAX_TAG_VALUE)
    return tags


def parent_metrics(records: Iterable[ResultRecord]) -> tuple[dict[str, float], list[str]]:
    """Seed means and sample stds of every cell metric, per dataset and over the suite.

    Per dataset: ``<dataset>/<key>_mean``, ``<dataset>/<key>_std`` (from two seeds on) and
    ``<dataset>/n_seeds``. Over the suite: for each seed that has every dataset, the mean over datasets,
    then ``<key>_mean`` and ``<key>_std`` over those seeds (a seed missing a dataset would bias it).
    Records of one dataset whose data or metrics version differ are never pooled: the largest group is
    used and a warning is returned.

    Returns:
        The metrics and the warnings (for a ``harness.warning`` tag).
    """
    by_dataset: dict[str, list[ResultRecord]] = defaultdict(list)
    for rec in records:
        if rec["status"] == "ok":
            by_dataset[rec["dataset"]["name"]].append(rec)
    out: dict[str, float] = {}
    warnings: list[str] = []
    per_seed: dict[str, dict[int, dict[str, float]]] = {}  # dataset -> seed -> metrics
    for dataset, recs in sorted(by_dataset.items()):
        groups = Counter(compat_key(r) for r in recs)
        chosen = max(groups, key=lambda k: groups[k])
        if len(groups) > 1:
            warnings.append(f"{dataset}: results with different data/split/metrics versions; aggregated {chosen}")
        seeds: dict[int, dict[str, float]] = {}
        for rec in sorted(recs, key=lambda r: str(r.get("finished_at") or "")):
            if compat_key(rec) == chosen:
                seeds[int(rec["seed"])] = cell_metrics(rec)  # newest record of a seed wins
        per_seed[dataset] = seeds
        prefix = metric_key(dataset)
        out[f"{prefix}/n_seeds"] = float(len(seeds))
        out.update(_mean_std(seeds.values(), f"{prefix}/"))
    if per_seed:
        common = set.intersection(*(set(s) for s in per_seed.values()))
        suite_rows = []
        for seed in sorted(common):
            rows = [per_seed[d][seed] for d in per_seed]
            keys = set.intersection(*(set(r) for r in rows))
            suite_rows.append({k: statistics.fmean(r[k] for r in rows) for k in keys})
        out["n_seeds"] = float(len(suite_rows))
        out["n_datasets"] = float(len(per_seed))
        out.update(_mean_std(suite_rows, ""))
    return out, warnings


def _mean_std(rows: Iterable[Mapping[str, float]], prefix: str) -> dict[str, float]:
    values: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        for key, value in row.items():
            values[key].append(value)
    out = {}
    for key, vals in values.items():
        out[metric_key(f"{prefix}{key}_mean")] = statistics.fmean(vals)
        if len(vals) > 1:  # a single seed has no spread; logging 0 would claim one
            out[metric_key(f"{prefix}{key}_std")] = statistics.stdev(vals)
    return out
