"""The harness model base shared by every shortlisting model (SyncXML, LightXML-style, LightXML with MiniLM).

Usage (through a subclass)::

    model = model_registry.get("syncxml")(epochs=10, top_k_clusters=100)
    model.fit(train, val, ctx=FitContext(seed=0, num_labels=L, inv_prop=w))
    top = model.predict_topk(["golden retriever"], k=5)            # the reported scoring (config.score)
    both = model.predict_split_scorings(test, k=5)                  # {"ext": TopK, "combined": TopK}

A subclass supplies the text side (vocabulary/tokenizer, the encoder module, how to save it), its optimiser
and its deviations; everything else lives here once: label clusters (harness.clustering), the training loss
with SyncXML's detached warm-up, validation of both scorings, batched candidate inference, save/load, the card
and the profiling target.
"""

from __future__ import annotations

import abc
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn

from harness.errors import HarnessError
from harness.models.config_types import AT_LEAST_ONE, DROPOUT, NON_NEGATIVE
from harness.models.contract import FitContext, FitReport, ModelCard, TopK, XMCModel
from inceptionxml.persist import load_weights, read_meta, write_model
from inceptionxml.shortlist import ClusterIndex, candidate_targets, positive_pairs, random_clusters
from inceptionxml.shortlist_net import HeadSettings, ShortlistNet
from inceptionxml.train import LoopResult, TrainSettings, autocast_dtype, fit_loop, resolve_device, seed_everything

if TYPE_CHECKING:
    from harness.clustering import LabelClusters
    from harness.data.dataset import SplitData

log = logging.getLogger(__name__)

