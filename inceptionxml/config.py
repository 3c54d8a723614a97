"""Hyper-parameters of the standalone InceptionXML model, one frozen dataclass with commented defaults.

Usage::

    from inceptionxml.config import InceptionXMLConfig
    cfg = InceptionXMLConfig(embeddings="glove-6b-50d", epochs=20)
    cfg.to_dict()                                   # JSON-ready, written into every result record
    InceptionXMLConfig.from_dict(cfg.to_dict())     # round trip (tuples come back as tuples)

Defaults follow methods.md §1 and §4 (the official code's CLI defaults) except where a comment says why not;
every such difference is also listed by ``InceptionXMLModel.card().deviations``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from harness.errors import HarnessError
from harness.models.config_types import AT_LEAST_ONE, DROPOUT, NON_NEGATIVE, OPEN_FRACTION, POSITIVE, check_ranges
from harness.models.contract import config_from_dict
from inceptionxml.text import STOPWORD_LISTS

EMBEDDING_CHOICES = ("glove-6b-50d", "minilm-wordpiece", "glove-text", "random")
AMP_CHOICES = ("none", "bf16", "fp16")


@dataclass(frozen=True)
class InceptionXMLConfig:
    """Everything that defines an InceptionXML run (architecture, text pipeline, embeddings, training)."""

    # --- text pipeline (methods.md §1.1) -------------------------------------------------------------
    seq_len: int = field(default=32, metadata={"help": "tokens per title after padding/truncation (S)", **AT_LEAST_ONE})
    stopwords: str = field(
        default="sklearn",
        metadata={"help": "'nltk' (the paper's 179 words, shipped as data), 'sklearn' (ENGLISH_STOP_WORDS) or 'none'"},
    )
    vocab_size: int | None = field(
        default=None, metadata={"help": "keep the most frequent N tokens (None: every training token)", **AT_LEAST_ONE}
    )
    vocab_min_count: int = field(default=1, metadata={"help": "drop tokens seen fewer times", **AT_LEAST_ONE})
    # The paper counts train+test tokens (transductive); we default to the training split only.
    vocab_mode: str = field(default="train", metadata={"help": "'train' or 'transductive' (train+test)"})

    # --- embeddings -----------------------------------------------------------------------------------
    embeddings: str = field(
        default="glove-6b-50d",
        metadata={"help": "glove-6b-50d | minilm-wordpiece | glove-text (needs embedding_path) | random"},
    )
    embedding_path: str | None = field(default=None, metadata={"help": "GloVe text file for glove-text"})
    embedding_dim: int = field(default=300, metadata={"help": "D for 'random' embeddings only", **AT_LEAST_ONE})
    # Scale of the i.i.d. U(-a, a) rows of words missing from the pretrained table (0.25 in the paper).
    oov_scale: float = field(default=0.25, metadata={"help": "OOV rows ~ U(-a, a)", **NON_NEGATIVE})

    # --- encoder (methods.md §1.2) -------------------------------------------------------------------
    # 32 in the paper. At D=50 the encoder output shrinks from 480 to F·3, and F=64 was clearly better on
    # validation (docs/models/inceptionxml.md); use paper_config() for the paper's value.
    num_filters: int = field(
        default=64, metadata={"help": "F: channels of the projection and each branch", **AT_LEAST_ONE}
    )
    filter_sizes: tuple[int, ...] = field(
        default=(4, 8, 16), metadata={"help": "inception kernel sizes", **AT_LEAST_ONE}
    )
    conv_stride: int = field(
        default=4, metadata={"help": "stride of the inception and aggregation convs", **AT_LEAST_ONE}
    )
    agg_kernel: int = field(default=16, metadata={"help": "aggregation conv kernel (paper: 16)", **AT_LEAST_ONE})
    # A small D (e.g. 50 → 12 positions after the inception module) leaves no room for the 16-wide kernel.
    # Clipping it to the length leaves one position (h = F values); a stride-sized kernel keeps L1/4
    # positions and was far better on validation. Used only when agg_kernel does not fit (a deviation).
    small_agg_kernel: int = field(
        default=4,
        metadata={"help": "aggregation kernel when agg_kernel exceeds the length (clipped to it)", **AT_LEAST_ONE},
    )
    embed_dropout: float = field(default=0.25, metadata={"help": "dropout on the looked-up embeddings", **DROPOUT})
    dropout: float = field(default=0.25, metadata={"help": "dropout after projection/inception/hidden", **DROPOUT})
    # SyncXML's conv_layer0 (the projection) has no dropout; standalone InceptionXML uses ``dropout`` there.
    proj_dropout: float | None = field(
        default=None, metadata={"help": "dropout after the projection conv (None: same as dropout)", **DROPOUT}
    )

    # --- head (methods.md §1.3) ----------------------------------------------------------------------
    # 0.5 on AmazonTitles-670K / WikiSeeAlsoTitles-350K, 0.4 on WikiTitles-500K; no value for others.
    # No value for other datasets; 0.2 was best on wordnet-nouns validation (0.5 was clearly worse).
    ext_dropout: float = field(default=0.2, metadata={"help": "dropout before the label classifier", **DROPOUT})

    # --- optimisation (methods.md §4) ----------------------------------------------------------------
    # Training runs to convergence by default (docs/training.md): warm-up, a constant LR while validation still
    # improves, and a linear cool-down once it has plateaued or a budget is about to end ("wsd"). The paper's
    # fixed one-cycle over 45 epochs is schedule="onecycle", epochs=45 (paper_config()).
    schedule: str = field(
        default="wsd",
        metadata={"help": "'wsd' (train to a validation plateau, then cool down) or 'onecycle' (fixed length)"},
    )
    epochs: int = field(
        default=100,
        metadata={"help": "maximum epochs ('wsd'); the fixed length for 'onecycle' (paper: 45)", **AT_LEAST_ONE},
    )
    max_steps: int | None = field(
        default=None, metadata={"help": "maximum optimiser steps (None: no limit)", **AT_LEAST_ONE}
    )
    time_budget_s: float | None = field(
        default=None,
        metadata={
            "help": "training wall-clock budget in seconds; the cool-down is planned to end within it",
            **POSITIVE,
        },
    )
    batch_size: int = field(default=128, metadata={"help": "training mini-batch", **AT_LEAST_ONE})
    lr: float = field(default=5e-3, metadata={"help": "peak Adam learning rate", **POSITIVE})
    weight_decay: float = field(default=0.0, metadata={"help": "Adam weight decay (0 in the paper)", **NON_NEGATIVE})
    pct_start: float = field(
        default=0.3, metadata={"help": "OneCycle warm-up fraction ('onecycle' only)", **OPEN_FRACTION}
    )
    div_factor: float = field(default=10.0, metadata={"help": "OneCycle initial LR = lr / div_factor", **POSITIVE})
    final_div_factor: float = field(default=1e4, metadata={"help": "OneCycle final LR = initial / this", **POSITIVE})
    warmup_epochs: float = field(
        default=1.0, metadata={"help": "'wsd': linear warm-up length in epochs", **NON_NEGATIVE}
    )
    cooldown_frac: float = field(
        default=0.2, metadata={"help": "'wsd': the cool-down's share of the whole run", **OPEN_FRACTION}
    )
    # Model selection on the validation split (the official code selected on test, methods.md §2.7).
    select_metric: str = field(
        default="p@1", metadata={"help": "val metric to select the epoch: p@k, psp@k or 'sum' (P+PSP@1,3,5)"}
    )
    patience: int | None = field(
        default=3,
        metadata={
            "help": "evaluations without a gain of min_delta that count as a plateau (None: off)",
            **AT_LEAST_ONE,
        },
    )
    min_delta: float = field(
        default=1e-3, metadata={"help": "smallest gain of the val metric that counts", **NON_NEGATIVE}
    )
    eval_every: int | None = field(
        default=None,
        metadata={"help": "validate every N epochs (None: every ceil(100 / steps per epoch) epochs)", **AT_LEAST_ONE},
    )
    bn_recalibration_rows: int = field(
        default=2048,
        metadata={"help": "training rows BatchNorm statistics are recomputed on before validation", **NON_NEGATIVE},
    )
    eval_batch_size: int = field(default=1024, metadata={"help": "batch size for validation/inference", **AT_LEAST_ONE})
    amp: str = field(default="bf16", metadata={"help": "autocast on CUDA: bf16 | fp16 | none (CPU: none)"})
    grad_clip: float | None = field(default=None, metadata={"help": "clip grad norm (None: off, as paper)", **POSITIVE})

    def __post_init__(self) -> None:
        if self.embeddings not in EMBEDDING_CHOICES:
            raise HarnessError(f"embeddings must be one of {EMBEDDING_CHOICES}, got {self.embeddings!r}")
        # embeddings="glove-text" without embedding_path is allowed here: a suite names the embeddings and the run
        # supplies the file (--glove, $HARNESS_GLOVE), checked before any cell; fit() refuses a missing path.
        if self.amp not in AMP_CHOICES:
            raise HarnessError(f"amp must be one of {AMP_CHOICES}, got {self.amp!r}")
        if self.vocab_mode not in ("train", "transductive"):
            raise HarnessError(f"vocab_mode must be 'train' or 'transductive', got {self.vocab_mode!r}")
        if self.stopwords not in STOPWORD_LISTS:
            raise HarnessError(f"stopwords must be one of {STOPWORD_LISTS}, got {self.stopwords!r}")
        # Every numeric range (seq_len >= 1, lr > 0, dropouts in [0, 1), ...) is declared in the field's metadata:
        # the same rule refuses a suite's value at plan time (harness.models.config_types.check_types).
        check_ranges(self)
        check_budget(self)
        # JSON gives lists back; keep the field hashable and comparable.
        object.__setattr__(self, "filter_sizes", tuple(int(k) for k in self.filter_sizes))

    @classmethod
    def paper_config(cls, **overrides: Any) -> InceptionXMLConfig:
        """The official code's settings (methods.md §1, §4), for a paper-faithful run given GloVe 300d.

        Pass ``embeddings="glove-text", embedding_path=".../glove.6B.300d.txt"`` to complete it; the
        transductive vocabulary and per-dataset vocabulary sizes are left to the caller.
        """
        paper = {
            "num_filters": 32,
            "agg_kernel": 16,
            "ext_dropout": 0.5,
            "epochs": 45,
            "stopwords": "nltk",
            "schedule": "onecycle",
            "patience": None,
            "eval_every": 1,
        }
        return cls(**{**paper, **overrides})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field."""
        d = dataclasses.asdict(self)
        d["filter_sizes"] = list(self.filter_sizes)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InceptionXMLConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error so that a typo is not silently ignored."""
        return config_from_dict(cls, data, "InceptionXML")


def check_budget(cfg: Any) -> None:
    """Refuse training settings that cannot mean anything (shared by every config with a training budget).

    The numeric ranges (max_steps, time_budget_s, patience, eval_every, cooldown_frac, lr) are field metadata,
    checked by :func:`harness.models.config_types.check_ranges`; what remains is the schedule's name.
    """
    if cfg.schedule not in ("wsd", "onecycle"):
        raise HarnessError(f"schedule must be 'wsd' or 'onecycle', got {cfg.schedule!r}")
