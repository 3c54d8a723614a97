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

In training, steps 2-4 run channels-last (``InceptionXMLEncoder.forward_channels_last``): every convolution is
one GEMM on a gathered (im2col) view instead of a oneDNN convolution, and BatchNorm runs on the 2-D
(positions × channels) view. It is the same function with the same parameters, dropout masks and BatchNorm
statistics, up to float summation order (tests compare the two paths), and about twice as fast on CPU at the
small shapes of this model (docs/profiling.md, training step). Evaluation, tracing and FLOP counting use the
plain convolutions.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from inceptionxml.attention import SimpleSelfAttention
from inceptionxml.config import InceptionXMLConfig


def conv_out_len(n: int, kernel: int, stride: int, padding: int = 0) -> int:
    """Output length of a Conv1d (no dilation): ⌊(n + 2p − k) / s⌋ + 1."""
    return (n + 2 * padding - kernel) // stride + 1


def circular_padding(kernel: int, stride: int) -> int:
    """The official padding 2·(k/s − 1): 0, 2, 6 for k = 4, 8, 16 at stride 4, so all branches align."""
    return 2 * (kernel // stride - 1)


def dropout_logical(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """``F.dropout`` of ``x`` with the mask drawn in ``x``'s logical order, whatever its memory layout.

    ``F.dropout`` draws into ``empty_like(x)``, which keeps ``x``'s strides, so a channels-last view would get
    its Bernoulli draws in another order than the contiguous tensor of the reference path. Drawing into a
    contiguous tensor of ``x``'s shape keeps both paths' masks identical for the same generator state.
    """
    if not training or p == 0.0 or x.numel() == 0:
        return x
    if p == 1.0:
        return x * torch.zeros((), dtype=x.dtype, device=x.device)
    noise = torch.empty(x.shape, dtype=x.dtype, device=x.device).bernoulli_(1.0 - p).div_(1.0 - p)
    return x * noise


def conv_as_gemm(cols: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """``conv`` applied to im2col rows: (R, k·C_in) with column t·C_in + c → (R, C_out), one ``addmm``.

    ``cols`` may be a strided view (a window slice of wider rows): BLAS takes the row stride as is.
    """
    w = conv.weight  # (C_out, C_in, k) → (k·C_in, C_out)
    w = w.permute(2, 1, 0).reshape(-1, w.shape[0])
    return torch.addmm(conv.bias, cols, w) if conv.bias is not None else cols @ w


class _SharedWindowGEMMs(torch.autograd.Function):
    """Several convolutions as GEMMs on slices of one im2col block, with a backward that writes no zeros.

    Autograd's own backward of a slice fills a zero tensor of the whole block per slice and adds them up (three
    fills and two adds of the block per step for the inception branches, ~15% of the encoder). Here the gradient
    of the block starts as the product of the branch whose slice is the whole window, if any, and the others are
    added into their slices in place.
    """

    @staticmethod
    def forward(ctx: Any, cols: torch.Tensor, offsets: tuple[int, ...], *mats: torch.Tensor) -> torch.Tensor:
        weights, biases = mats[: len(offsets)], mats[len(offsets) :]
        rows, width, channels = cols.shape
        outs = []
        for off, w, bias in zip(offsets, weights, biases, strict=True):
            x = cols[:, off : off + w.shape[0] // channels].reshape(rows, -1)  # a view: BLAS takes its row stride
            outs.append(torch.addmm(bias, x, w))
        ctx.offsets = offsets
        ctx.save_for_backward(cols, *weights)
        return torch.cat(outs, dim=1)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        cols, *weights = ctx.saved_tensors
        rows, width, channels = cols.shape
        parts, grad_w, grad_b = [], [], []
        start = 0
        for off, w in zip(ctx.offsets, weights, strict=True):
            k = w.shape[0] // channels
            g = grad[:, start : start + w.shape[1]]
            start += w.shape[1]
            grad_w.append(cols[:, off : off + k].reshape(rows, -1).t() @ g)
            grad_b.append(g.sum(0))
            parts.append((off, k, g, w))
        parts.sort(key=lambda part: -part[1])  # the widest window first: it may cover the whole block
        off, k, g, w = parts[0]
        if off == 0 and k == width:
            grad_cols, parts = (g @ w.t()).view(rows, width, channels), parts[1:]
        else:
            grad_cols = torch.zeros_like(cols)
        for off, k, g, w in parts:
            grad_cols[:, off : off + k].reshape(rows, -1).addmm_(g, w.t())  # in place, through a view
        return (grad_cols, None, *grad_w, *grad_b)


def window_positions(
    length: int, out_len: int, stride: int, start: int, width: int, device: torch.device
) -> torch.Tensor:
    """(out_len, width) input positions of each output's window: stride·i + start + t, wrapped circularly."""
    i = torch.arange(out_len, device=device).unsqueeze(1)
    t = torch.arange(start, start + width, device=device).unsqueeze(0)
    return (i * stride + t) % length


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

    def forward_channels_last(self, x: torch.Tensor) -> torch.Tensor:
        """(B, D, F) → (B, L1, 3F): :meth:`forward` with the channels last.

        Every branch's window lies inside the union of the windows (kernels 4/8/16 with circular paddings
        0/2/6 all centre on 4i + 2), so one gather of the union window's positions serves all branches; each
        branch is then one GEMM over its slice of the gathered rows, with the MACs of its convolution.
        """
        b, n, f = x.shape
        starts = [-branch.padding[0] for branch in self.branches]
        lo = min(starts)
        hi = max(st + branch.kernel_size[0] for st, branch in zip(starts, self.branches, strict=True))
        pos = window_positions(n, self.out_len, self.branches[0].stride[0], lo, hi - lo, x.device)
        cols = x.index_select(1, pos.flatten()).view(b * self.out_len, hi - lo, f)
        weights = [br.weight.permute(2, 1, 0).reshape(-1, br.out_channels) for br in self.branches]
        offsets = tuple(st - lo for st in starts)
        y = _SharedWindowGEMMs.apply(cols, offsets, *weights, *(br.bias for br in self.branches))
        act, norm, drop = self.post
        y = norm(act(y)).view(b, self.out_len, -1)  # BatchNorm1d on (B·L1, 3F): the statistics of (B, 3F, L1)
        return dropout_logical(y.transpose(1, 2), drop.p, drop.training).transpose(1, 2)

    def channels_last_ok(self) -> bool:
        """The gather above assumes circularly padded, equally strided, undilated branches (as built here)."""
        return all(
            br.padding_mode == "circular" and br.stride == self.branches[0].stride and br.dilation == (1,)
            for br in self.branches
        )


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
        if self.training and self.channels_last and not torch.jit.is_tracing():
            return self.forward_channels_last(x)
        x = self.proj(x)  # (B, F, D): word slots mixed into F channels per embedding coordinate
        x = self.inception(x)  # (B, 3F, L1)
        x = self.aggregate(x)  # (B, F, L2)
        return torch.flatten(x, 1)

    def forward_channels_last(self, x: torch.Tensor) -> torch.Tensor:
        """Projection, inception and aggregation of the enhanced (B, S, D) embeddings, channels last.

        The enhancement's output is already a (B, D, S)-contiguous tensor seen as (B, S, D), so the 1×1
        projection is one GEMM on it with no copy. Each stage's dropout draws its mask in the reference
        layout (:func:`dropout_logical`).
        """
        b, s, d = x.shape
        conv, act, norm, drop = self.proj
        y = conv_as_gemm(x.transpose(1, 2).reshape(b * d, s), conv)  # (B·D, F)
        y = norm(act(y)).view(b, d, -1)  # BatchNorm1d on (B·D, F): the statistics of (B, F, D)
        y = dropout_logical(y.transpose(1, 2), drop.p, drop.training).transpose(1, 2)
        y = self.inception.forward_channels_last(y.contiguous())  # (B, L1, 3F)
        conv, act, norm = self.aggregate
        k, stride = conv.kernel_size[0], conv.stride[0]
        l1, l2 = self.lengths[1], self.lengths[2]
        if k == stride:  # non-overlapping windows: the rows are already the im2col rows
            cols = y.contiguous()[:, : l2 * k].reshape(b * l2, -1)
        else:
            pos = window_positions(l1, l2, stride, 0, k, y.device)  # in range: no padding, no wrap
            cols = y.index_select(1, pos.flatten()).view(b * l2, -1)
        h = norm(act(conv_as_gemm(cols, conv)))  # (B·L2, F)
        return h.view(b, l2, -1).transpose(1, 2).reshape(b, -1)  # flattened as (B, F, L2), like forward

    @property
    def channels_last(self) -> bool:
        """Whether the training path may run channels-last (the layers are the ones built here)."""
        conv = self.proj[0]
        return conv.kernel_size == (1,) and conv.padding == (0,) and self.inception.channels_last_ok()
