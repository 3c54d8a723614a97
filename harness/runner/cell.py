"""Run ONE benchmark cell in this process: data, split, fit, test top-k, metrics, profile, then files on disk.

Usage::

    python -m harness.runner.cell runs/smoke/synthetic-tiny/inceptionxml/seed-0/1a2b3c4d5e6f/cell.json

The orchestrator (:mod:`harness.runner.execute`) starts one such process per cell, with stdout and stderr
going to ``log.txt``. The cell writes ``topk.npz`` and ``env.json``, then ``result.json`` atomically and
last: its presence means the cell is finished, ok or failed. An exception becomes a ``status: "failed"``
record; an interrupt (Ctrl-C) writes nothing, so the cell simply runs again next time.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import sys
import time
import traceback
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness import METRICS_VERSION, RESULT_SCHEMA_VERSION, __version__
from harness.errors import HarnessError
from harness.results import RESULT_FILE, write_json_atomic
from harness.runner.plan import CellSpec, config_data, import_plugins
from harness.runner.progress import PROGRESS_FILE, ProgressWriter

log = logging.getLogger("harness.cell")

SPEC_FILE = "cell.json"
TOPK_FILE = "topk.npz"
ENV_FILE = "env.json"
LOG_FILE = "log.txt"
MODEL_DIR = "model"
#: Set by the orchestrator: a cell whose parent is already gone exits instead of running unattended.
PARENT_ENV = "HARNESS_RUNNER_PID"


class NonFinitePredictionError(HarnessError):
    """The model's test scores contain NaN or infinity for real (non-padding) predictions."""


