"""Efficiency of a model, as recorded in every result: parameters, bytes, MACs, latency, throughput, memory.

Usage::

    from harness.profiling import profile_model
    eff = profile_model(model, test_texts[:2048], threads=2, saved_dir=cell_dir / "model")
    eff["flops_per_query"], eff["flops_unit"]             # MACs per query (None + reason for non-neural models)
    eff["latency_ms_p50_bs1"], eff["throughput_qps"], eff["peak_rss_mb"]

Importing this package is cheap: torch and fvcore load inside the functions that need them. The figures and
their conventions are documented in docs/profiling.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.models.contract import XMCModel

__all__ = ["profile_model", "LATENCY_WHAT", "FORWARD_WHAT", "FLOPS_NA_DEFAULT"]

log = logging.getLogger(__name__)

LATENCY_WHAT = "model.predict_topk([text], k) end to end: cleaning, tokenising, forward, top-k, copy to numpy"
FORWARD_WHAT = (
    "network forward only on pre-encoded ids (profiling_target(1)), in the weights' dtype without the model's "
    "autocast; no text processing, no top-k"
)


def _module_device(module: Any) -> str | None:
    try:
        return str(next(module.parameters()).device)
    except (AttributeError, StopIteration):
        return None


def _params(model: XMCModel, module: Any) -> tuple[dict[str, int], str]:
    """Parameters by part: the model's own mapping (its card) when it has one, else module-name prefixes."""
    from harness.profiling.params import normalize_parts, params_by_prefix

    try:
        card_params = model.card().params
    except Exception as exc:  # a card must never cost us the rest of the figures
        log.warning("model card unavailable for parameter counts: %s", exc)
        card_params = None
    if card_params and card_params.get("total"):
        return normalize_parts(card_params), "model card"
    if module is not None:
        return params_by_prefix(module), "module-name prefixes"
    return {}, "none"


#: Why FLOPs are missing for a model whose ``profiling_target()`` is ``None`` and that gives no reason itself.
FLOPS_NA_DEFAULT = (
    "not applicable: the model has no neural network to count (profiling_target() is None); compare it by "
    "model_bytes and per-query latency instead"
)


def _flops(target: Any, num_labels: int | None, crosscheck: bool, na_reason: str | None = None) -> dict[str, Any]:
    from harness.profiling.flops import UNIT, describe, measure_flops

    if target is None:
        # A non-neural model may say what a query costs instead (a tree search, a neighbour product).
        return {
            "flops_per_query": None,
            "flops_unit": UNIT,
            "flops_note": None,
            "flops_na_reason": na_reason or FLOPS_NA_DEFAULT,
        }
    try:
        res = measure_flops(target, crosscheck=crosscheck)
    except Exception as exc:  # counting is diagnostic; a tracer failure must not fail a finished cell
        log.warning("FLOP counting failed: %s", exc)
        return {"flops_per_query": None, "flops_unit": UNIT, "flops_note": None, "flops_na_reason": f"failed: {exc}"}
    return {
        "flops_per_query": res["macs_per_query"],
        "flops_unit": UNIT,
        "flops_note": describe(res, num_labels),
        "flops_na_reason": None,
        "flops_includes_classifier": res["classifier_included"],
        "flops_breakdown": res,
    }


def _forward_latency(target: Any, iters: int, warmup: int, device: str) -> dict[str, float]:
    import torch

    from harness.profiling.latency import summarize_ms, time_calls

    module, inputs = target(1)
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            times = time_calls(lambda _i: module(*inputs), iters=iters, warmup=warmup, device=device)
    finally:
        module.train(was_training)
    return summarize_ms(times)


