"""The InceptionXML encoder (methods.md §1.2): embeddings (B, S, D) → a flat text vector h (B, F·L2).

Usage::

    from inceptionxml.config import InceptionXMLConfig
    from inceptionxml.encoder import InceptionXMLEncoder
    enc = InceptionXMLEncoder(InceptionXMLConfig(), emb_dim=300)
    h = enc(torch.randn(8, 32, 300))     # (8, 480): F=32 channels × 15 positions
    enc.out_dim, enc.lengths              # 480, (300, 75, 15)

The layers, in forward order (B batch, S = seq_len word slots, D embedding dims, F filters):

1. EmbeddingEnhancement: dropout, word-wise attention (channels = S), cross attention (channels = D).
2. projection: Conv1d(S→F, k=1) mixes word slots into F channels at each embedding coordinate.
3. InceptionModule: three stride-4 circular convs of kernels 4/8/16 slide along the *embedding* axis.
4. aggregation: Conv1d(3F→F, k=16, stride 4), then flatten.

Every length is derived from D, S and F, so D=50 (GloVe 6B 50d) or D=384 (MiniLM) work as well as D=300.
"""

from __future__ import annotations

import torch
from torch import nn

from inceptionxml.attention import SimpleSelfAttention
from inceptionxml.config import InceptionXMLConfig


def conv_out_len(n: int, kernel: int, stride: int, padding: int = 0) -> int:
    """Output length of a Conv1d (no dilation): ⌊(n + 2p − k) / s⌋ + 1."""
    return (n + 2 * padding - kernel) // stride + 1


def circular_padding(kernel: int, stride: int) -> int:
    """The official padding 2·(k/s − 1): 0, 2, 6 for k = 4, 8, 16 at stride 4, so all branches align."""
    return 2 * (kernel // stride - 1)


class EmbeddingEnhancement(nn.Module):
    """Dropout, then word-wise (eq. A) and cross, dimension-wise (eq. B) simple self-attention."""

    def __init__(self, seq_len: int, emb_dim: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.word_attn = SimpleSelfAttention(seq_len)  # channels = the S word positions
        self.dim_attn = SimpleSelfAttention(emb_dim)  # channels = the D embedding dimensions

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        """(B, S, D) → (B, S, D)."""
        e = self.dropout(e)
        e1 = self.word_attn(e)  # E₁ = γ₁ (E Eᵀ)(W₁ E) + E
        # Eq. B: queries are the enhanced E₁ᵀ, but the Gram matrix is taken against the *original* Eᵀ.
        e2 = self.dim_attn(e1.transpose(1, 2), e.transpose(1, 2))
        return e2.transpose(1, 2)


class InceptionModule(nn.Module):
    """Three parallel convolutions along the embedding axis, concatenated, then GELU → BN → dropout."""

    def __init__(self, channels: int, length: int, kernels: tuple[int, ...], stride: int, dropout: float):
        super().__init__()
        out_lens = {conv_out_len(length, k, stride, circular_padding(k, stride)) for k in kernels}
        if len(out_lens) != 1 or min(out_lens) < 1:
            raise ValueError(f"kernels {kernels} at stride {stride} give branch lengths {out_lens} for {length}")
        if any(circular_padding(k, stride) > length for k in kernels):
            raise ValueError(f"embedding length {length} is too short for circular padding of {kernels}")
        self.out_len = out_lens.pop()
        self.branches = nn.ModuleList(
            nn.Conv1d(
                channels,
                channels,
                k,
                stride=stride,
                padding=circular_padding(k, stride),
                padding_mode="circular",  # wraps the embedding axis: its ends are not a real boundary
            )
            for k in kernels
        )
        width = channels * len(kernels)
        self.post = nn.Sequential(nn.GELU(), nn.BatchNorm1d(width), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, F, D) → (B, 3F, L1)."""
        return self.post(torch.cat([branch(x) for branch in self.branches], dim=1))


class InceptionXMLEncoder(nn.Module):
    """Embedding enhancement → projection → inception → aggregation → flatten.

    Args:
        cfg: the model configuration (seq_len, num_filters, filter_sizes, conv_stride, agg_kernel, dropouts).
        emb_dim: D, the width of the embedding table feeding this encoder.

    Attributes:
        lengths: (D, L1, L2), the embedding-axis length after each stage.
        agg_kernel: the aggregation kernel actually used (``cfg.agg_kernel``, or the small-D fallback).
        out_dim: F·L2, the size of h.
    """

    def __init__(self, cfg: InceptionXMLConfig, emb_dim: int) -> None:
        super().__init__()
        s, f, stride = cfg.seq_len, cfg.num_filters, cfg.conv_stride
        self.enhance = EmbeddingEnhancement(s, emb_dim, cfg.embed_dropout)
        proj_dropout = cfg.dropout if cfg.proj_dropout is None else cfg.proj_dropout
        self.proj = nn.Sequential(
            nn.Conv1d(s, f, kernel_size=1), nn.GELU(), nn.BatchNorm1d(f), nn.Dropout(proj_dropout)
        )
        self.inception = InceptionModule(f, emb_dim, cfg.filter_sizes, stride, cfg.dropout)
        l1 = self.inception.out_len
        # With D=300 the kernel 16 fits the 75 positions; for a small D it does not, and the (smaller)
        # fallback kernel is used instead, clipped to the length if even that does not fit.
        self.agg_kernel = cfg.agg_kernel if cfg.agg_kernel <= l1 else min(cfg.small_agg_kernel, l1)
        width = f * len(cfg.filter_sizes)
        self.aggregate = nn.Sequential(
            nn.Conv1d(width, f, kernel_size=self.agg_kernel, stride=stride), nn.GELU(), nn.BatchNorm1d(f)
        )
        l2 = conv_out_len(l1, self.agg_kernel, stride)
        self.lengths = (emb_dim, l1, l2)
        self.out_dim = f * l2
        self._init_convs()

    def _init_convs(self) -> None:
        """Xavier-uniform weights, zero biases for the non-attention convs (the attention keeps Xavier-normal)."""
        for module in (self.proj, self.inception, self.aggregate):
            for m in module.modules():
                if isinstance(m, nn.Conv1d):
                    nn.init.xavier_uniform_(m.weight)
                    nn.init.zeros_(m.bias)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        """(B, S, D) embeddings → (B, F·L2)."""
        x = self.enhance(e)  # (B, S, D)
        x = self.proj(x)  # (B, F, D): word slots mixed into F channels per embedding coordinate
        x = self.inception(x)  # (B, 3F, L1)
        x = self.aggregate(x)  # (B, F, L2)
        return torch.flatten(x, 1)
