"""Label shortlisting shared by SyncXML (methods.md §2) and LightXML-style models (§3): the cluster index,
candidate formation, gathered candidate scoring and the targets of both losses.

Usage::

    from inceptionxml.shortlist import ClusterIndex, top_clusters, expand_candidates, candidate_logits
    index = ClusterIndex(clusters.members, clusters.label_cluster)      # buffers: move with the net
    top, top_p = top_clusters(meta_logits, k=800, forced=cluster_targets(...))
    cand, cand_p = expand_candidates(index, top, top_p)                  # (B, K·M) label ids, pads = L
    logits = candidate_logits(query, label_weight, cand)                 # (B, K·M) = ⟨W[cand], q⟩

Everything is a gather plus a batched product: memory is batch × candidates × H, never batch × all labels,
and no Python loop runs over labels or clusters. Padding slots hold the dummy label ``L`` whose table row is
zero, so they score exactly 0 and are masked out at inference (§2.1 step 4, §2.3).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn


class ClusterIndex(nn.Module):
    """The label clusters as two buffers, so they follow the network to the GPU and into its state dict.

    Attributes:
        members: (C, M) int64 member labels of each cluster, padded with ``num_labels`` (the dummy label).
        label_cluster: (L + 1,) int64 cluster of each label; the dummy label maps to -1.
    """

    def __init__(self, members: np.ndarray, label_cluster: np.ndarray) -> None:
        super().__init__()
        members = np.asarray(members, dtype=np.int64)
        label_cluster = np.asarray(label_cluster, dtype=np.int64)
        if members.ndim != 2 or members.shape[0] < 1:
            raise ValueError(f"members must be a (clusters × max size) array, got shape {members.shape}")
        self.num_labels = int(label_cluster.shape[0])
        self.register_buffer("members", torch.from_numpy(members.copy()))
        self.register_buffer("label_cluster", torch.from_numpy(np.append(label_cluster, -1)))

    @property
    def num_clusters(self) -> int:
        return int(self.members.shape[0])

    @property
    def max_size(self) -> int:
        return int(self.members.shape[1])


def cluster_targets(rows: torch.Tensor, labels: torch.Tensor, index: ClusterIndex, batch: int) -> torch.Tensor:
    """Dense (B, C) multi-hot of the clusters holding each query's true labels: the meta loss's targets, g.

    Args:
        rows, labels: the batch's positive (row, label) pairs (int64, same length).
    """
    target = torch.zeros(batch, index.num_clusters, device=index.members.device)
    cl = index.label_cluster[labels]
    keep = cl >= 0  # labels outside every cluster are ignored (§2.3 step 2)
    target[rows[keep], cl[keep]] = 1.0
    return target


def top_clusters(
    meta_logits: torch.Tensor, k: int, forced: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` best clusters per query by σ(meta) (§2.3), with true clusters forced in during training.

    Adding the 0/1 target ``forced`` lifts every true cluster to ≥ 1, above any unforced probability, so all
    of them are picked when there are at most ``k``. The returned scores are always the *unforced* σ(z).

    Returns:
        (indices (B, K) int64, probabilities (B, K)); gradients never flow through the selection.
    """
    prob = torch.sigmoid(meta_logits.detach().float())
    k = min(k, prob.shape[1])
    rank = prob + forced if forced is not None else prob
    _, top = torch.topk(rank, k, dim=1)
    return top, torch.gather(prob, 1, top)