SCORINGS = ("ext", "combined")
CLUSTER_FEATURES = ("text", "bow")
VAL_KEYS = ("p@1", "p@3", "p@5", "psp@1", "psp@3", "psp@5")
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ShortlistFields:
    """Settings every shortlisting model has: clusters, heads, candidates, losses and the reported scoring.

    Mixed into each model's frozen config dataclass (all fields have defaults); each model sets its own defaults.
    """

    # --- label clusters (methods.md §2.1, §3.2) --------------------------------------------------------------
    # Exactly one of the two: 2^b clusters, or split until every cluster has at most max_leaf labels.
    num_clusters: int | None = field(
        default=None, metadata={"help": "number of clusters, a power of two", **AT_LEAST_ONE}
    )
    max_leaf: int | None = field(
        default=16, metadata={"help": "split until clusters have <= max_leaf labels", **AT_LEAST_ONE}
    )
    cluster_graph: bool = field(default=False, metadata={"help": "graph-augmented PIFA (ECLARE AugParabel, §2.1)"})
    cluster_top_features: int | None = field(
        default=1000, metadata={"help": "features kept per label (PIFA; None keeps all, as LightXML)", **AT_LEAST_ONE}
    )
    cluster_graph_top_features: int | None = field(
        default=None,
        metadata={
            "help": "features kept per label after the graph augmentation (None: cluster_top_features)",
            **AT_LEAST_ONE,
        },
    )
    cluster_seed: int = field(
        default=0, metadata={"help": "seed of the clustering (fixed across training seeds)", **NON_NEGATIVE}
    )
    cluster_features: str = field(
        default="text",
        metadata={
            "help": "'text': TF-IDF of the titles (computed by the harness); 'bow': the dataset's shipped BoW "
            "(trn_X_Xf.txt), as the official SyncXML code, or the titles' TF-IDF when a dataset ships none"
        },
    )
    cluster_verbose_set: bool = field(
        default=False,
        metadata={"help": "ECLARE's verbose-label set: labels on > 500 points clustered apart (SyncXML paper: on)"},
    )
    # --- heads (§2.2, §3.3) ---------------------------------------------------------------------------------
    hidden_dims: int | None = field(
        default=None, metadata={"help": "H of the sync heads (None: h's width)", **AT_LEAST_ONE}
    )
    hidden_dropout: float = field(default=0.25, metadata={"help": "dropout before each sync hidden layer", **DROPOUT})
    meta_dropout: float = field(default=0.3, metadata={"help": "p_meta, before the meta classifier (sync)", **DROPOUT})
    feature_dropout: float = field(
        default=0.5, metadata={"help": "dropout on h shared by both LightXML heads", **DROPOUT}
    )
    bottleneck_dim: int = field(
        default=300, metadata={"help": "LightXML's label-query width (hidden_dim)", **AT_LEAST_ONE}
    )
    # --- candidates and losses (§2.3–§2.5) ------------------------------------------------------------------
    top_k_clusters: int = field(
        default=800, metadata={"help": "clusters shortlisted per query (train and test)", **AT_LEAST_ONE}
    )
    meta_epoch: int = field(
        default=10, metadata={"help": "epochs with the encoder detached from the ext loss", **NON_NEGATIVE}
    )
    meta_scale: float = field(
        default=1.0, metadata={"help": "weight of the meta BCE in the summed loss", **NON_NEGATIVE}
    )
    missing_positives: bool = field(
        default=False, metadata={"help": "train on positives outside the shortlist (LightXML's rule)"}
    )
    score: str = field(default="ext", metadata={"help": "reported scoring: 'ext' σ(ext) or 'combined' σ(ext)·σ(meta)"})
    sparse: bool = field(default=False, metadata={"help": "sparse word/label tables trained with SparseAdam"})

    def _check_shortlist(self) -> None:
        # Plain ranges (max_leaf >= 1, top_k_clusters >= 1, dropouts in [0, 1), ...) are the fields' metadata,
        # checked by harness.models.config_types.check_ranges in each config's __post_init__.
        if (self.num_clusters is None) == (self.max_leaf is None):
            raise HarnessError("set exactly one of num_clusters (a power of two) or max_leaf")
        if self.num_clusters is not None and (self.num_clusters < 1 or self.num_clusters & (self.num_clusters - 1)):
            raise HarnessError(f"num_clusters must be a power of two, got {self.num_clusters}")
        if self.cluster_features not in CLUSTER_FEATURES:
            raise HarnessError(f"cluster_features must be one of {CLUSTER_FEATURES}, got {self.cluster_features!r}")
        if self.score not in SCORINGS:
            raise HarnessError(f"score must be one of {SCORINGS}, got {self.score!r}")

    def cluster_config(self) -> Any:
        """These settings as the clustering's :class:`harness.clustering.ClusterConfig` (its cache key hashes it)."""
        from harness.clustering import ClusterConfig

        return ClusterConfig(
            num_clusters=self.num_clusters,
            max_leaf=self.max_leaf,
            top_features=self.cluster_top_features,
            graph=self.cluster_graph,
            graph_top_features=self.cluster_graph_top_features,
            verbose_set=self.cluster_verbose_set,
            seed=self.cluster_seed,
        )

    def resolved_num_clusters(self, num_labels: int) -> int:
        """Clusters the settings give for ``num_labels`` labels (balanced 2-means halves every level)."""
        if self.num_clusters is not None:
            return min(self.num_clusters, max(1, num_labels))
        assert self.max_leaf is not None
        levels = max(0, math.ceil(math.log2(max(1.0, num_labels / self.max_leaf))))
        return 2**levels


