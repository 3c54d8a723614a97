"""The shortlisting network: a text encoder, a meta-classifier over label clusters and an extreme classifier
that scores only the labels of the top-K clusters. SyncXML and LightXML-style heads are two settings of it.

Usage::

    net = ShortlistNet(InceptionTextEncoder(cfg, emb), num_labels=L, index=ClusterIndex(members, label_cluster),
                       heads=HeadSettings(kind="sync"))
    loss = net.loss(ids, rows, labels, top_k=800, detach_ext=epoch <= 10)   # §2.4 + §2.5
    cand, ext_logits, cand_prob = net(ids, top_k=800)                      # inference, §2.6

``kind="sync"`` (methods.md §2.2): mirrored heads, each dropout → spectral-normalised Linear → GELU → + h, the
meta head ending in Linear(H → C) and the extreme head in a label table. ``kind="lightxml"`` (§3.3, §3.5): one
dropout on h, then a plain Linear(h → C) for clusters and an un-activated Linear(h → hidden) bottleneck.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from inceptionxml.config import InceptionXMLConfig
from inceptionxml.encoder import InceptionXMLEncoder
from inceptionxml.shortlist import (
    ClusterIndex,
    append_missing_positives,
    candidate_logits,
    candidate_targets,
    cluster_block_logits,
    cluster_targets,
    expand_candidates,
    top_clusters,
    union_candidate_logits,
)
from inceptionxml.text import PAD_ID


class InceptionTextEncoder(nn.Module):
    """Token ids (B, S) → h (B, out_dim): the trainable word table and the InceptionXML encoder (§1.2)."""

    def __init__(self, cfg: InceptionXMLConfig, embedding: np.ndarray, sparse: bool = False) -> None:
        super().__init__()
        self.embedding = nn.Embedding.from_pretrained(
            torch.from_numpy(np.ascontiguousarray(embedding, dtype=np.float32)),
            freeze=False,
            padding_idx=PAD_ID,
            sparse=sparse,
        )
        self.encoder = InceptionXMLEncoder(cfg, emb_dim=embedding.shape[1])
        self.out_dim = self.encoder.out_dim

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.embedding(ids))


@dataclass(frozen=True)
class HeadSettings:
    """Shape of the two heads; see the module docstring for the two kinds.

    Attributes:
        kind: "sync" (SyncXML) or "lightxml".
        hidden_dims: H of the sync heads (None: h's width, so the residual needs no pooling).
        hidden_dropout: dropout before each sync head's hidden layer (0.25).
        meta_dropout: p_meta, before the sync meta classifier.
        ext_dropout: p_ext, on the sync extreme head's query vector.
        feature_dropout: LightXML's dropout on h, shared by both heads.
        bottleneck_dim: LightXML's query width (hidden_dim 300–500).
    """

    kind: str = "sync"
    hidden_dims: int | None = None
    hidden_dropout: float = 0.25
    meta_dropout: float = 0.3
    ext_dropout: float = 0.5
    feature_dropout: float = 0.5
    bottleneck_dim: int = 300


class SyncHidden(nn.Module):
    """dropout → spectral-normalised Linear(h → H) → GELU, plus h (average-pooled to H when H < h)."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        linear = nn.Linear(in_dim, out_dim)
        nn.init.xavier_uniform_(linear.weight)
        nn.init.zeros_(linear.bias)
        self.linear = spectral_norm(linear)
        self.act = nn.GELU()
        self.pool = nn.Identity() if in_dim == out_dim else nn.AdaptiveAvgPool1d(out_dim)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        residual = h if isinstance(self.pool, nn.Identity) else self.pool(h.unsqueeze(1)).squeeze(1)
        return self.act(self.linear(self.dropout(h))) + residual


class SyncMetaHead(nn.Module):
    """The shortlister of §2.2: hidden block, dropout p_meta, Linear(H → C) with bias."""

    def __init__(self, in_dim: int, hidden: int, num_clusters: int, hidden_dropout: float, meta_dropout: float):
        super().__init__()
        self.hidden = SyncHidden(in_dim, hidden, hidden_dropout)
        self.dropout = nn.Dropout(meta_dropout)
        self.classifier = nn.Linear(hidden, num_clusters)
        nn.init.xavier_uniform_(self.classifier.weight)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.hidden(h)))


class SyncExtHead(nn.Module):
    """The extreme head of §2.2, the meta head's mirror image: hidden block, then dropout p_ext → query q."""

    def __init__(self, in_dim: int, hidden: int, hidden_dropout: float, ext_dropout: float):
        super().__init__()
        self.hidden = SyncHidden(in_dim, hidden, hidden_dropout)
        self.dropout = nn.Dropout(ext_dropout)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.hidden(h))


