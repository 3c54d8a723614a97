"""The faster training paths compute the same function as the plain ones (docs/profiling.md, training step).

Each fast path reorders float sums, so equality is checked in float64 (tight) and float32 (loose); dropout masks,
BatchNorm statistics and the gradients of every parameter must match too.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from inceptionxml.config import InceptionXMLConfig
from inceptionxml.encoder import InceptionXMLEncoder, _SharedWindowGEMMs, dropout_logical
from inceptionxml.heads import bce_with_logits_positives, multi_hot
from inceptionxml.shortlist import (
    ClusterIndex,
    candidate_logits,
    cluster_block_logits,
    expand_candidates,
    positive_pairs,
    random_clusters,
)
from inceptionxml.shortlist_net import LabelEmbedding


def reference_forward(enc: InceptionXMLEncoder, e: torch.Tensor) -> torch.Tensor:
    """The convolutional path of ``InceptionXMLEncoder.forward`` (what evaluation runs), in any mode."""
    return torch.flatten(enc.aggregate(enc.inception(enc.proj(enc.enhance(e)))), 1)


@pytest.mark.parametrize(
    ("cfg", "dim"),
    [
        (InceptionXMLConfig(), 50),  # the default: aggregation kernel 4 = stride, windows need no gather
        (InceptionXMLConfig(num_filters=32), 300),  # the paper's shape: kernel 16, overlapping windows
        (InceptionXMLConfig(num_filters=8, seq_len=8, embed_dropout=0.0), 37),  # odd D, wrap-around windows
    ],
)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_channels_last_training_path_is_the_convolutional_one(cfg, dim, dtype):
    torch.manual_seed(0)
    enc = InceptionXMLEncoder(cfg, dim).to(dtype).train()
    with torch.no_grad():  # non-zero attention, so that every parameter gets a gradient
        enc.enhance.word_attn.gamma.fill_(0.3)
        enc.enhance.dim_attn.gamma.fill_(-0.2)
    fast = copy.deepcopy(enc)
    assert fast.channels_last
    e = torch.randn(16, cfg.seq_len, dim, dtype=dtype, requires_grad=True)
    torch.manual_seed(1)  # the same dropout masks on both paths
    want = reference_forward(enc, e)
    (want * torch.sin(want)).sum().backward()
    e_grad, e.grad = e.grad, None
    torch.manual_seed(1)
    got = fast(e)
    (got * torch.sin(got)).sum().backward()
    tol = {"rtol": 1e-9, "atol": 1e-9} if dtype == torch.float64 else {"rtol": 2e-3, "atol": 2e-3}
    torch.testing.assert_close(got, want, **tol)
    if dtype == torch.float64:  # float32 gradients through BatchNorm are too ill-conditioned to compare tightly
        torch.testing.assert_close(e.grad, e_grad, **tol)
        for (name, p), q in zip(enc.named_parameters(), fast.parameters(), strict=True):
            torch.testing.assert_close(q.grad, p.grad, **tol, msg=name)
    for (name, b), c in zip(enc.named_buffers(), fast.buffers(), strict=True):  # BatchNorm statistics
        torch.testing.assert_close(c, b, rtol=1e-4, atol=1e-5, msg=name)


def test_evaluation_and_tracing_keep_the_convolutions():
    enc = InceptionXMLEncoder(InceptionXMLConfig(), 50).eval()
    e = torch.randn(4, 32, 50)
    torch.testing.assert_close(enc(e), reference_forward(enc, e), rtol=0, atol=0)


def test_dropout_mask_follows_the_logical_order():
    x = torch.randn(4, 6, 5)
    torch.manual_seed(3)
    want = F.dropout(x, 0.25, training=True)
    torch.manual_seed(3)
    got = dropout_logical(x.transpose(1, 2).contiguous().transpose(1, 2), 0.25, training=True)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    assert dropout_logical(x, 0.25, training=False) is x
    assert torch.count_nonzero(dropout_logical(x, 1.0, training=True)) == 0


@pytest.mark.parametrize("offsets", [(6, 4, 0), (1, 0)])  # the widest window covers the block, or no window does
def test_shared_window_gemms_gradients(offsets):
    torch.manual_seed(0)
    kernels = (4, 8, 16) if len(offsets) == 3 else (3, 2)
    width = max(o + k for o, k in zip(offsets, kernels, strict=True))
    cols = torch.randn(5, width, 3, dtype=torch.float64, requires_grad=True)
    weights = [torch.randn(k * 3, 2, dtype=torch.float64, requires_grad=True) for k in kernels]
    biases = [torch.randn(2, dtype=torch.float64, requires_grad=True) for _ in kernels]
    assert torch.autograd.gradcheck(lambda c, *m: _SharedWindowGEMMs.apply(c, offsets, *m), (cols, *weights, *biases))


def test_bce_from_positive_pairs_equals_the_multi_hot_loss():
    """Repeated pairs (three here) count once, as in the multi-hot target."""
    dense = (np.random.default_rng(0).random((7, 40)) < 0.1).astype(np.float32)
    dense[3] = 0.0  # a row without positives
    y = sp.csr_matrix(dense)
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 1e-6)):
        logits = (torch.randn(7, 40, dtype=dtype) * 8).requires_grad_()  # softplus's linear regime too
        want = F.binary_cross_entropy_with_logits(logits, multi_hot(y, 40).to(dtype))
        (grad_want,) = torch.autograd.grad(want, logits)
        rows, labels = positive_pairs(y)
        got = bce_with_logits_positives(logits, torch.cat([rows, rows[:3]]), torch.cat([labels, labels[:3]]))
        (grad_got,) = torch.autograd.grad(got * 3.0, logits)
        torch.testing.assert_close(got, want, rtol=tol, atol=tol)
        torch.testing.assert_close(grad_got, 3.0 * grad_want, rtol=tol, atol=tol)


def test_fused_adam_takes_the_default_adams_steps():
    """``Adam(fused=True)``, the proposed optimiser construction, against the default; β₁ cycles as in OneCycle."""
    torch.manual_seed(0)
    shapes = [(300, 8), (8,), (4, 4, 3)]
    params = {
        kind: [torch.randn(s, generator=torch.Generator().manual_seed(i)) for i, s in enumerate(shapes)]
        for kind in ("plain", "fused")
    }
    params = {k: [p.clone().requires_grad_() for p in v] for k, v in params.items()}
    opts = {
        "plain": torch.optim.Adam(params["plain"], lr=0.02),
        "fused": torch.optim.Adam(params["fused"], lr=0.02, fused=True),
    }
    for step in range(5):
        for kind, opt in opts.items():
            opt.param_groups[0]["betas"] = (0.95 - 0.02 * step, 0.999)
            for i, p in enumerate(params[kind]):
                p.grad = torch.randn(p.shape, generator=torch.Generator().manual_seed(100 * step + i))
            opt.step()
    for a, b in zip(params["plain"], params["fused"], strict=True):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-7)


@pytest.fixture
def clusters() -> ClusterIndex:
    return ClusterIndex(*random_clusters(90, 12, seed=0))  # clusters of 7-8 labels, padded with 90


@pytest.mark.parametrize("sparse", [False, True])
def test_cluster_blocks_score_like_the_gather(clusters, sparse):
    torch.manual_seed(0)
    b, k = 9, 4
    # skewed popularity: some clusters are chosen by most queries, some by one
    top = torch.topk(torch.randn(b, 12, dtype=torch.float64) + torch.linspace(0, 3, 12), k, dim=1).indices
    cand, _ = expand_candidates(clusters, top, torch.zeros(b, k))
    weight = torch.randn(91, 5, dtype=torch.float64, requires_grad=True)
    query = torch.randn(b, 5, dtype=torch.float64, requires_grad=True)
    want = candidate_logits(query, weight, cand)
    grads_want = torch.autograd.grad((want * torch.cos(want)).sum(), (query, weight))
    got = cluster_block_logits(query, weight, clusters.members, top, sparse=sparse)
    grads_got = torch.autograd.grad((got * torch.cos(got)).sum(), (query, weight))
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(grads_got[0], grads_want[0])
    torch.testing.assert_close(grads_got[1].to_dense(), grads_want[1])
    assert grads_got[1].is_sparse == sparse


def test_label_embedding_scores_blocks_and_appended_columns(clusters):
    """Training with the cluster structure given: the K·M block columns by cluster, appended ones by the gather."""
    torch.manual_seed(0)
    emb = LabelEmbedding(90, 6).train()
    query = torch.randn(5, 6, requires_grad=True)
    top = torch.stack([torch.randperm(12)[:3] for _ in range(5)])
    cand, _ = expand_candidates(clusters, top, torch.zeros(5, 3))
    cand = torch.cat([cand, torch.randint(0, 91, (5, 2))], dim=1)  # e.g. LightXML's appended missed positives
    got = emb(query, cand, members=clusters.members, top=top)
    (got * torch.arange(float(cand.shape[1]))).sum().backward()
    grads = (query.grad, emb.table.weight.grad)
    query.grad, emb.table.weight.grad = None, None
    want = candidate_logits(query, emb.table.weight, cand)
    (want * torch.arange(float(cand.shape[1]))).sum().backward()
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(grads[0], query.grad)
    torch.testing.assert_close(grads[1], emb.table.weight.grad)


@pytest.mark.parametrize("chunk_bytes", [64 * 2**20, 200])
def test_label_embedding_scores_by_cluster_at_inference(clusters, chunk_bytes):
    """Prediction and validation score cluster by cluster too, in row chunks, with the gather's values."""
    torch.manual_seed(1)
    emb = LabelEmbedding(90, 6, chunk_bytes=chunk_bytes).eval()
    query = torch.randn(11, 6)
    top = torch.stack([torch.randperm(12)[:4] for _ in range(11)])
    cand, _ = expand_candidates(clusters, top, torch.zeros(11, 4))
    with torch.no_grad():
        got = emb(query, cand, members=clusters.members, top=top)
        want = candidate_logits(query, emb.table.weight, cand)
    torch.testing.assert_close(got, want)
