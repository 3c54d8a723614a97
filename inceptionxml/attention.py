"""Spectral-normalised "simple self-attention" (methods.md §1.2, eqs. A and B): no softmax, no scaling.

Usage::

    from inceptionxml.attention import SimpleSelfAttention
    sa = SimpleSelfAttention(channels=32)
    out = sa(x)            # x: (B, C, N); out = gamma * (x xᵀ)(W x) + x, identity at init (gamma = 0)
    out = sa(x, y)         # cross form: Gram matrix against y (same shape as x), as in eq. (B)
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


class SimpleSelfAttention(nn.Module):
    """``out = γ · (X Yᵀ)(W X) + X`` per sample, with X, Y ∈ R^{C×N} and W a C×C spectral-normalised 1×1 conv.

    The product is evaluated right-to-left in two C×C-sized steps, O(N·C²), instead of forming the N×N
    matrix ``Xᵀ W X``. γ starts at 0 so the block is the identity at initialisation and the network first
    learns without attention, then lets it in (the SAGAN trick the official code follows). W keeps its own
    Xavier-normal init; the spectral norm bounds its largest singular value to 1 so the un-normalised Gram
    product cannot blow up.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        conv = nn.Conv1d(channels, channels, kernel_size=1, bias=False)
        nn.init.xavier_normal_(conv.weight)
        self.conv = spectral_norm(conv)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Args: x (B, C, N) queries; y (B, C, N) keys of the Gram matrix (defaults to x)."""
        y = x if y is None else y
        wx = self.conv(x)  # (B, C, N)
        gram = torch.bmm(x, y.transpose(1, 2))  # (B, C, C): channel-by-channel similarity
        return self.gamma * torch.bmm(gram, wx) + x