class LabelEmbedding(nn.Module):
    """The extreme classifier's label table W ∈ R^{(L+1)×H} (no bias; the last row, the dummy label, is zero)
    and the candidate product ⟨W[ℓ], q⟩ (a gather plus a batched product).

    Without autograd (inference) the product runs in row chunks so that the per-query blocks stay under
    ``chunk_bytes``: gathered, SyncXML's 800 clusters × 10 labels × 480 floats are 15 MB per query, and a whole
    evaluation batch at once would need gigabytes for nothing.
    """

    def __init__(self, num_labels: int, dim: int, sparse: bool = False, chunk_bytes: int = 64 * 2**20) -> None:
        super().__init__()
        self.table = nn.Embedding(num_labels + 1, dim, padding_idx=num_labels, sparse=sparse)
        nn.init.xavier_uniform_(self.table.weight)
        with torch.no_grad():
            self.table.weight[num_labels].zero_()  # the dummy label: padded slots score exactly 0
        self.chunk_bytes = chunk_bytes

    def forward(
        self,
        query: torch.Tensor,
        cand: torch.Tensor,
        members: torch.Tensor | None = None,
        top: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, H) queries and (B, N) candidate ids → (B, N) logits.

        In training, ``members`` and ``top`` say that the first K·M columns of ``cand`` are the member labels of
        each query's K selected clusters (``expand_candidates``); they are then scored cluster by cluster
        (``cluster_block_logits``) and any further columns (appended missed positives) by the gather.
        """
        weight = self.table.weight
        if torch.jit.is_tracing():  # the profiler counts what one query costs: its own candidates' products
            return candidate_logits(query, weight, cand)
        if members is not None and top is not None:
            return self._by_cluster(query, cand, members, top)
        if torch.is_grad_enabled():
            sparse = self.table.sparse and self.training
            if self.training:
                distinct = torch.unique(cand)
                # The GEMM over the batch's distinct candidates, unless its (B, U) scores outgrow the (B, N, H) gather.
                if distinct.numel() <= cand.shape[1] * weight.shape[1]:
                    rows = F.embedding(distinct, weight, sparse=sparse)
                    return union_candidate_logits(query, rows, cand)
            gathered = F.embedding(cand, weight, sparse=sparse)
            return torch.bmm(gathered, query.unsqueeze(2)).squeeze(2)
        return self._chunked(candidate_logits, query, cand.shape[1] * weight.shape[1], cand, weight)

    def _by_cluster(
        self, query: torch.Tensor, cand: torch.Tensor, members: torch.Tensor, top: torch.Tensor
    ) -> torch.Tensor:
        """Score the first K·M columns cluster by cluster and any further ones (appended positives) by the gather.

        Used in training and at inference alike: the gather of every query's own (N, H) candidate rows moves
        N·H floats per query where the cluster blocks read each selected cluster's rows once (the main job's test
        prediction phase, metrics included, went 16.7 → 9.3 s for syncxml and 18.0 → 7.5 s for lightxml).
        Without autograd it runs in row chunks, like the gather.
        """
        weight = self.table.weight
        sparse = self.table.sparse and self.training and torch.is_grad_enabled()
        if torch.is_grad_enabled():
            blocked = cluster_block_logits(query, weight, members, top, sparse=sparse)
        else:
            # Per row: at most 2·K padded query copies of H floats and K·M scores. The gathered label rows are
            # bounded by the selected clusters, at most one copy of the label table whatever the chunk.
            per_row = top.shape[1] * (2 * query.shape[1] + members.shape[1])
            blocked = self._chunked(lambda q, t: cluster_block_logits(q, weight, members, t), query, per_row, top)
        if cand.shape[1] == blocked.shape[1]:
            return blocked
        rest = F.embedding(cand[:, blocked.shape[1] :], weight, sparse=sparse)
        return torch.cat([blocked, torch.bmm(rest, query.unsqueeze(2)).squeeze(2)], 1)

    def _chunked(self, score, query: torch.Tensor, floats_per_row: int, *per_query: torch.Tensor) -> torch.Tensor:
        """``score(query, *per_query)`` over row chunks whose working set stays under ``chunk_bytes``."""
        rows = max(1, self.chunk_bytes // max(1, floats_per_row * self.table.weight.element_size()))
        if rows >= query.shape[0]:
            return score(query, *per_query)
        return torch.cat(
            [score(query[i : i + rows], *(t[i : i + rows] for t in per_query)) for i in range(0, query.shape[0], rows)]
        )


class ShortlistNet(nn.Module):
    """Encoder → (meta logits over C clusters, query vector) → scores of the top-K clusters' labels only.

    Args:
        text_encoder: module mapping token ids (B, S) to h (B, out_dim); it must expose ``out_dim``.
        num_labels: L; the label table has L + 1 rows, the last one the zero dummy label.
        index: the label clusters.
        heads: head kind and widths.
        top_k: clusters shortlisted per query (also at training time, §2.3).
        score: what ``forward`` returns: "ext" σ(ext) or "combined" σ(ext)·σ(meta) (§2.6).
        sparse: sparse gradients for the label table (SparseAdam).

    Children are named so that the profiler's parts come out right: ``text`` (encoder), ``meta_head``,
    ``extreme_head`` and ``label_embedding`` (heads).
    """

    def __init__(
        self,
        text_encoder: nn.Module,
        num_labels: int,
        index: ClusterIndex,
        heads: HeadSettings,
        top_k: int = 800,
        score: str = "ext",
        sparse: bool = False,
    ) -> None:
        super().__init__()
        if score not in ("ext", "combined"):
            raise ValueError(f"score must be 'ext' or 'combined', got {score!r}")
        self.top_k, self.score = top_k, score
        self.text = text_encoder
        self.index = index
        self.num_labels = num_labels
        self.kind = heads.kind
        h = int(text_encoder.out_dim)
        c = index.num_clusters
        if heads.kind == "sync":
            hidden = heads.hidden_dims or h
            self.feature_dropout = nn.Identity()
            self.meta_head = SyncMetaHead(h, hidden, c, heads.hidden_dropout, heads.meta_dropout)
            self.extreme_head = SyncExtHead(h, hidden, heads.hidden_dropout, heads.ext_dropout)
            query_dim = hidden
        elif heads.kind == "lightxml":
            self.feature_dropout = nn.Dropout(heads.feature_dropout)
            self.meta_head = nn.Linear(h, c)
            self.extreme_head = nn.Linear(h, heads.bottleneck_dim)  # no activation (LightXML's l1)
            query_dim = heads.bottleneck_dim
        else:
            raise ValueError(f"head kind must be 'sync' or 'lightxml', got {heads.kind!r}")
        self.label_embedding = LabelEmbedding(num_labels, query_dim, sparse=sparse)

    def shortlist(self, ids: torch.Tensor, top_k: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Inference: (candidates (B, K·M), extreme logits (B, K·M), cluster probabilities (B, K·M))."""
        h = self.feature_dropout(self.text(ids))
        top, top_prob = top_clusters(self.meta_head(h), top_k or self.top_k)
        cand, cand_prob = expand_candidates(self.index, top, top_prob)
        logits = self.label_embedding(self.extreme_head(h), cand, members=self.index.members, top=top)
        return cand, logits, cand_prob

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """What one query costs: ids → the reported score of every candidate (B, K·M), padding slots 0.

        Covers the meta head over all clusters, the top-K, the member gather and the gathered candidate
        product; the final top-k over candidates is left to the caller, as for the one-vs-all model. The
        profiler counts exactly this.
        """
        cand, logits, cand_prob = self.shortlist(ids)
        scores = torch.sigmoid(logits)
        if self.score == "combined":
            scores = scores * cand_prob
        return scores.masked_fill(cand == self.num_labels, 0.0)

    def loss(
        self,
        ids: torch.Tensor,
        rows: torch.Tensor,
        labels: torch.Tensor,
        *,
        top_k: int,
        detach_ext: bool = False,
        meta_scale: float = 1.0,
        add_missing_positives: bool = False,
    ) -> torch.Tensor:
        """BCE over the candidates + meta_scale · BCE over all clusters (§2.4), both mean-reduced.

        Args:
            ids: (B, S) token ids; rows/labels: the batch's positive (row, label) pairs.
            top_k: clusters per query; the true clusters are forced in (§2.3).
            detach_ext: cut the extreme loss's gradient into the encoder (SyncXML's warm-up, §2.5).
            add_missing_positives: LightXML's rule that positives the shortlist missed are trained on.
        """
        h = self.feature_dropout(self.text(ids))
        meta_logits = self.meta_head(h)
        g = cluster_targets(rows, labels, self.index, ids.shape[0])
        top, top_prob = top_clusters(meta_logits, top_k, forced=g)
        cand, cand_prob = expand_candidates(self.index, top, top_prob)
        if add_missing_positives:
            cand, cand_prob = append_missing_positives(cand, cand_prob, rows, labels, self.num_labels)
        q = self.extreme_head(h.detach() if detach_ext else h)
        logits = self.label_embedding(q, cand, members=self.index.members, top=top)
        target = candidate_targets(cand, rows, labels, self.num_labels)
        ext_loss = F.binary_cross_entropy_with_logits(logits.float(), target)
        meta_loss = F.binary_cross_entropy_with_logits(meta_logits.float(), g)
        return ext_loss + meta_scale * meta_loss

    def params_by_part(self) -> dict[str, int]:
        """Parameter counts: embedding (word table), encoder, meta head, extreme head, label table, total."""

        def count(module: nn.Module) -> int:
            return sum(p.numel() for p in module.parameters())

        if hasattr(self.text, "param_counts"):  # e.g. MiniLM: word pieces, positions and types
            emb = int(self.text.param_counts()["embedding"])
        else:
            embedding = getattr(self.text, "embedding", None)
            emb = count(embedding) if embedding is not None else 0
        parts = {
            "embedding": emb,
            "encoder": count(self.text) - emb,
            "meta_head": count(self.meta_head),
            "ext_head": count(self.extreme_head),
            "label_table": self.label_embedding.table.weight.numel(),
        }
        parts["head"] = parts["meta_head"] + parts["ext_head"] + parts["label_table"]
        parts["total"] = count(self)
        return parts