class ShortlistModel(XMCModel):
    """Fit/predict/save/load of a :class:`ShortlistNet`; subclasses provide the text side (abstract hooks)."""

    head_kind: ClassVar[str] = "sync"
    citation: ClassVar[str] = ""

    def __init__(self, config: Any | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.net: ShortlistNet | None = None
        self.num_labels = 0
        self.cluster_info: dict[str, Any] = {}
        self.fit_summary: dict[str, Any] = {}
        self.device = torch.device("cpu")

    # --- hooks for subclasses ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def _build_text(self, train: SplitData, val: SplitData, ctx: FitContext) -> nn.Module:
        """Fit the vocabulary/tokenizer on the training texts and return the text encoder (ids → h, ``out_dim``).

        ``val`` and ``ctx.unlabelled_texts`` are there for the paper's transductive vocabulary only.
        """

    @abc.abstractmethod
    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Texts → (n, S) int64 token ids on CPU."""

    @abc.abstractmethod
    def _text_meta(self) -> dict[str, Any]:
        """JSON-ready state of the text side (vocabulary, embedding summary), written by :meth:`save`."""

    @abc.abstractmethod
    def _restore_text(self, meta: dict[str, Any]) -> nn.Module:
        """Rebuild the text side from :meth:`_text_meta` and return an encoder to load weights into."""

    @abc.abstractmethod
    def _train_settings(self) -> TrainSettings:
        """The optimisation settings (epochs, LR, schedule, SWA) of this model."""

    @abc.abstractmethod
    def _optimizers(self, net: ShortlistNet) -> list[torch.optim.Optimizer]:
        """The optimisers over ``net``'s parameter groups."""

    @abc.abstractmethod
    def deviations(self) -> list[str]:
        """Every difference from the paper, in words."""

    def _embedding_text(self) -> str | None:
        return None

    def _batch(self, ids: torch.Tensor) -> torch.Tensor:
        """A batch of token ids as the network gets it (a transformer trims its shared padding here)."""
        return ids

    def _untrained_text(self, vocab_size: int, embedding_dim: int | None) -> nn.Module:
        raise HarnessError(f"{self.name} cannot be built untrained")

    # --- fit -------------------------------------------------------------------------------------------------
    def _heads(self) -> HeadSettings:
        cfg = self.config
        return HeadSettings(
            kind=self.head_kind,
            hidden_dims=cfg.hidden_dims,
            hidden_dropout=cfg.hidden_dropout,
            meta_dropout=cfg.meta_dropout,
            ext_dropout=getattr(cfg, "ext_dropout", 0.0),  # only the sync heads have p_ext
            feature_dropout=cfg.feature_dropout,
            bottleneck_dim=cfg.bottleneck_dim,
        )

    def _net(self, text: nn.Module, num_labels: int, index: ClusterIndex) -> ShortlistNet:
        cfg = self.config
        return ShortlistNet(
            text, num_labels, index, self._heads(), top_k=cfg.top_k_clusters, score=cfg.score, sparse=cfg.sparse
        )

    def _clusters(self, train: SplitData, num_labels: int) -> LabelClusters:
        """Balanced label clusters on PIFA features of the fitted training part (cached by content and config)."""
        from harness.clustering import build_label_clusters

        ccfg = self.config.cluster_config()
        y = train.Y.tocsr()
        if y.shape[1] != num_labels:
            raise HarnessError(f"train has {y.shape[1]} label columns but ctx says {num_labels}")
        use_bow = train.X is not None and (self.config.cluster_features == "bow" or train.texts is None)
        if self.config.cluster_features == "bow" and train.X is None:
            log.warning("%s: cluster_features='bow' but the dataset ships no BoW features; using the titles", self.name)
        if use_bow:
            return build_label_clusters(y, X=train.X, config=ccfg)
        return build_label_clusters(y, texts=list(train.texts), config=ccfg)

    def fit(self, train: SplitData, val: SplitData, *, ctx: FitContext) -> FitReport:
        """Cluster the labels, build the text side and the heads, train, and keep the best epoch on ``val``."""
        if train.texts is None:
            raise HarnessError(f"{self.name} needs raw text, but the training split has none (BoW-only data)")
        num_labels = ctx.num_labels or train.Y.shape[1]
        start = time.perf_counter()
        self.device = resolve_device(ctx.device)
        self.num_labels = num_labels
        t0 = time.perf_counter()
        ctx.report(phase="clustering")
        clusters = self._clusters(train, num_labels)
        cluster_s = time.perf_counter() - t0
        self.cluster_info = {
            "num_clusters": int(clusters.members.shape[0]),
            "max_size": int(clusters.members.shape[1]),
            "min_size": int(np.min(clusters.sizes)),
            "seconds": round(cluster_s, 3),
            "features": {"source": (clusters.info.get("features") or {}).get("source")},
            **{k: v for k, v in clusters.info.items() if isinstance(v, (int, float, str, bool, type(None)))},
        }
        with seed_everything(ctx.seed, deterministic=self.device.type == "cpu"):
            text = self._build_text(train, val, ctx)
            index = ClusterIndex(clusters.members, clusters.label_cluster)
            self.net = self._net(text, num_labels, index).to(self.device)
            result = self._train(self.encode(train.texts), train.Y.tocsr(), val, ctx)
        self.fit_summary = {
            "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run,
            "best_val": result.best_val,
            "seconds_per_epoch": float(np.mean([h["seconds"] for h in result.history])),
            "stop_reason": result.stop_reason,
            "schedule": result.schedule,
            "cluster_seconds": round(cluster_s, 3),
            "device": str(self.device),
            "threads": torch.get_num_threads(),
        }
        return result.fit_report(time.perf_counter() - start)

    def _train(self, x_train: torch.Tensor, y_train: Any, val: SplitData | None, ctx: FitContext) -> LoopResult:
        from harness.metrics import evaluate

        cfg, device = self.config, self.device
        x_dev = x_train.to(device)

        def loss_fn(net: nn.Module, idx: torch.Tensor, epoch: int) -> torch.Tensor:
            rows, labels = positive_pairs(y_train[idx.numpy()], device)
            return net.loss(
                self._batch(x_dev[idx.to(device)]),
                rows,
                labels,
                top_k=cfg.top_k_clusters,
                detach_ext=epoch <= cfg.meta_epoch,
                meta_scale=cfg.meta_scale,
                add_missing_positives=cfg.missing_positives,
            )

        validate = None
        if val is not None and val.Y.shape[0] > 0:
            if val.texts is None:
                raise HarnessError(f"{self.name} needs raw text in the validation split")
            x_val, y_val = self.encode(val.texts), val.Y
            k = min(5, self.num_labels)

            def validate(net: nn.Module) -> dict[str, float]:
                # Both scorings on validation: the reported one's keys drive selection, the other is recorded.
                out: dict[str, float] = {}
                for scoring, top in self._topk_ids(x_val, k).items():
                    metrics = evaluate(top.indices, y_val, inv_prop=ctx.inv_prop, k=k)
                    for key in VAL_KEYS:
                        if key in metrics:
                            out[f"{scoring}/{key}"] = metrics[key]
                            if scoring == cfg.score:
                                out[key] = metrics[key]
                out["shortlist_recall"] = self.shortlist_recall(x_val, y_val)
                return out

        assert self.net is not None
        return fit_loop(
            self.net,
            n_train=x_train.shape[0],
            loss_fn=loss_fn,
            validate=validate,
            settings=self._train_settings(),
            device=device,
            progress=ctx.progress,
            generator_seed=ctx.seed,
            optimizers=self._optimizers,
            report=ctx.report,
        )

    # --- predict ---------------------------------------------------------------------------------------------
    @torch.no_grad()
    def _topk_ids(self, ids: torch.Tensor, k: int) -> dict[str, TopK]:
        """Both scorings' top-k from one batched forward: memory is batch × candidates, never batch × L."""
        assert self.net is not None
        net, device, cfg = self.net, self.device, self.config
        was_training = net.training
        net.eval()
        amp_dtype = autocast_dtype(getattr(cfg, "amp", "none"), device)
        n = ids.shape[0]
        out = {s: (np.full((n, k), -1, dtype=np.int64), np.full((n, k), -np.inf, dtype=np.float32)) for s in SCORINGS}
        for lo in range(0, n, cfg.eval_batch_size):
            batch = self._batch(ids[lo : lo + cfg.eval_batch_size].to(device))
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                cand, logits, cand_prob = net.shortlist(batch)
            ext = torch.sigmoid(logits.float())
            pad = cand == self.num_labels
            kk = min(k, cand.shape[1])
            for scoring, scores in (("ext", ext), ("combined", ext * cand_prob.float())):
                values, pos = torch.topk(scores.masked_fill(pad, -math.inf), kk, dim=1)
                labels = torch.gather(cand, 1, pos)
                labels = labels.masked_fill(torch.isinf(values), -1)
                idx_out, score_out = out[scoring]
                idx_out[lo : lo + len(batch), :kk] = labels.cpu().numpy()
                score_out[lo : lo + len(batch), :kk] = values.cpu().numpy()
        net.train(was_training)
        return {s: TopK(*arrays) for s, arrays in out.items()}

    @torch.no_grad()
    def shortlist_recall(self, ids: torch.Tensor, y: Any) -> float:
        """Fraction of the true (point, label) pairs whose label is among the point's shortlisted candidates.

        The ceiling of every ranking metric, and the quantity the negative mining is about: a model whose meta
        head stops finding the true clusters loses accuracy at inference while its training loss, with the true
        clusters forced in (§2.3), can keep falling. Recorded on validation every epoch (``val_shortlist_recall``).
        """
        assert self.net is not None
        net, device, cfg = self.net, self.device, self.config
        was_training = net.training
        net.eval()
        y = y.tocsr()
        hits, total = 0.0, int((y.data != 0).sum())
        for lo in range(0, ids.shape[0], cfg.eval_batch_size):
            hi = min(lo + cfg.eval_batch_size, ids.shape[0])
            cand, _, _ = net.shortlist(self._batch(ids[lo:hi].to(device)))
            rows, labels = positive_pairs(y[lo:hi], device)
            hits += float(candidate_targets(cand, rows, labels, self.num_labels).sum())
        net.train(was_training)
        return hits / max(total, 1)

    def _check_k(self, k: int) -> None:
        if k < 1:
            raise HarnessError(f"k must be >= 1, got {k}")
        if self.net is None:
            raise HarnessError(f"{self.name}: fit() or load() the model before predicting")

    def predict_topk(self, texts: Sequence[str], k: int) -> TopK:
        """The ``k`` best labels per text under the reported scoring (``config.score``), best first."""
        return self.predict_topk_scorings(texts, k)[self.config.score]

    def predict_topk_scorings(self, texts: Sequence[str], k: int) -> dict[str, TopK]:
        """Top-k under every scoring: ``{"ext": σ(ext), "combined": σ(ext)·σ(meta)}``."""
        self._check_k(k)
        if len(texts) == 0:
            empty = TopK(np.zeros((0, k), dtype=np.int64), np.zeros((0, k), dtype=np.float32))
            return dict.fromkeys(SCORINGS, empty)
        return self._topk_ids(self.encode(texts), k)

    def predict_split_scorings(self, split: SplitData, k: int) -> dict[str, TopK]:
        """Contract extension: every scoring's top-k, so that the runner records both (§2.6)."""
        if split.texts is None:
            raise HarnessError(f"{self.name} needs raw text, but this split has none (a BoW-only dataset)")
        return self.predict_topk_scorings(split.texts, k)

    # --- profiling -------------------------------------------------------------------------------------------
    def profiling_target(self, batch_size: int = 1) -> tuple[nn.Module, tuple[torch.Tensor, ...]] | None:
        """The network (encoder, meta head over all clusters, top-K, member gather, candidate product) on random ids."""
        if self.net is None:
            return None
        self.net.eval()
        ids = self._example_ids(batch_size)
        return self.net, (ids.to(self.device),)

    def _example_ids(self, batch_size: int) -> torch.Tensor:
        """Random non-padding token ids of the model's input length."""
        raise NotImplementedError

    @classmethod
    def build_untrained(
        cls,
        num_labels: int,
        vocab_size: int,
        embedding_dim: int | None = None,
        *,
        device: str = "cpu",
        **overrides: Any,
    ) -> ShortlistModel:
        """Random weights and random balanced clusters of the configured count, for cost estimates.

        The cost of a shortlist depends on cluster sizes and K, not on which labels share a cluster.
        """
        model = cls(**overrides)
        model.num_labels = num_labels
        model.device = torch.device(device)
        clusters = model.config.resolved_num_clusters(num_labels)
        members, label_cluster = random_clusters(num_labels, clusters, seed=model.config.cluster_seed)
        model.cluster_info = {"num_clusters": clusters, "max_size": int(members.shape[1]), "method": "random"}
        text = model._untrained_text(vocab_size, embedding_dim)
        index = ClusterIndex(members, label_cluster)
        model.net = model._net(text, num_labels, index)
        model.net.to(model.device).eval()
        return model

    # --- persistence -----------------------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        """``config.json`` (config, sizes, clusters, text side) and ``weights.pt`` (a state dict, index included)."""
        if self.net is None:
            raise HarnessError(f"{self.name}: nothing to save, the model is not fitted")
        meta = {
            "format_version": FORMAT_VERSION,
            "model": self.name,
            "config": self.config.to_dict(),
            "num_labels": self.num_labels,
            "index_shape": list(self.net.index.members.shape),
            "cluster_info": self.cluster_info,
            "text": self._text_meta(),
            "fit_summary": self.fit_summary,
        }
        write_model(directory, meta, self.net)

    @classmethod
    def load(cls, directory: Path) -> ShortlistModel:
        """Rebuild from :meth:`save`'s files; tensors are read with ``weights_only=True`` (no pickle code)."""
        meta = read_meta(directory, cls.name)
        model = cls(cls.Config.from_dict(meta["config"]))
        model.num_labels = int(meta["num_labels"])
        model.cluster_info = meta.get("cluster_info", {})
        model.fit_summary = meta.get("fit_summary", {})
        text = model._restore_text(meta["text"])
        c, m = meta["index_shape"]
        # Placeholder buffers of the saved shape; the real cluster index comes with the state dict.
        index = ClusterIndex(np.zeros((c, m), dtype=np.int64), np.zeros(model.num_labels, dtype=np.int64))
        model.net = load_weights(model._net(text, model.num_labels, index), directory)
        return model

    # --- card ------------------------------------------------------------------------------------------------
    def card(self) -> ModelCard:
        """Parameters by part, the resolved config with derived sizes, and every deviation from the paper."""
        params = self.net.params_by_part() if self.net is not None else {"total": 0}
        config = self.config.to_dict()
        config["num_labels"] = self.num_labels
        config["clusters"] = self.cluster_info
        if self.net is not None:
            index = self.net.index
            config["derived"] = {
                "text_dim": int(self.net.text.out_dim),
                "num_clusters": index.num_clusters,
                "max_cluster_size": index.max_size,
                "candidates_per_query": min(self.config.top_k_clusters, index.num_clusters) * index.max_size,
                "reported_scoring": self.config.score,
            }
        config["fit"] = self.fit_summary
        return ModelCard(
            name=self.name,
            params=params,
            config=config,
            embeddings=self._embedding_text(),
            deviations=self.deviations(),
            citation=self.citation,
        )

    def shortlist_deviations(self) -> list[str]:
        """Deviations every shortlisting model shares (selection on validation, clusters, scoring recorded)."""
        cfg = self.config
        out = [
            f"epoch selected on a validation split by val {cfg.select_metric} of the reported '{cfg.score}' "
            "scoring (official code: best on the test set); both scorings are recorded",
        ]
        source = (self.cluster_info.get("features") or {}).get("source") if self.cluster_info else None
        over = (
            "the dataset's shipped BoW features (trn_X_Xf.txt, as the official code)"
            if source == "X"
            else "the harness's word 1–2-gram TF-IDF of the titles (official code: the shipped trn_X_Xf.txt)"
        )
        if cfg.cluster_graph:
            out.append(f"clusters: graph-augmented PIFA over {over}")
            if cfg.cluster_graph_top_features is not None:
                out.append(
                    f"{cfg.cluster_graph_top_features} features kept per label after the graph augmentation "
                    f"(ECLARE: {cfg.cluster_top_features}, as before it)"
                )
        else:
            out.append(f"clusters: PIFA over {over}, no label graph")
        return out