def profile_model(
    model: XMCModel,
    queries: Sequence[Any],
    *,
    device: str | None = None,
    threads: int | None = None,
    k: int = 5,
    latency_iters: int = 50,
    warmup: int = 5,
    throughput_batch: int = 256,
    saved_dir: Path | None = None,
    count_flops: bool = True,
    crosscheck: bool = True,
    predict: Callable[[Sequence[Any], int], Any] | None = None,
    latency_what: str | None = None,
) -> dict[str, Any]:
    """Measure a ready-to-predict model; returns the ``efficiency`` dict of a result record.

    Args:
        model: a fitted (or untrained, for cost estimates) model.
        queries: real texts (or whatever ``predict`` takes); latency cycles through them one at a time, throughput
            batches them.
        device: where the model runs ("cpu", "cuda"); ``None``: the device of its network's parameters.
        threads: torch intra-op threads during the measurements (``None``: keep the current count); always
            set explicitly and recorded, because latency on a shared machine depends on it.
        k: top-k of the timed predictions.
        latency_iters: timed batch-1 calls (after ``warmup`` untimed ones).
        throughput_batch: batch for queries/s (halved on CUDA out-of-memory; the batch used is recorded).
        saved_dir: folder ``model.save`` wrote; its size is ``model_bytes``. Without it, the in-memory size of
            parameters and buffers stands in (``model_bytes_source`` says which).
        count_flops: count MACs (fvcore trace of batches 1 and 2).
        crosscheck: also count with torch's FlopCounterMode.
        predict: ``predict(queries, k)`` for a batch of ``queries`` (default ``model.predict_topk``); a model of
            BoW-only data is timed on feature rows this way (see ``harness.runner.measure.profiling_queries``).
        latency_what: what one timed call covers, recorded with the figures (default :data:`LATENCY_WHAT`).

    Returns:
        JSON-ready dict; every key is described in docs/profiling.md.
    """
    from harness.profiling.latency import latency_bs1, pinned_threads, throughput
    from harness.profiling.memory import peak_gpu_mb, peak_rss_mb, reset_peak_gpu
    from harness.profiling.params import dir_bytes, module_bytes
    from harness.profiling.untrained import profiling_target

    def target(batch_size: int) -> Any:
        return profiling_target(model, batch_size)

    first = target(1)
    module = first[0] if first is not None else None
    device = device or _module_device(module) or "cpu"
    reset_peak_gpu(device)

    eff: dict[str, Any] = {"device": device}
    eff["params"], eff["params_source"] = _params(model, module)
    estimate = module_bytes(module) if module is not None else None
    if saved_dir is not None:
        eff["model_bytes"], eff["model_bytes_source"] = dir_bytes(Path(saved_dir)), "saved folder"
    else:
        eff["model_bytes"], eff["model_bytes_source"] = estimate, "parameters and buffers x dtype size (estimate)"
    eff["model_bytes_estimate"] = estimate

    run = predict or model.predict_topk
    with pinned_threads(threads) as used:
        eff["threads"] = used
        if count_flops:
            eff.update(
                _flops(
                    target if first is not None else None,
                    model.num_labels or None,
                    crosscheck,
                    model.flops_na_reason,
                )
            )
        lat = latency_bs1(lambda q: run([q], k), queries, iters=latency_iters, warmup=warmup, device=device)
        eff.update(
            latency_ms_p50_bs1=lat["p50_ms"],
            latency_ms_p95_bs1=lat["p95_ms"],
            latency_ms_mean_bs1=lat["mean_ms"],
            latency_what=latency_what or LATENCY_WHAT,
            latency_k=k,
            latency_iters=latency_iters,
            latency_warmup=warmup,
        )
        if first is not None:
            fwd = _forward_latency(target, latency_iters, warmup, device)
            eff.update(forward_ms_p50_bs1=fwd["p50_ms"], forward_ms_p95_bs1=fwd["p95_ms"], forward_what=FORWARD_WHAT)
        thr = throughput(lambda qs: run(qs, k), queries, batch=throughput_batch, device=device)
        eff.update(
            throughput_qps=thr["qps"], throughput_batch=thr["batch"], throughput_oom_backoffs=thr["oom_backoffs"]
        )
    eff["peak_rss_mb"] = peak_rss_mb()
    eff["peak_gpu_mb"] = peak_gpu_mb(device)
    return eff
