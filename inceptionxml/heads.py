"""Classifier heads on top of the InceptionXML text vector h; here the standalone one-vs-all head (§1.3).

Usage::

    from inceptionxml.heads import OvAHead, bce_with_logits_positives, multi_hot
    from inceptionxml.shortlist import positive_pairs
    head = OvAHead(in_dim=480, num_labels=L, ext_dropout=0.5)
    logits = head(h)                                   # (B, L)
    loss = F.binary_cross_entropy_with_logits(logits, multi_hot(Y[rows], L))
    loss = bce_with_logits_positives(logits, *positive_pairs(Y[rows]))   # the same loss, no dense target

``ResidualHidden`` is the shared "dropout → Linear → GELU → BN, plus h" block; SyncXML's mirrored meta and
extreme heads (§2.2) can build on it with a spectral-normalised linear.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable


class ResidualHidden(nn.Module):
    """``h_o = BN(GELU(Linear(dropout(h))))``, returned as ``h_o + h`` (the head's residual connection).

    Args:
        dim: H, both input and output width (the residual needs them equal).
        dropout: dropout on the input (0.25 in the paper).
        batch_norm: False for heads that replace the BN (SyncXML's heads have none).
    """

    def __init__(self, dim: int, dropout: float = 0.25, batch_norm: bool = True) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(dim, dim)
        self.act = nn.GELU()
        self.norm = nn.BatchNorm1d(dim) if batch_norm else nn.Identity()

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """(B, H) → (B, H)."""
        return self.norm(self.act(self.linear(self.dropout(h)))) + h


class OvAHead(nn.Module):
    """Standalone InceptionXML head: residual hidden layer, dropout p_ext, Linear(H→L) with bias.

    Scores every label, so its cost is O(H·L) per text; fine up to ~10⁵ labels, beyond which SyncXML's
    shortlist is the point.
    """

    def __init__(self, in_dim: int, num_labels: int, ext_dropout: float = 0.5, dropout: float = 0.25) -> None:
        super().__init__()
        self.hidden = ResidualHidden(in_dim, dropout)
        self.classifier = nn.Sequential(nn.Dropout(ext_dropout), nn.Linear(in_dim, num_labels))
        # The official model Xavier-uniform-initialises every Linear built before its attention module.
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """(B, H) → logits (B, L)."""
        return self.classifier(self.hidden(h))


def multi_hot(rows: sp.csr_matrix, num_labels: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Dense float32 multi-hot targets for one batch of CSR label rows.

    Built per batch so that a dense N×L matrix never exists (N·L·4 bytes is 2.4 GB at 60k×10k).
    """
    rows = sp.csr_matrix(rows)
    target = torch.zeros(rows.shape[0], num_labels, dtype=torch.float32)
    r = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
    keep = rows.data != 0
    target[torch.from_numpy(r[keep]), torch.from_numpy(rows.indices[keep].astype(np.int64))] = 1.0
    return target.to(device)


class _PositiveBCE(torch.autograd.Function):
    """Mean BCE-with-logits over all B×L entries, given only the positive (row, label) pairs.

    Per entry BCE(x, y) = softplus(x) − y·x, so the mean is (Σ softplus(x) − Σ_positives x) / (B·L), and its
    gradient is (σ(x) − y) / (B·L). Nothing of size B×L is built besides the gradient itself: no zero-filled
    target, no index_put, no copy, and softplus is a single vectorised pass where ``log_sigmoid_forward``
    (inside ``binary_cross_entropy_with_logits``) is a slow one on CPU.
    """

    @staticmethod
    def forward(ctx: Any, logits: torch.Tensor, rows: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(logits, rows, labels)
        # softplus's linear regime above 20 is exact to float precision (exp(-20) < 2^-24 · 20)
        total = F.softplus(logits).sum() - logits[rows, labels].sum()
        return total / logits.numel()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        logits, rows, labels = ctx.saved_tensors
        grad = torch.sigmoid(logits)
        grad.index_put_((rows, labels), grad[rows, labels] - 1.0)
        return grad.mul_(grad_out / logits.numel()), None, None


def bce_with_logits_positives(logits: torch.Tensor, rows: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``binary_cross_entropy_with_logits(logits, multi_hot(...))`` (mean over B×L) from the positive pairs.

    The same loss and gradient up to float rounding (summation order), about 2.5× faster on CPU at
    B = 256, L = 17K (docs/profiling.md, training step). Repeated pairs (a non-canonical CSR row listing a label
    twice) count once, as in a multi-hot target: the few hundred pairs of a batch are deduplicated first.

    Args:
        logits: (B, L) logits; half precision (autocast) is computed in float32, as the adapters' ``.float()`` does.
        rows, labels: int64 positive pairs on the logits' device.
    """
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    width = logits.shape[1]
    keys = torch.unique(rows * width + labels)
    return _PositiveBCE.apply(logits, keys // width, keys % width)
