"""fvcore op handles for every op the registered models use, each filed under one counting category.

Usage::

    from harness.profiling.op_handles import build_handles, category
    log = {}                                       # op -> count, filled while fvcore walks the trace
    fca.set_op_handle(**build_handles(log))
    category("bmm"), category("gelu"), category("embedding")   # "mac", "elementwise", "zero"

Conventions (docs/profiling.md):

* ``mac``: multiply-accumulates of matrix products and convolutions (linear, addmm, mm, bmm, baddbmm, matmul,
  mv, dot, einsum, convolution, scaled-dot-product attention). One fused multiply-add = 1, bias adds ignored,
  exactly as fvcore counts conv and linear; these make the headline figure.
* ``elementwise``: one per output element (activations, arithmetic, normalisation) or per input element
  (reductions, top-k, sort). Reported separately, never added to MACs: FlopCounterMode counts them as 0 and
  the papers' figures ignore them, so mixing them in would break both comparisons.
* ``zero``: memory movement with no arithmetic (embedding lookup, gather/index, padding, clone, dropout in eval).
  Counted 0 on purpose; the ops seen are listed so a reader knows they were not forgotten.
"""

from __future__ import annotations

from collections.abc import Callable
from math import prod
from typing import Any

Handle = Callable[[list[Any], list[Any]], int]


def _shape(value: Any) -> list[int] | None:
    """Static shape of a traced value, ``None`` for non-tensors or unknown shapes."""
    try:
        if value.isCompleteTensor():
            return list(value.type().sizes())
    except (AttributeError, RuntimeError):
        return None
    return None


def _numel(value: Any) -> int:
    shape = _shape(value)
    return prod(shape) if shape is not None else 0


# --- multiply-accumulate ops --------------------------------------------------------------------------
def _linear(inputs: list[Any], outputs: list[Any]) -> int:
    x, w = _shape(inputs[0]), _shape(inputs[1])
    return prod(x) * w[0]  # every input row times every output unit


def _addmm(inputs: list[Any], outputs: list[Any]) -> int:
    (n, k), m = _shape(inputs[1]), _shape(inputs[2])[1]
    return n * k * m


def _mm(inputs: list[Any], outputs: list[Any]) -> int:
    (n, k), m = _shape(inputs[0]), _shape(inputs[1])[1]
    return n * k * m


def _bmm(inputs: list[Any], outputs: list[Any]) -> int:
    b, n, k = _shape(inputs[0])
    return b * n * k * _shape(inputs[1])[2]


def _baddbmm(inputs: list[Any], outputs: list[Any]) -> int:  # also addbmm: inputs 1 and 2 are the batches
    b, n, k = _shape(inputs[1])
    return b * n * k * _shape(inputs[2])[2]


def _matmul(inputs: list[Any], outputs: list[Any]) -> int:
    """Any ``torch.matmul``: vectors, matrices and broadcast batches; MACs = output elements × inner size."""
    a = _shape(inputs[0])
    return _numel(outputs[0]) * a[-1]


def _mv(inputs: list[Any], outputs: list[Any]) -> int:
    return prod(_shape(inputs[0]))


def _addmv(inputs: list[Any], outputs: list[Any]) -> int:
    return prod(_shape(inputs[1]))


def _dot(inputs: list[Any], outputs: list[Any]) -> int:
    return _shape(inputs[0])[0]


def _conv(inputs: list[Any], outputs: list[Any]) -> int:
    """Weight elements × output positions × batch (grouped convs included: the weight is already per group).

    Transposed convs slide over the *input* positions instead. Argument 6 of ``aten::_convolution`` and
    ``aten::convolution`` is ``transposed``; ``aten::conv1d/2d/3d`` are never transposed.
    """
    x, w, out = _shape(inputs[0]), _shape(inputs[1]), _shape(outputs[0])
    transposed = len(inputs) > 6 and bool(inputs[6].toIValue())
    positions = prod((x if transposed else out)[2:])
    return x[0] * prod(w) * positions


def _sdpa(inputs: list[Any], outputs: list[Any]) -> int:
    """Q·Kᵀ (L×S×E) plus weights·V (L×S×Ev) per batch×head; the softmax is element-wise, not counted here."""
    q, k, v = _shape(inputs[0]), _shape(inputs[1]), _shape(inputs[2])
    batch, length, e = prod(q[:-2]), q[-2], q[-1]
    return batch * length * k[-2] * (e + v[-1])


