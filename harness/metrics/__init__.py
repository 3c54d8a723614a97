"""XMC metrics the XC-repository (pyxclib) way: P, nDCG, PSP, PSnDCG and R at 1..k.

Usage::

    from harness.metrics import evaluate, inverse_propensity
    w = inverse_propensity(Y_train, A=0.55, B=1.5)
    metrics = evaluate(topk_indices, Y_test, inv_prop=w, k=5, filter_pairs=pairs)
    print(metrics["psp@5"])

Definitions, conventions and the napkinXC cross-check are documented in docs/metrics.md.
"""

from __future__ import annotations

from harness.metrics.evaluate import binarize_truth, evaluate, metric_keys
from harness.metrics.propensity import inverse_propensity
from harness.metrics.topk import RankedLabels, topk_from_dense, topk_from_sparse

__all__ = [
    "RankedLabels",
    "binarize_truth",
    "evaluate",
    "inverse_propensity",
    "metric_keys",
    "topk_from_dense",
    "topk_from_sparse",
]
