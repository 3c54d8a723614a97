"""Realistic cell folders (result.json, topk.npz, env.json, log.txt) for report and tracking tests.

The records follow what ``harness.runner.cell`` writes (base fields, profiler efficiency block, env probe),
so tests exercise the same shapes as a real run without training anything.

Usage::

    from tests.fixtures_results import make_record, write_cell, write_standard_runs
    write_cell(tmp_path / "runs", make_record(model="knn", seed=1, p1=0.31))
    cells = write_standard_runs(tmp_path / "runs")   # the scenario the report snapshot pins
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from harness import METRICS_VERSION, RESULT_SCHEMA_VERSION, __version__
from harness.results import write_json_atomic

ENV = {
    "git_sha": "0123456789abcdef0123456789abcdef01234567",
    "git_dirty": False,
    "versions": {"python": "3.11.2", "torch": "2.13.0+cpu", "numpy": "2.3.0", "mlflow": "3.17.2"},
    "platform": "Linux-6.1-x86_64",
    "cpu": {"model": "AMD EPYC 7B13", "logical_cores": 2, "usable_cores": 2, "ram_gib": 24.0},
    "torch_threads": 2,
    "gpu": None,
    "device": "cpu",
    "threads": 2,
}

SMOKE_DEVIATION = "trained for 2 epochs instead of 30 (smoke suite)"


def make_record(
    *,
    suite: str = "smoke",
    dataset: str = "wordnet-nouns",
    model: str = "inceptionxml",
    seed: int = 0,
    p1: float = 0.42,
    latency_ms: float = 1.5,
    flops: float | None = 1.25e6,
    params_total: int = 2_345_678,
    train_s: float = 30.0,
    split_hash: str = "split-aaaaaaaaaaaa",
    dataset_sha: str = "ds-sha-000000000000",
    metrics_version: str = METRICS_VERSION,
    deviations: tuple[str, ...] = (),
    failed: str | None = None,
    config: dict[str, Any] | None = None,
    finished_at: str = "2026-11-22T17:00:00+00:00",
) -> dict[str, Any]:
    """A result record; ``failed="OutOfMemory"`` gives a failed cell with that error type."""
    config = config if config is not None else {"embedding_dim": 300, "encoder": {"filters": [32, 64]}, "lr": 0.005}
    key_src = json.dumps(
        [suite, dataset, model, seed, config, split_hash, dataset_sha, metrics_version], sort_keys=True
    )
    record: dict[str, Any] = {
        "schema_version": RESULT_SCHEMA_VERSION,
        "cell_key": hashlib.sha256(key_src.encode()).hexdigest(),
        "suite": suite,
        "model": model,
        "seed": seed,
        "dataset": {
            "name": dataset,
            "sha256": dataset_sha,
            "split_manifest_hash": split_hash,
            "n_train": 900,
            "n_val": 100,
            "n_test": 250,
            "n_labels": 160,
            "A": 0.55,
            "B": 1.5,
        },
        "config": config,
        "overrides": {},
        "k": 5,
        "metrics_version": metrics_version,
        "harness_version": __version__,
        "git_sha": ENV["git_sha"],
        "git_dirty": False,
        "started_at": "2026-11-22T16:59:00+00:00",
        "finished_at": finished_at,
        "env": dict(ENV),
    }
    if failed:
        record.update(
            status="failed",
            error={
                "type": failed,
                "message": f"{failed} while training\nsecond line",
                "traceback": "Traceback (most recent call last):\n  ...",
            },
        )
        return record
    metrics = {}
    for k, scale in ((1, 1.0), (3, 0.8), (5, 0.6)):
        metrics[f"p@{k}"] = round(p1 * scale, 6)
        metrics[f"ndcg@{k}"] = round(p1 * (scale + 1) / 2, 6)
        metrics[f"psp@{k}"] = round(p1 * scale * 0.7, 6)
    record.update(
        status="ok",
        metrics=metrics,
        val_metrics={"p@1": round(p1 + 0.01, 6)},
        fit={"train_seconds": train_s, "epochs_run": 2, "best_epoch": 1, "best_val": {}, "history": []},
        efficiency={
            "device": "cpu",
            "params": {
                "embedding": params_total // 2,
                "encoder": params_total // 4,
                "head": params_total - params_total // 2 - params_total // 4,
                "total": params_total,
            },
            "params_source": "model card",
            "model_bytes": params_total * 4,
            "threads": 2,
            "flops_per_query": flops,
            "flops_unit": "MAC",
            "latency_ms_p50_bs1": latency_ms,
            "latency_ms_p95_bs1": latency_ms * 1.4,
            "throughput_qps": 1000.0 / latency_ms * 20,
            "throughput_batch": 256,
            "peak_rss_mb": 512.0,
            "peak_gpu_mb": None,
            "train_s": train_s,
            "predict_test_s": 0.8,
            "profiled": True,
        },
        card={"name": model, "params": {"total": params_total}, "deviations": list(deviations)},
        deviations=list(deviations),
        error=None,
    )
    return record


def write_cell(runs_dir: Path, record: dict[str, Any]) -> Path:
    """Write a cell folder the way the runner lays it out; returns the folder."""
    cell_dir = (
        runs_dir
        / record["suite"]
        / record["dataset"]["name"]
        / record["model"]
        / f"seed-{record['seed']}"
        / record["cell_key"][:12]
    )
    cell_dir.mkdir(parents=True, exist_ok=True)
    (cell_dir / "log.txt").write_text("fit done\n", encoding="utf-8")
    write_json_atomic(cell_dir / "env.json", record["env"])
    if record["status"] == "ok":
        rng = np.random.default_rng(record["seed"])
        np.savez_compressed(cell_dir / "topk.npz", indices=rng.integers(0, 160, (250, 5)), scores=rng.random((250, 5)))
    write_json_atomic(cell_dir / "result.json", record)
    return cell_dir


def standard_records() -> list[dict[str, Any]]:
    """Two datasets, three models, std over seeds, a deviation, a failed cell, and a mixed-split result."""
    records = []
    for seed, p1, lat, train in ((0, 0.4210, 1.52, 31.0), (1, 0.4350, 1.48, 29.5), (2, 0.4290, 1.61, 30.2)):
        records.append(make_record(seed=seed, p1=p1, latency_ms=lat, train_s=train, deviations=(SMOKE_DEVIATION,)))
    for seed, p1, lat in ((0, 0.3120, 0.40), (1, 0.3120, 0.42), (2, 0.3120, 0.41)):
        records.append(
            make_record(
                model="knn", seed=seed, p1=p1, latency_ms=lat, flops=None, params_total=0, train_s=0.9, config={"k": 25}
            )
        )
    for seed, p1 in ((0, 0.4410), (1, 0.4380)):
        records.append(
            make_record(
                model="syncxml",
                seed=seed,
                p1=p1,
                latency_ms=2.9,
                flops=2.5e6,
                params_total=3_100_000,
                train_s=75.0,
                config={"sync": True},
            )
        )
    records.append(make_record(model="syncxml", seed=2, failed="OutOfMemory", config={"sync": True}))
    # Same model and seed, but a different validation split: must be its own, flagged row.
    records.append(
        make_record(
            seed=0,
            p1=0.5,
            split_hash="split-bbbbbbbbbbbb",
            deviations=(SMOKE_DEVIATION,),
            finished_at="2026-11-21T10:00:00+00:00",
        )
    )
    tiny = {"dataset": "tiny-synth", "dataset_sha": "ds-sha-111111111111", "split_hash": "split-cccccccccccc"}
    records.append(make_record(p1=0.61, latency_ms=1.1, flops=9.9e5, train_s=12.0, **tiny))
    records.append(
        make_record(
            model="knn", p1=0.58, latency_ms=0.2, flops=None, params_total=0, train_s=0.3, config={"k": 25}, **tiny
        )
    )
    return records


def write_standard_runs(runs_dir: Path) -> list[Path]:
    """Write :func:`standard_records` under ``runs_dir``; returns the cell folders."""
    return [write_cell(runs_dir, rec) for rec in standard_records()]
