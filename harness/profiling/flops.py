"""Multiply-accumulates (MACs) per query, counted with fvcore and cross-checked with torch's FlopCounterMode.

Usage::

    from harness.profiling.flops import measure_flops, analyze
    res = measure_flops(lambda b: model.profiling_target(b))   # target: batch size -> (module, inputs)
    res["macs_per_query"], res["unit"], res["by_part"], res["crosscheck"]["rel_diff"]
    analyze(module, inputs).unsupported        # {} when every op has a handle (tests/profiling asserts it)

The headline is the *marginal* cost of one query: MACs at batch 2 minus MACs at batch 1. Work done once per
forward whatever the batch (e.g. the spectral-norm weight normalisation, ``W / σ(W)``, recomputed each call)
is reported apart as ``per_batch_overhead_macs``; ``macs_batch1`` is their sum. Unit: one multiply-accumulate
counts 1 (fvcore's convention; FLOPs ≈ 2 × MACs). Element-wise work is counted separately (op_handles).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from harness.profiling.op_handles import build_handles, category

UNIT = "MAC"
Target = Callable[[int], "tuple[Any, tuple[Any, ...]] | None"]
#: Deepest module level kept in ``by_module`` (0 dots = top-level children): enough to see which block costs
#: what without listing every conv.
_MODULE_DEPTH = 2


@dataclass
class OpCounts:
    """Counts of one traced forward (one batch), split by category (see op_handles)."""

    macs: int
    elementwise: int
    by_op: dict[str, int]  # MAC ops only
    elementwise_by_op: dict[str, int]
    zero_ops: list[str]  # ops seen and counted 0 on purpose
    by_module: dict[str, int]  # MACs per module (depth <= 2; "" is the whole network)
    unsupported: dict[str, int] = field(default_factory=dict)  # op -> occurrences with no handle


def analyze(module: Any, inputs: tuple[Any, ...]) -> OpCounts:
    """Trace ``module(*inputs)`` once with fvcore and count it with our handles (eval mode, no grad)."""
    import torch

    log: dict[str, int] = {}
    was_training = module.training
    module.eval()
    # fvcore's import and the JIT tracer emit deprecation and tracer warnings that are noise here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fvcore.nn import FlopCountAnalysis

        try:
            fca = FlopCountAnalysis(module, inputs)
            fca.set_op_handle(**build_handles(log))
            fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
            with torch.no_grad():
                per_module = fca.by_module_and_operator()
            unsupported = dict(fca.unsupported_ops())
        finally:
            module.train(was_training)

    by_op = {op: n for op, n in log.items() if category(op) == "mac"}
    elementwise = {op: n for op, n in log.items() if category(op) == "elementwise"}
    by_module = {
        name: sum(n for op, n in ops.items() if category(op) == "mac")
        for name, ops in per_module.items()
        if name.count(".") < _MODULE_DEPTH
    }
    return OpCounts(
        macs=sum(by_op.values()),
        elementwise=sum(elementwise.values()),
        by_op=by_op,
        elementwise_by_op=elementwise,
        zero_ops=sorted(op for op in log if category(op) == "zero"),
        by_module={k: v for k, v in by_module.items() if v},
        unsupported={str(k).split("::", 1)[-1]: int(v) for k, v in unsupported.items()},
    )


def flop_counter_macs(module: Any, inputs: tuple[Any, ...]) -> tuple[int, dict[str, int]]:
    """MACs by torch's ``FlopCounterMode`` (it counts 2 FLOPs per MAC, so halved), total and by op."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    was_training = module.training
    module.eval()
    try:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            module(*inputs)
    finally:
        module.train(was_training)
    by_op = {
        str(op).split(".")[1] if "." in str(op) else str(op): int(n) // 2
        for op, n in counter.get_flop_counts().get("Global", {}).items()
    }
    return counter.get_total_flops() // 2, by_op


def _diff(b2: dict[str, int], b1: dict[str, int]) -> dict[str, int]:
    keys = sorted(set(b1) | set(b2))
    return {k: b2.get(k, 0) - b1.get(k, 0) for k in keys if b2.get(k, 0) - b1.get(k, 0)}


