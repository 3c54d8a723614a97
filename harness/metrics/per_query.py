"""Per-query metric values, so that two models can be compared by a *paired* test over the test queries.

Usage::

    from harness.metrics.per_query import per_query_values, save_per_query, load_per_query, query_values
    values = per_query_values(topk, Y_test, inv_prop=w, k=5, filter_pairs=pairs)
    save_per_query(cell_dir / "per_query.npz", values, cell_key=key, dataset_sha256=sha)
    diff, den = query_values(load_per_query(path), "psp@5")   # numerator per query, shared denominator

A table number is an aggregate of per-query terms, so a significance test needs those terms, not the
aggregate (lm-eval #3831: an unpaired test on paired data under-powers the comparison). The values here
are computed exactly as :func:`harness.metrics.evaluate` computes its sums, and aggregate back to its
numbers (a test pins that), in two shapes:

- ``p``, ``ndcg``, ``r``: one value per query and rank; the metric is their **mean** over queries.
- ``psp``, ``psndcg``: a **ratio of sums** (pyxclib), so each query contributes a numerator
  (``psp_num``: its propensity-weighted hits) and a denominator (``psp_den``: the weights of its best
  possible ranking). The denominator depends only on the test labels and the propensities, never on the
  model, so two models on the same test set share it, and ``PSP_a - PSP_b = Σ(num_a - num_b) / Σ den``:
  a paired test on the per-query numerator differences *is* a test on the PSP difference.

The file is small (float32, one (n, k) array per key) and written beside ``topk.npz`` by the cell, so
``harness report`` never needs the dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

# evaluate's own prediction reader and duplicate check: the per-query values must see exactly the same
# rankings as the aggregate metrics, so they share the code rather than copy it.
from harness.metrics.evaluate import checked_inputs, ranked_chunks
from harness.metrics.propensity import ideal_weights
from harness.metrics.ranking import discounts
from harness.metrics.topk import RankedLabels

PER_QUERY_FILE = "per_query.npz"
#: Bumped when the keys or their meaning change; the report ignores files of another format.
PER_QUERY_FORMAT = 1
#: Families whose metric is the mean of the per-query values.
MEAN_FAMILIES = ("p", "ndcg", "r")
#: Families whose metric is Σ num / Σ den over queries (the ``<family>_num``/``<family>_den`` keys).
RATIO_FAMILIES = ("psp", "psndcg")


@dataclass(frozen=True)
class PerQuery:
    """The per-query values of one cell, with what identifies the test set they belong to."""

    values: dict[str, np.ndarray]  # key -> (n, k) float32
    k: int
    cell_key: str
    dataset_sha256: str

    @property
    def n_queries(self) -> int:
        return int(next(iter(self.values.values())).shape[0])


def per_query_values(
    pred: sp.spmatrix | sp.sparray | np.ndarray | RankedLabels | tuple,
    truth: sp.spmatrix | sp.sparray,
    *,
    inv_prop: np.ndarray | None = None,
    k: int = 5,
    filter_pairs: np.ndarray | None = None,
    chunk_size: int = 50_000,
) -> dict[str, np.ndarray]:
    """Each query's contribution to every metric of :func:`~harness.metrics.evaluate` at ranks 1..k.

    Arguments and conventions are those of ``evaluate`` (same ranking, filtering, empty-row and missing-slot
    rules); see the module docstring for the keys.

    Returns:
        ``{"p", "ndcg", "r"[, "psp_num", "psp_den", "psndcg_num", "psndcg_den"]}``, each (N, k) float32.
    """
    source, y, weights, filt = checked_inputs(pred, truth, k=k, inv_prop=inv_prop, filter_pairs=filter_pairs,
                                              chunk_size=chunk_size)  # fmt: skip
    n_rows, n_labels = y.shape

    keys = list(MEAN_FAMILIES)
    if weights is not None:
        keys += [f"{family}_{part}" for family in RATIO_FAMILIES for part in ("num", "den")]
    out = {key: np.zeros((n_rows, k), dtype=np.float32) for key in keys}
    disc = discounts(k)
    cum_disc = np.cumsum(disc)
    ranks = np.arange(1, k + 1)
    for c in ranked_chunks(source, y, filt, k, chunk_size):
        start, stop, top, n_true, indptr, labels = c.start, c.stop, c.top, c.n_true, c.indptr, c.labels
        h = c.hits.astype(np.float64)

        # The same terms RankingSums.add sums over rows (harness/metrics/ranking.py), kept per row.
        cum_hits = np.cumsum(h, axis=1)
        has_true = n_true > 0
        idcg_pos = np.minimum(ranks[None, :], np.maximum(n_true, 1)[:, None]) - 1
        inv_idcg = np.where(has_true[:, None], 1.0 / cum_disc[idcg_pos], 0.0)
        inv_true = np.where(has_true, 1.0 / np.maximum(n_true, 1), 0.0)
        out["p"][start:stop] = cum_hits / ranks
        out["ndcg"][start:stop] = np.cumsum(h * disc, axis=1) * inv_idcg
        out["r"][start:stop] = cum_hits * inv_true[:, None]
        if weights is not None:
            best = ideal_weights(indptr, weights[labels], k)
            gain = np.append(weights, 0.0)[top] * h
            out["psp_num"][start:stop] = np.cumsum(gain, axis=1)
            out["psp_den"][start:stop] = np.cumsum(best, axis=1)
            out["psndcg_num"][start:stop] = np.cumsum(gain * disc, axis=1) * inv_idcg
            out["psndcg_den"][start:stop] = np.cumsum(best * disc, axis=1) * inv_idcg
    return out


def aggregate(values: dict[str, np.ndarray]) -> dict[str, float]:
    """The metrics the per-query values add up to (what ``evaluate`` returns, up to float32 rounding)."""
    out: dict[str, float] = {}
    for family in (*MEAN_FAMILIES, *RATIO_FAMILIES):
        for rank in range(1, _width(values) + 1):
            key = f"{family}@{rank}"
            if family in MEAN_FAMILIES or f"{family}_num" in values:
                value, den = query_values_from(values, key)
                out[key] = _mean_or_ratio(value, den)
    return out


def query_values(pq: PerQuery, metric: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-query values of ``metric`` (e.g. ``"psp@5"``) as float64: (values, shared denominator or None).

    For a mean family the metric is ``values.mean()``; for a ratio family ``values.sum() / den.sum()``.

    Raises:
        KeyError: the family is not stored or the rank exceeds the stored k.
    """
    return query_values_from(pq.values, metric)