def einsum_macs(equation: str, shapes: list[list[int]], out_shape: list[int] | None = None) -> int:
    """MACs of an einsum contracted pairwise along numpy's optimal path.

    Each pairwise step costs the product of the sizes of every index in its two operands (each output element
    of the step times each summed index). Only shapes are used: the operands given to ``np.einsum_path`` are
    zero-stride views, so even a 670k-label einsum allocates nothing. With an ellipsis the cost is taken as
    output elements × summed sizes, which is exact for the usual two-operand case.
    """
    import numpy as np

    equation = equation.replace(" ", "")
    lhs, _, rhs = equation.partition("->")
    terms = lhs.split(",")
    sizes: dict[str, int] = {}
    if "->" not in equation:  # implicit output: the letters used once, in alphabetical order (numpy's rule)
        rhs = "".join(sorted(c for c in set(lhs) if c.isalpha() and lhs.count(c) == 1))
    for term, shape in zip(terms, shapes, strict=False):
        # letters before an ellipsis align left, letters after it align right
        head, ellipsis, tail = term.partition("...")
        pairs = list(zip(head, shape, strict=False))
        if ellipsis and tail:
            pairs += list(zip(tail, shape[len(shape) - len(tail) :], strict=False))
        for letter, size in pairs:
            sizes[letter] = max(sizes.get(letter, 1), size)
    if "..." in equation:
        summed = prod(sizes[c] for c in set(lhs) - set(rhs) if c.isalpha())
        return prod(out_shape or []) * summed
    if len(terms) <= 2:
        return prod(sizes[c] for c in set("".join(terms)))
    views = [np.broadcast_to(np.empty((), dtype=np.float32), s) for s in shapes]
    path = np.einsum_path(f"{lhs}->{rhs}", *views, optimize="optimal")[0][1:]
    operands, total = [set(t) for t in terms], 0
    for step in path:
        picked = [operands[i] for i in step]
        for i in sorted(step, reverse=True):
            operands.pop(i)
        union = set().union(*picked)
        total += prod(sizes[c] for c in union)
        # what the step keeps: indices still needed by the output or by an operand not yet contracted
        operands.append({c for c in union if c in rhs or any(c in other for other in operands)})
    return total


def _einsum(inputs: list[Any], outputs: list[Any]) -> int:
    equation = inputs[0].toIValue()
    shapes = [_shape(v) for v in inputs[1].node().inputs()]
    return einsum_macs(equation, shapes, _shape(outputs[0]))


MAC_HANDLES: dict[str, Handle] = {
    "linear": _linear,
    "addmm": _addmm,
    "mm": _mm,
    "bmm": _bmm,
    "baddbmm": _baddbmm,
    "addbmm": _baddbmm,
    "matmul": _matmul,
    "mv": _mv,
    "addmv": _addmv,
    "dot": _dot,
    "vdot": _dot,
    "einsum": _einsum,
    "_convolution": _conv,
    "convolution": _conv,
    "conv1d": _conv,
    "conv2d": _conv,
    "conv3d": _conv,
    "scaled_dot_product_attention": _sdpa,
}


# --- element-wise, reduction and memory ops ------------------------------------------------------------
def _per_output(inputs: list[Any], outputs: list[Any]) -> int:
    return _numel(outputs[0])


def _per_input(inputs: list[Any], outputs: list[Any]) -> int:
    return _numel(inputs[0])


def _zero(inputs: list[Any], outputs: list[Any]) -> int:
    return 0


# Op names as whitespace-separated text (one block per category) keep the tables readable at a glance.
_PER_OUTPUT = """add add_ sub sub_ rsub mul mul_ div div_ neg reciprocal exp log log1p sqrt rsqrt pow square abs sign
    gelu gelu_ relu relu_ leaky_relu silu sigmoid tanh hardtanh elu softplus softmax log_softmax batch_norm
    layer_norm group_norm instance_norm clamp clamp_ clamp_min clamp_max where masked_fill masked_fill_
    maximum minimum ne""".split()  # noqa: SIM905
_PER_INPUT = """sum mean amax amin max min norm linalg_vector_norm frobenius_norm logsumexp topk sort argsort argmax
    argmin cumsum var std adaptive_avg_pool1d adaptive_max_pool1d avg_pool1d max_pool1d max_pool1d_with_indices
    adaptive_avg_pool2d""".split()  # noqa: SIM905
_ZERO = """embedding embedding_bag gather index index_select take_along_dim pad constant_pad_nd clone dropout dropout_
    feature_dropout alpha_dropout repeat repeat_interleave scatter masked_select new_ones""".split()  # noqa: SIM905

CATEGORIES: dict[str, str] = {
    **dict.fromkeys(MAC_HANDLES, "mac"),
    **dict.fromkeys(_PER_OUTPUT, "elementwise"),
    **dict.fromkeys(_PER_INPUT, "elementwise"),
    **dict.fromkeys(_ZERO, "zero"),
}


def category(op: str) -> str | None:
    """``"mac"``, ``"elementwise"`` or ``"zero"`` for an op name with or without ``aten::``; ``None`` if unknown."""
    return CATEGORIES.get(op.split("::", 1)[-1])


def build_handles(log: dict[str, int]) -> dict[str, Handle]:
    """Handles for ``FlopCountAnalysis.set_op_handle``, each also adding its count to ``log[op]``.

    The log is how zero-count ops stay visible: fvcore drops zero entries from its counters.
    """
    table: dict[str, Handle] = dict(MAC_HANDLES)
    table.update(dict.fromkeys(_PER_OUTPUT, _per_output))
    table.update(dict.fromkeys(_PER_INPUT, _per_input))
    table.update(dict.fromkeys(_ZERO, _zero))

    def recording(op: str, fn: Handle) -> Handle:
        def handle(inputs: list[Any], outputs: list[Any]) -> int:
            count = int(fn(inputs, outputs))
            log[op] = log.get(op, 0) + count
            return count

        return handle

    return {f"aten::{op}": recording(op, fn) for op, fn in table.items()}