def _by_part(by_module: dict[str, int]) -> dict[str, int]:
    from harness.profiling.params import DEFAULT_PREFIXES, part_of

    parts = {"embedding": 0, "encoder": 0, "head": 0}
    for name, macs in by_module.items():
        if name and "." not in name:  # top-level children only, so nothing counts twice
            part = part_of(name, DEFAULT_PREFIXES)
            parts[part] += macs
    return parts


def measure_flops(target: Target, *, crosscheck: bool = True) -> dict[str, Any]:
    """MACs per query of a model's profiling target, with breakdowns and the FlopCounterMode cross-check.

    Args:
        target: ``batch_size -> (module, example_inputs)``, i.e. ``model.profiling_target``; it must map
            token ids to the label scores (classifier included) so that the count is a query's full cost.
        crosscheck: also count with ``torch.utils.flop_counter.FlopCounterMode``.

    Returns:
        A JSON-ready dict (keys documented in docs/profiling.md). ``unsupported_ops`` non-empty means the
        figure is a lower bound; tests assert it is empty for every registered model.
    """
    built = [target(b) for b in (1, 2)]
    if built[0] is None or built[1] is None:
        raise ValueError("the profiling target is None: this model has no network to count")
    try:
        c1, c2 = (analyze(m, x) for m, x in built)
        tool = f"fvcore {metadata.version('fvcore')}"
    except ImportError:  # fvcore is a declared dependency; still, FLOPs must not take a run down with them
        c1 = c2 = None
        tool = "torch FlopCounterMode (fvcore not installed)"
    result: dict[str, Any] = {"unit": UNIT, "tool": tool, "batch_sizes": [1, 2], "classifier_included": True}
    if c1 is not None and c2 is not None:
        per_query = c2.macs - c1.macs
        result.update(
            macs_per_query=per_query,
            macs_batch1=c1.macs,
            per_batch_overhead_macs=c1.macs - per_query,
            elementwise_per_query=c2.elementwise - c1.elementwise,
            by_op=_diff(c2.by_op, c1.by_op),
            per_batch_overhead_by_op=_diff(c1.by_op, _diff(c2.by_op, c1.by_op)),
            elementwise_by_op=_diff(c2.elementwise_by_op, c1.elementwise_by_op),
            zero_cost_ops=sorted(set(c1.zero_ops) | set(c2.zero_ops)),
            by_module=_diff(c2.by_module, c1.by_module),
            unsupported_ops={**c1.unsupported, **c2.unsupported},
        )
        result["by_part"] = _by_part(result["by_module"])
    if crosscheck or c1 is None:
        (f1, ops1), (f2, ops2) = (flop_counter_macs(m, x) for m, x in built)
        check = {
            "tool": "torch.utils.flop_counter.FlopCounterMode (FLOPs / 2)",
            "macs_per_query": f2 - f1,
            "macs_batch1": f1,
            "by_op": _diff(ops2, ops1),
        }
        if c1 is None:
            result.update(macs_per_query=f2 - f1, macs_batch1=f1, per_batch_overhead_macs=2 * f1 - f2)
        else:
            ref = max(result["macs_per_query"], 1)
            check["rel_diff"] = abs(check["macs_per_query"] - result["macs_per_query"]) / ref
            # ops FlopCounterMode has no formula for (mv, dot, ...): expected source of any batch-1 difference
            check["batch1_diff_macs"] = result["macs_batch1"] - f1
        result["crosscheck"] = check
    return result


def describe(result: dict[str, Any], num_labels: int | None = None) -> str:
    """One sentence for ``flops_note``: unit, what is included, what is excluded and why."""
    labels = f" (L = {num_labels:,})" if num_labels else ""
    parts = [
        f"MACs per query (1 multiply-accumulate = 1; FLOPs ~ 2 x MACs), counted by {result['tool']} on the "
        f"network from token ids to the label scores{labels}: classifier included",
        "embedding lookup, gathers and top-k selection count 0 MACs",
    ]
    if "elementwise_per_query" in result:
        parts.append(
            f"element-wise ops (activations, norms, adds) not in the figure: "
            f"{result['elementwise_per_query']:,} element ops per query, listed apart"
        )
    overhead = result.get("per_batch_overhead_macs", 0)
    if overhead:
        parts.append(f"a per-forward constant of {overhead:,} MACs (whatever the batch size) is excluded")
    if result.get("unsupported_ops"):
        parts.append(f"INCOMPLETE: no handle for {sorted(result['unsupported_ops'])}")
    return "; ".join(parts) + "."