def query_values_from(values: dict[str, np.ndarray], metric: str) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`query_values` on a bare ``{key: (n, k) array}`` mapping."""
    family, _, rank_text = metric.partition("@")
    rank = int(rank_text)
    if not 1 <= rank <= _width(values):
        raise KeyError(f"{metric}: rank outside the stored 1..{_width(values)}")
    if family in MEAN_FAMILIES and family in values:
        return values[family][:, rank - 1].astype(np.float64), None
    if family in RATIO_FAMILIES and f"{family}_num" in values:
        num = values[f"{family}_num"][:, rank - 1].astype(np.float64)
        return num, values[f"{family}_den"][:, rank - 1].astype(np.float64)
    raise KeyError(f"{metric}: no per-query values for {family!r}")


def save_per_query(path: Path, values: dict[str, np.ndarray], *, cell_key: str, dataset_sha256: str) -> None:
    """Write ``per_query.npz`` through a temporary name, so a killed cell never leaves a truncated file."""
    from harness.io import write_npz_atomic

    write_npz_atomic(
        path,
        format=np.int64(PER_QUERY_FORMAT),
        k=np.int64(_width(values)),
        cell_key=np.array(cell_key),
        dataset_sha256=np.array(dataset_sha256),
        **{key: np.asarray(v, dtype=np.float32) for key, v in values.items()},
    )


def load_per_query(path: Path) -> PerQuery | None:
    """Read a ``per_query.npz``; ``None`` when absent, unreadable or of another format (then: not tested)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if int(data["format"]) != PER_QUERY_FORMAT:
                return None
            meta = {"format", "k", "cell_key", "dataset_sha256"}
            values = {key: data[key] for key in data.files if key not in meta}
            return PerQuery(
                values=values,
                k=int(data["k"]),
                cell_key=str(data["cell_key"]),
                dataset_sha256=str(data["dataset_sha256"]),
            )
    except (OSError, KeyError, ValueError):
        return None


def _width(values: dict[str, np.ndarray]) -> int:
    return int(next(iter(values.values())).shape[1])


def _mean_or_ratio(value: np.ndarray, den: np.ndarray | None) -> float:
    if den is None:
        return float(value.mean())
    total = float(den.sum())
    return float(value.sum()) / total if total > 0 else 0.0
