"""MAC counting: every registered model fully handled, agreement with FlopCounterMode, the paper's 12.99 M."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from harness.errors import OptionalDependencyError
from harness.models import model_registry
from harness.profiling import _flops
from harness.profiling.flops import analyze, flop_counter_macs, measure_flops
from harness.profiling.op_handles import category, einsum_macs
from harness.profiling.untrained import profiling_target


@pytest.mark.parametrize("name", model_registry.names())
def test_every_registered_model_has_no_unsupported_op_and_agrees_with_flopcountermode(name, tiny_model) -> None:
    cls = model_registry.get(name)
    if cls.flops_na_reason:
        # a non-neural peer (trees, kNN) has nothing to build untrained: its FLOPs are n/a with its own reason
        out = _flops(None, None, crosscheck=False, na_reason=cls.flops_na_reason)
        assert out["flops_per_query"] is None and out["flops_na_reason"].startswith("not applicable")
        return
    try:
        model = tiny_model(name)
    except OptionalDependencyError as exc:  # e.g. pecos-xrlinear outside `tox -e pecos`
        pytest.skip(str(exc))
    if profiling_target(model, 1) is None:  # a non-neural model reports FLOPs as not applicable, with a reason
        out = _flops(None, None, crosscheck=False)
        assert out["flops_per_query"] is None and "not applicable" in out["flops_na_reason"]
        return
    for batch in (1, 2):
        module, inputs = profiling_target(model, batch)
        counts = analyze(module, inputs)
        assert counts.unsupported == {}, f"{name}: add handles for {counts.unsupported} in op_handles.py"
    res = measure_flops(lambda b: profiling_target(model, b))
    assert res["unsupported_ops"] == {}
    assert res["macs_per_query"] > 0 and res["classifier_included"]
    # FlopCounterMode counts 2 per MAC; halved, it must match ours on the per-query (marginal) figure. Ops it has
    # no formula for (mv/dot of the spectral norm) are per-forward constants and cancel in the marginal.
    assert res["crosscheck"]["rel_diff"] <= 1e-3, res["crosscheck"]
    assert sum(res["by_part"].values()) == res["macs_per_query"]


def _paper_encoder(with_hidden: bool) -> nn.Module:
    from inceptionxml.config import InceptionXMLConfig
    from inceptionxml.encoder import InceptionXMLEncoder
    from inceptionxml.heads import ResidualHidden

    encoder = InceptionXMLEncoder(InceptionXMLConfig(embeddings="random", seq_len=32, num_filters=32), emb_dim=300)
    assert encoder.out_dim == 480 and encoder.lengths == (300, 75, 15)
    return nn.Sequential(encoder, ResidualHidden(480)) if with_hidden else encoder


def test_inceptionxml_encoder_at_paper_setting_counts_12_99_million_macs() -> None:
    """methods.md §1.4: attention 9.56 M + projection 0.31 M + inception 2.15 M + aggregation 0.74 M +
    hidden 0.23 M = 12.99 M MACs per query, BN/GELU/dropout ignored. We get exactly 12,986,880."""

    def target(net: nn.Module):
        return lambda b: (net, (torch.randn(b, 32, 300),))

    full = measure_flops(target(_paper_encoder(with_hidden=True)))
    assert full["macs_per_query"] == 12_986_880 == pytest.approx(12.99e6, rel=1e-3)
    encoder_only = measure_flops(target(_paper_encoder(with_hidden=False)))
    by_module = encoder_only["by_module"]
    assert encoder_only["macs_per_query"] == 12_756_480  # the same without the 480x480 hidden layer
    assert by_module["enhance"] == 3 * 32 * 32 * 300 + 3 * 300 * 300 * 32 == 9_561_600
    assert by_module["proj"] == 307_200
    assert by_module["inception"] == 2_150_400
    assert by_module["aggregate"] == 737_280
    # Per forward, not per query: spectral norm's sigma = u . (W v) for W of 32x32 and 300x300.
    assert full["per_batch_overhead_macs"] == (32 * 32 + 32) + (300 * 300 + 300) == 91_356
    assert full["per_batch_overhead_by_op"] == {"mv": 91_024, "vdot": 332}
    # BN, GELU and the residual/attention adds are element-wise: counted apart, never in the MACs.
    assert set(full["elementwise_by_op"]) == {"add", "batch_norm", "gelu", "mul"}
    assert full["crosscheck"]["macs_per_query"] == full["macs_per_query"]
    assert full["crosscheck"]["batch1_diff_macs"] == 91_356  # FlopCounterMode has no formula for mv/vdot


class _Zoo(nn.Module):
    """One of each op whose count is checked by hand below."""

    def __init__(self) -> None:
        super().__init__()
        self.table = nn.Embedding(50, 8)
        self.weight = nn.Parameter(torch.randn(8, 8))
        self.lin = nn.Linear(8, 6)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.table(ids)  # (B, 4, 8): lookup, 0
        v = torch.mv(self.weight, self.weight[0])  # 64
        x = x + torch.dot(v, v)  # 8 MACs; add: 32·B elements
        y = torch.einsum("bij,jk,kl->bil", x, self.weight, self.weight)  # optimal path, hand-computed below
        q = y.unsqueeze(1)  # (B, 1, 4, 8)
        a = F.scaled_dot_product_attention(q, q, q).squeeze(1)  # B·4·4·(8+8)
        s = torch.baddbmm(a.new_zeros(ids.shape[0], 4, 4), a, a.transpose(1, 2))  # B·4·8·4
        z = torch.matmul(s, self.weight[:4])  # B·4·4·8
        g = torch.gather(z, 2, torch.zeros_like(z, dtype=torch.long))  # 0
        scores = self.lin(F.gelu(g).softmax(-1)).reshape(ids.shape[0], -1)
        return scores.topk(3, dim=1).values[:, torch.tensor([0, 2])]  # topk: input elements; index: 0


def test_op_handles_match_hand_counts_and_leave_nothing_unsupported() -> None:
    net = _Zoo()
    counts = analyze(net, (torch.randint(0, 50, (2, 4)),))
    assert counts.unsupported == {}
    b = 2
    expected = {
        "mv": 64,
        "dot": 8,
        # "bij,jk,kl": numpy contracts jk,kl first (8·8·8) then bij with that (b·4·8·8)
        "einsum": 8 * 8 * 8 + b * 4 * 8 * 8,
        "scaled_dot_product_attention": b * 4 * 4 * (8 + 8),
        "baddbmm": b * 4 * 8 * 4,
        "matmul": b * 4 * 4 * 8,
        "linear": b * 4 * 8 * 6,
    }
    assert counts.by_op == expected
    assert {"embedding", "gather", "index"} <= set(counts.zero_ops)
    assert counts.elementwise_by_op["topk"] == b * 24
    assert counts.macs == sum(expected.values())


def test_flopcountermode_is_halved_and_matches_linear_and_conv() -> None:
    net = nn.Sequential(nn.Conv1d(4, 6, 3), nn.Flatten(), nn.Linear(6 * 8, 5))
    x = torch.randn(3, 4, 10)
    total, by_op = flop_counter_macs(net, (x,))
    conv, lin = 3 * 6 * 4 * 3 * 8, 3 * 48 * 5
    assert total == conv + lin and by_op == {"convolution": conv, "addmm": lin}
    assert analyze(net, (x,)).macs == total


@pytest.mark.parametrize(
    ("equation", "shapes", "out", "expected"),
    [
        ("bij,bjk->bik", [[2, 3, 4], [2, 4, 5]], [2, 3, 5], 2 * 3 * 4 * 5),
        ("ij,jk", [[3, 4], [4, 5]], [3, 5], 60),  # implicit output
        ("...ij,...jk->...ik", [[7, 2, 3, 4], [7, 2, 4, 5]], [7, 2, 3, 5], 7 * 2 * 3 * 4 * 5),
        ("bd,ld->bl", [[1, 480], [670_091, 480]], [1, 670_091], 480 * 670_091),  # no memory for huge shapes
    ],
)
def test_einsum_macs(equation, shapes, out, expected) -> None:
    assert einsum_macs(equation, shapes, out) == expected


def test_categories() -> None:
    assert category("aten::bmm") == "mac" and category("gelu") == "elementwise"
    assert category("aten::embedding") == "zero" and category("aten::frobnicate") is None