def expand_candidates(
    index: ClusterIndex, top: torch.Tensor, top_prob: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Member labels of the selected clusters, each with its cluster's probability: (B, K·M) each.

    Padding members keep the dummy label id ``L``; their probability is irrelevant (masked downstream).
    """
    b, k = top.shape
    cand = index.members[top].reshape(b, k * index.max_size)
    cand_prob = top_prob.unsqueeze(2).expand(b, k, index.max_size).reshape(b, k * index.max_size)
    return cand, cand_prob


def candidate_logits(query: torch.Tensor, label_weight: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
    """⟨W[ℓ], q⟩ for every candidate ℓ: an embedding gather and one batched product, (B, N).

    Args:
        query: (B, H) label-query vectors.
        label_weight: (L + 1, H) label table whose last row (the dummy label) is zero.
        cand: (B, N) candidate label ids.
    """
    gathered = nn.functional.embedding(cand, label_weight)  # (B, N, H)
    return torch.bmm(gathered, query.unsqueeze(2)).squeeze(2)


def union_candidate_logits(query: torch.Tensor, rows: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
    """The same (B, N) logits as :func:`candidate_logits`, through the batch's distinct candidates (training).

    ``rows`` are the label-table rows of ``torch.unique(cand)`` (gathered by the caller, so that a sparse table
    gets a sparse gradient). One GEMM ``query @ rows.T`` scores every distinct candidate for every query, and each
    query's own candidates are picked from it. On CPU this is about 4× faster than the per-query gather plus
    batched matrix-vector product at B = 256, N = 700, H = 300 (fwd + bwd), because the gather materialises and
    re-reads B·N·H floats while the GEMM reads each distinct label row once. Memory is B × |unique| instead of
    B × N × H; the caller falls back to the gather when that would be larger.
    """
    _, inverse = torch.unique(cand, return_inverse=True)
    return torch.gather(query @ rows.t(), 1, inverse)


def cluster_block_logits(
    query: torch.Tensor, label_weight: torch.Tensor, members: torch.Tensor, top: torch.Tensor, sparse: bool = False
) -> torch.Tensor:
    """The (B, K·M) logits of :func:`candidate_logits` for ``cand = expand_candidates(...)``, one cluster at a time.

    A query's candidates are whole clusters, so the product is grouped by cluster: each selected cluster's M
    label rows are gathered once and multiplied with the queries that selected it. Clusters are bucketed by how
    many queries chose them (padded to the next power of two), and each bucket is one ``bmm``. The products are
    exactly the B·K·M·H multiply-adds the method needs (at most twice that with the padding), where the union
    GEMM of :func:`union_candidate_logits` scores every distinct candidate for every query. At the main job's
    settings (wordnet-nouns, batch 256) the union is nearly all 17K labels at initialisation, 24× (syncxml) and
    26× (lightxml) the needed products, and still ~4,500 and ~13,000 labels after an epoch (6× and 19×), and
    ``torch.unique`` sorts B·K·M ids. The same values and gradients up to float summation order (a test checks).

    Args:
        query: (B, H) label-query vectors.
        label_weight: (L + 1, H) label table; rows are gathered with ``F.embedding`` (``sparse``: sparse gradient).
        members: (C, M) member labels of each cluster (``ClusterIndex.members``).
        top: (B, K) selected clusters per query (distinct within a row).
    """
    b, k = top.shape
    m, h = members.shape[1], query.shape[1]
    pair_cluster = top.reshape(-1)
    order = torch.argsort(pair_cluster, stable=True)  # the (query, slot) pairs grouped by cluster
    clusters, counts = torch.unique_consecutive(pair_cluster[order], return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    # Each cluster's bucket is its query count rounded up to a power of two; clusters are put in bucket order so
    # that one gather of all their label rows is split (not indexed) into buckets: the gradient of a split is one
    # concatenation, where an index per bucket would fill a zero gradient of all the rows once per bucket.
    cap = torch.pow(2, torch.ceil(torch.log2(counts.double()))).long()
    by_bucket = torch.argsort(cap, stable=True)
    clusters, counts, starts, cap = clusters[by_bucket], counts[by_bucket], starts[by_bucket], cap[by_bucket]
    sizes, n_clusters = torch.unique_consecutive(cap, return_counts=True)
    label_rows = F.embedding(members[clusters], label_weight, sparse=sparse)  # (U, M, H)
    query_rows = torch.cat([query, query.new_zeros(1, h)])  # row B: the zero query of padding slots
    blocks, pairs = [], []
    lo = 0
    per_bucket = n_clusters.tolist()
    for size, n, w in zip(sizes.tolist(), per_bucket, torch.split(label_rows, per_bucket), strict=True):
        slot = torch.arange(size, device=top.device)
        valid = slot.unsqueeze(0) < counts[lo : lo + n].unsqueeze(1)  # (n, size)
        pos = (starts[lo : lo + n].unsqueeze(1) + slot.unsqueeze(0)).clamp(max=order.numel() - 1)
        pair = order[pos]
        q = F.embedding(torch.where(valid, pair // k, b), query_rows)  # (n, size, H)
        blocks.append(torch.bmm(q, w.transpose(1, 2)).reshape(n * size, m))
        pairs.append(torch.where(valid, pair, -1).reshape(-1))
        lo += n
    # the row of each (query, slot) pair in the stacked blocks; padding rows (-1) are never picked
    pair = torch.cat(pairs)
    real = pair >= 0
    row_of_pair = torch.empty(b * k, dtype=torch.long, device=top.device)
    row_of_pair[pair[real]] = real.nonzero().squeeze(1)
    scores = torch.cat(blocks) if len(blocks) > 1 else blocks[0]
    return scores.index_select(0, row_of_pair).reshape(b, k * m)


def positive_pairs(y_rows: sp.csr_matrix, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """The (row, label) pairs of a batch's label rows, as int64 tensors."""
    y_rows = sp.csr_matrix(y_rows)
    counts = np.diff(y_rows.indptr)
    rows = np.repeat(np.arange(y_rows.shape[0], dtype=np.int64), counts)
    keep = y_rows.data != 0
    rows_t = torch.from_numpy(rows[keep]).to(device)
    labels_t = torch.from_numpy(y_rows.indices[keep].astype(np.int64)).to(device)
    return rows_t, labels_t


def candidate_targets(cand: torch.Tensor, rows: torch.Tensor, labels: torch.Tensor, num_labels: int) -> torch.Tensor:
    """1.0 where candidate ``cand[b, j]`` is a true label of query ``b``, else 0.0 (§2.3 step 6).

    A sorted search over the batch's positive keys ``b·(L+1) + ℓ``: O(B·N·log P) with no dense B×L matrix.
    """
    stride = num_labels + 1
    keys = torch.sort(rows * stride + labels).values
    if keys.numel() == 0:
        return torch.zeros(cand.shape, device=cand.device)
    query = torch.arange(cand.shape[0], device=cand.device).unsqueeze(1) * stride + cand
    pos = torch.searchsorted(keys, query).clamp(max=keys.numel() - 1)
    return (keys[pos] == query).float()


def append_missing_positives(
    cand: torch.Tensor,
    cand_prob: torch.Tensor,
    rows: torch.Tensor,
    labels: torch.Tensor,
    num_labels: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """LightXML's rule that every positive is trained on (§3.3): positives the shortlist missed are added.

    They are appended as extra columns (the batch is padded with the dummy label ``L``) rather than written
    over a negative slot, so no hard negative is lost; a missed positive's cluster probability is 0. Only
    rows with more true clusters than K can miss a positive, because true clusters are forced in.
    """
    present = candidate_targets(cand, rows, labels, num_labels).sum(1)  # positives found per row
    per_row = torch.bincount(rows, minlength=cand.shape[0])
    if bool((present >= per_row).all()):
        return cand, cand_prob
    stride = num_labels + 1
    keys = torch.sort((torch.arange(cand.shape[0], device=cand.device).unsqueeze(1) * stride + cand).flatten()).values
    pair = rows * stride + labels
    pos = torch.searchsorted(keys, pair).clamp(max=keys.numel() - 1)
    in_cand = keys[pos] == pair
    miss_rows, miss_labels = rows[~in_cand], labels[~in_cand]
    counts = torch.bincount(miss_rows, minlength=cand.shape[0])
    width = int(counts.max())
    # slot of each missing positive within its row: rank among the row's missing positives
    order = torch.argsort(miss_rows, stable=True)
    miss_rows, miss_labels = miss_rows[order], miss_labels[order]
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.arange(miss_rows.numel(), device=cand.device) - starts[miss_rows]
    extra = torch.full((cand.shape[0], width), num_labels, dtype=cand.dtype, device=cand.device)
    extra[miss_rows, slot] = miss_labels
    return torch.cat([cand, extra], 1), torch.cat([cand_prob, torch.zeros(extra.shape, device=cand.device)], 1)


def random_clusters(num_labels: int, num_clusters: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Balanced clusters of a random label permutation: (members padded with L, label_cluster).

    For untrained models only (cost estimates, the scaling benchmark): the cost of a shortlist depends on the
    cluster sizes, not on which labels share a cluster.
    """
    num_clusters = max(1, min(num_clusters, num_labels))
    perm = np.random.default_rng(seed).permutation(num_labels)
    max_size = -(-num_labels // num_clusters)
    members = np.full((num_clusters, max_size), num_labels, dtype=np.int64)
    label_cluster = np.empty(num_labels, dtype=np.int64)
    cluster_of_slot = np.arange(num_labels) % num_clusters  # round-robin: sizes differ by at most one
    slot_in_cluster = np.arange(num_labels) // num_clusters
    members[cluster_of_slot, slot_in_cluster] = perm
    label_cluster[perm] = cluster_of_slot
    return members, label_cluster