def utc_now() -> str:
    """ISO 8601 UTC timestamp with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def error_info(exc: BaseException, tail_lines: int = 40) -> dict[str, str]:
    """``ErrorInfo`` of an exception: a normalised type (OutOfMemory, NonFiniteLoss, …), message, traceback tail."""
    name = type(exc).__name__
    if isinstance(exc, MemoryError) or name == "OutOfMemoryError":  # torch.cuda.OutOfMemoryError
        kind = "OutOfMemory"
    elif name == "NonFiniteLossError":
        kind = "NonFiniteLoss"
    else:
        kind = name
    lines = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).splitlines()
    return {"type": kind, "message": str(exc)[:4000], "traceback": "\n".join(lines[-tail_lines:])}


def build_model(spec: CellSpec) -> Any:
    """The cell's model, built from the config the plan resolved and the cell key hashes, field for field.

    Building from the suite's overrides instead would pick up any default that changed since planning, so the
    numbers would belong to another key; a field the model no longer has is an error, not silently dropped.
    """
    from harness.models import model_registry
    from harness.models.contract import config_from_dict

    cls = model_registry.get(spec.model)
    try:
        config = config_from_dict(cls.Config, spec.config, spec.model)
    except (TypeError, ValueError) as exc:
        raise HarnessError(
            f"{spec.model}'s planned config no longer fits its code ({exc}); run the suite again"
        ) from None
    if config_data(config) != spec.config:  # e.g. a field added since planning took its default
        raise HarnessError(f"{spec.model}'s planned config no longer fits its code; run the suite again")
    return cls(config)


def base_record(spec: CellSpec, started: str) -> dict[str, Any]:
    """The fields every record of this cell carries, ok or failed."""
    return {
        "schema_version": RESULT_SCHEMA_VERSION,
        "cell_key": spec.key,
        "suite": spec.suite,
        "model": spec.model,
        "seed": spec.seed,
        "dataset": dict(spec.dataset_info),
        "config": spec.config,
        "overrides": spec.overrides,
        "k": spec.k,
        "metrics_version": METRICS_VERSION,
        "harness_version": __version__,
        "git_sha": spec.git_sha,
        "git_dirty": spec.git_dirty,
        "started_at": started,
    }


def failed_record(spec: CellSpec, error: dict[str, str], started: str, env: dict | None = None) -> dict[str, Any]:
    """A ``status: "failed"`` record (written by the cell for exceptions, by the orchestrator for kills)."""
    record = base_record(spec, started)
    record.update({"status": "failed", "error": error, "finished_at": utc_now(), "env": env or {}})
    return record


def _finite_or_none(value: Any) -> Any:
    # Histories can hold NaN (an epoch without validation); JSON on disk is strict, so those become null.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(v) for v in value]
    return value


def _seed_all(seed: int) -> None:
    # Models seed themselves through FitContext; this also covers code that draws before fit (or forgets).
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - the legacy global state is exactly what careless code uses
    torch.manual_seed(seed)


def run_cell(spec: CellSpec, started: str) -> dict[str, Any]:
    """Execute the cell and write ``topk.npz`` and ``env.json``; return the ok record (not yet written)."""
    import numpy as np
    import torch

    from harness.data import load_dataset, split_train
    from harness.metrics import evaluate, inverse_propensity
    from harness.models.contract import FitContext
    from harness.runner.measure import capture_env, measure_efficiency, profiling_queries

    torch.set_num_threads(spec.threads)
    import_plugins()
    _seed_all(spec.seed)
    cell_dir = spec.path
    log.info("cell %s (%s): %d threads, device %s", cell_dir, spec.label, spec.threads, spec.device)
    # The orchestrator shows progress.json live (harness.runner.progress) and deletes it when the cell ends.
    progress = ProgressWriter(cell_dir / PROGRESS_FILE)
    progress.phase("data")

    # The shipped BoW features are read only for a model that clusters on them (SyncXML's paper profile).
    bow = spec.config.get("cluster_features") == "bow"
    ds = load_dataset(spec.dataset_ref, data_dir=spec.data_dir, features=True if bow else None)
    train, val, manifest = split_train(ds, seed=spec.split_seed, fraction=spec.val_fraction)
    if (ds.sha256, manifest.manifest_hash) != (spec.dataset_info["sha256"], spec.dataset_info["split_manifest_hash"]):
        raise HarnessError(f"{ds.name} changed on disk since the run was planned (sha256 or split differs)")
    # Propensities from training labels only: the fitted part for validation, all of train for test.
    inv_fit = inverse_propensity(train.Y, ds.A, ds.B)
    inv_train = inverse_propensity(ds.train.Y, ds.A, ds.B)

    model = build_model(spec)
    work_dir = cell_dir / "work"
    ctx = FitContext(
        seed=spec.seed,
        num_labels=ds.num_labels,
        label_texts=ds.label_texts,
        device=spec.device,
        inv_prop=inv_fit,
        work_dir=work_dir,
        on_progress=progress,
        unlabelled_texts=ds.test.texts,
        threads=spec.threads,
    )
    progress.phase("fit")
    t0 = time.perf_counter()
    report = model.fit(train, val, ctx=ctx)
    train_s = time.perf_counter() - t0
    shutil.rmtree(work_dir, ignore_errors=True)
    log.info("fit done in %.1fs (%s epochs, best %s)", train_s, report.epochs_run, report.best_epoch)

    progress.phase("predict")
    # Filtered (reciprocal) pairs are dropped before ranking, so ask for as many extra labels as a row loses.
    extra = 0
    if ds.filter_test is not None and len(ds.filter_test):
        extra = int(np.bincount(ds.filter_test[:, 0]).max())
    t0 = time.perf_counter()
    top = model.predict_split(ds.test, spec.k + extra)
    predict_s = time.perf_counter() - t0
    indices, scores = np.asarray(top.indices), np.asarray(top.scores, dtype=np.float32)
    expected = (len(ds.test), spec.k + extra)
    if indices.shape != expected:
        raise HarnessError(f"{spec.model} returned top-k of shape {indices.shape}, expected {expected}")
    if not np.isfinite(scores[indices >= 0]).all():
        raise NonFinitePredictionError(f"{spec.model} produced NaN or infinite scores on the test set")
    metrics = evaluate((indices, scores), ds.test.Y, inv_prop=inv_train, k=spec.k, filter_pairs=ds.filter_test)
    _save_topk(cell_dir / TOPK_FILE, indices, scores, spec.k)
    # --- per-query metric values for the report's paired significance test (so it never needs the data) ---
    from harness.metrics.per_query import PER_QUERY_FILE, per_query_values, save_per_query

    per_query = per_query_values(
        (indices, scores), ds.test.Y, inv_prop=inv_train, k=spec.k, filter_pairs=ds.filter_test
    )
    save_per_query(cell_dir / PER_QUERY_FILE, per_query, cell_key=spec.key, dataset_sha256=ds.sha256)
    # --- end per-query block ---
    metrics_extra = {
        scoring: evaluate(
            (np.asarray(alt.indices), np.asarray(alt.scores, dtype=np.float32)),
            ds.test.Y,
            inv_prop=inv_train,
            k=spec.k,
            filter_pairs=ds.filter_test,
        )
        for scoring, alt in model.predict_split_scorings(ds.test, spec.k + extra).items()
    }

    model_dir = cell_dir / MODEL_DIR
    progress.phase("profile")
    model.save(model_dir)
    queries, predict, latency_what = profiling_queries(model, ds.test)
    efficiency = measure_efficiency(
        model,
        queries,
        predict=predict,
        latency_what=latency_what,
        device=spec.device,
        threads=spec.threads,
        k=spec.k,
        options=spec.profiling,
        train_s=train_s,
        model_dir=model_dir,
    )
    efficiency["predict_test_s"] = predict_s
    if not spec.keep_models:
        shutil.rmtree(model_dir, ignore_errors=True)
    card = asdict(model.card())
    env = capture_env(
        threads=spec.threads, device=spec.device, git_sha=spec.git_sha, git_dirty=spec.git_dirty, plugins=spec.plugins
    )
    write_json_atomic(cell_dir / ENV_FILE, env)

    record = base_record(spec, started)
    record.update(
        {
            "status": "ok",
            "metrics": metrics,
            "metrics_extra": metrics_extra,
            "evaluation": {
                "filter_pairs": int(len(ds.filter_test)) if ds.filter_test is not None else 0,
                "inputs": spec.inputs,
            },
            "val_metrics": dict(report.best_val),
            "fit": _finite_or_none(asdict(report)),
            "efficiency": _finite_or_none(efficiency),
            "card": _finite_or_none(card),
            "deviations": [*(card.get("deviations") or []), *(f"suite {spec.suite}: {n}" for n in spec.notes)],
            "env": env,
            "error": None,
            "finished_at": utc_now(),
        }
    )
    return record


def _save_topk(path: Path, indices: Any, scores: Any, k: int) -> None:
    """``topk.npz`` through a temporary name: a killed cell never leaves a truncated archive under the real name."""
    import numpy as np

    from harness.io import write_npz_atomic

    write_npz_atomic(path, indices=indices.astype(np.int64), scores=scores, k=np.int64(k))


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when the orchestrator dies, so no orphan keeps writing a cell folder."""
    expected = os.environ.get(PARENT_ENV)
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if expected and os.getppid() != int(expected):  # the parent died before prctl took effect
        raise SystemExit(130)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the cell process; returns 0 (ok), 1 (failed, recorded) or 130 (interrupted)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m harness.runner.cell CELL_DIR/cell.json\n")
        return 2
    _die_with_parent()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    spec_path = Path(args[0])
    spec = CellSpec.from_dict(json.loads(spec_path.read_text(encoding="utf-8")))
    started = utc_now()
    try:
        record = run_cell(spec, started)
    except KeyboardInterrupt:
        log.warning("interrupted: no result written; the cell runs again next time")
        return 130
    except BaseException as exc:  # noqa: BLE001 - every other failure is this cell's, recorded and survived
        log.error("cell failed: %s: %s", type(exc).__name__, exc, exc_info=exc)
        record = failed_record(spec, error_info(exc), started)
    write_json_atomic(spec.path / RESULT_FILE, record)
    log.info("wrote %s (status %s)", spec.path / RESULT_FILE, record["status"])
    return 0 if record["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
