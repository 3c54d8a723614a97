"""What the runner measures besides accuracy: efficiency (through the profiler) and the environment.

The profiler (:mod:`harness.profiling`) and the report (:mod:`harness.report`) are separate packages; the
runner reaches them only through these functions, so a missing or failing one degrades a result (fewer
efficiency figures, a plain summary table) instead of failing a cell.

Usage::

    eff = measure_efficiency(model, test_texts, device="cpu", threads=2, k=5, options={}, train_s=12.3, model_dir=d)
    queries, predict, what = profiling_queries(model, ds.test)   # texts, or BoW row numbers for BoW-only data
    env = capture_env(threads=2, device="cpu", git_sha=None, git_dirty=None)
    text = summary_table(runs_dir, suite="smoke")   # the report's Markdown, or None when unavailable
"""

from __future__ import annotations

import logging
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import METRICS_VERSION, RESULT_SCHEMA_VERSION, __version__
from harness.io import dir_bytes
from harness.profiling.options import DEFAULT_QUERIES

log = logging.getLogger(__name__)


#: What a timed call covers when a BoW-only dataset is profiled on feature rows.
BOW_LATENCY_WHAT = "model.predict_matrix(test BoW rows, k): library prediction and top-k (the rows are given)"


def profiling_queries(model: Any, split: Any) -> tuple[Sequence[Any] | None, Any, str | None]:
    """What the profiler times a model on: ``(queries, predict, latency_what)``.

    Text data: the test texts, with the default ``predict_topk`` (``predict`` and ``latency_what`` are ``None``).
    BoW-only data (no text) with a model that predicts from feature rows (``predict_matrix``, the sparse peers
    and the kNN): the test row numbers, each batch predicted from those rows of ``split.X``. Otherwise no
    queries, and the cell records no latency.
    """
    if split.texts is not None:
        return split.texts, None, None
    if split.X is None or not model.predicts_from_features:
        return None, None, None
    X = split.X.tocsr()

    def predict(rows: Sequence[int], k: int) -> Any:
        return model.predict_matrix(X[list(rows)], k)

    return list(range(X.shape[0])), predict, BOW_LATENCY_WHAT


def measure_efficiency(
    model: Any,
    texts: Sequence[Any] | None,
    *,
    device: str,
    threads: int,
    k: int,
    options: dict[str, Any],
    train_s: float,
    model_dir: Path | None,
    predict: Any = None,
    latency_what: str | None = None,
) -> dict[str, Any]:
    """The result's ``efficiency`` section: the runner's own figures plus whatever the profiler measures.

    The runner always records ``train_s`` (wall time of ``fit``, measured here so that every model is timed
    the same way), parameters from the model card and ``model_bytes`` of the saved folder. The profiler adds
    latency, throughput, FLOPs and memory; a profiler error is recorded as ``profiling_error`` and logged,
    because a timing failure must not discard a trained model's accuracy.

    Args:
        texts: test-set queries to time predictions on: texts, or what ``predict`` takes (``None``: no latency
            figures); :func:`profiling_queries` chooses them.
        predict, latency_what: passed to ``profile_model`` (``None``: ``model.predict_topk`` on texts).
        options: the suite's ``profiling`` mapping: ``enabled: false`` skips the profiler, ``queries: N``
            sets how many test texts it uses, and every other key goes to ``profile_model`` as a keyword
            (``latency_iters``, ``warmup``, ``throughput_batch``, ``count_flops``, ``crosscheck``).
    """
    card = model.card()
    eff: dict[str, Any] = {"train_s": float(train_s), "params": dict(card.params), "threads": threads, "device": device}
    if model_dir is not None and model_dir.is_dir():
        eff["model_bytes"] = dir_bytes(model_dir)
    opts = dict(options)
    n_queries = int(opts.pop("queries", DEFAULT_QUERIES))
    if not opts.pop("enabled", True) or not texts:
        eff["profiled"] = False
        return eff
    try:
        from harness.profiling import profile_model
    except ImportError as exc:
        log.warning("profiler not available (%s): efficiency holds train time, parameters and size only", exc)
        eff["profiled"] = False
        return eff
    try:
        measured = profile_model(
            model,
            list(texts[:n_queries]),
            device=device,
            threads=threads,
            k=k,
            saved_dir=model_dir,
            predict=predict,
            latency_what=latency_what,
            **opts,
        )
    except Exception as exc:  # noqa: BLE001 - any profiler failure is recorded, never fatal for the cell
        log.exception("profiling failed; the cell keeps its metrics")
        eff["profiled"] = False
        eff["profiling_error"] = f"{type(exc).__name__}: {exc}"
        return eff
    # The runner's train time wins: it is measured identically for every model.
    return {**eff, **measured, "train_s": float(train_s), "profiled": True}


def capture_env(
    *, threads: int, device: str, git_sha: str | None, git_dirty: bool | None, plugins: list[str] | None = None
) -> dict[str, Any]:
    """The ``env.json`` of a cell: the profiler's environment probe plus the runner's own settings."""
    try:
        from harness.profiling.env import collect_env

        env = collect_env()
    except ImportError:
        env = {"platform": platform.platform(), "versions": {"python": platform.python_version()}}
    env.update(
        {
            "harness_version": __version__,
            "metrics_version": METRICS_VERSION,
            "result_schema_version": RESULT_SCHEMA_VERSION,
            "device": device,
            "threads": threads,
            "plugins": list(plugins or []),
            "thread_env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ},
        }
    )
    # The plan's git state (taken once, before any cell ran) identifies the code every cell of a run used.
    if git_sha is not None:
        env["git_sha"], env["git_dirty"] = git_sha, git_dirty
    return env


def summary_table(runs_dir: Path, suite: str) -> str | None:
    """The report's Markdown for ``suite`` under ``runs_dir``, or ``None`` when the report is unavailable."""
    try:
        from harness.report import load_report, render
    except ImportError:
        return None
    try:
        report = load_report(runs_dir, suite=suite)
        return render(report, "md", command=f"harness report --runs-dir {runs_dir} --suite {suite}")
    except Exception as exc:  # noqa: BLE001 - the summary is a courtesy; the results are on disk
        log.warning("could not render the report table (%s); run `harness report` to see it", exc)
        return None
