"""Paired significance of each row against the best row of its column, over the test queries of one dataset.

Usage::

    from harness.report.significance import SignificanceSettings, sign_flip_pvalues, holm
    p = sign_flip_pvalues(diffs, resamples=10_000, seed=0)   # diffs: (n_queries, n_comparisons)
    p_adj = holm(p)                                           # step-down, family-wise error at alpha

Why this test: two models scored on the same test queries are *paired* data, and the table's numbers are
sums over those queries, so the natural null hypothesis is "for every query, which model produced which
value is arbitrary". The approximate randomisation (sign-flip permutation) test draws that null directly:
flip the sign of each query's difference at random and see how often the flipped total is as large as the
observed one (Noreen 1989; sacreBLEU's ``--paired-ar``). It is valid with one seed, needs no normality,
and handles PSP exactly: PSP's per-query denominator depends only on the test labels, so it is the same for
both rows and is untouched by a flip; the test on the numerator differences is the test on the PSP
difference. A paired bootstrap would have to resample the ratio instead, and is no more powerful here.

The rows of a dataset are compared with one best row per column, a family of tests per column, so the
p-values are Holm-corrected within each column (controls the family-wise error at ``alpha`` without
Bonferroni's loss of power).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from harness.metrics.per_query import PerQuery
    from harness.report.aggregate import Column, Row, Table
    from harness.results import ResultRecord

#: Reads one record's per-query values (``None``: the cell has none, e.g. it predates ``per_query.npz``).
PerQueryLoader = Callable[["ResultRecord"], "PerQuery | None"]

#: Random signs are drawn for blocks of (resamples x queries) of this size: bounded memory, and BLAS-sized
#: products (a 1e5-query, 1e4-resample, 30-comparison table takes seconds on one core).
_RESAMPLE_BLOCK = 1024
_QUERY_BLOCK = 2048


@dataclass(frozen=True)
class SignificanceSettings:
    """How rows are tested: level, number of random sign flips, and the RNG seed that makes reports repeatable."""

    alpha: float = 0.05
    resamples: int = 10_000
    seed: int = 0


@dataclass(frozen=True)
class Comparison:
    """One row against the best row of one column."""

    p: float  # two-sided p-value of the sign-flip test
    p_holm: float  # Holm-adjusted over the rows tested in this column
    different: bool  # p_holm < alpha: the row differs significantly from the best
    reference: str  # label of the best row it was compared with


def sign_flip_pvalues(diffs: np.ndarray, *, resamples: int, seed: int = 0) -> np.ndarray:
    """Two-sided p-values of the paired approximate randomisation test, one per column of ``diffs``.

    Every column is tested with the same random signs (each test stays exact; the columns are simply not
    independent), and queries whose difference is zero in every column are dropped first: they add zero
    to every flipped total. ``p = (1 + #{|T_b| >= |T_obs|}) / (1 + resamples)``, the standard
    Monte-Carlo p-value that is never 0; identical predictions give ``T_obs = 0`` and ``p = 1``.

    Args:
        diffs: (n_queries, m) per-query differences (best row minus compared row).
        resamples: number of random sign vectors.
        seed: RNG seed; equal inputs give equal p-values on every machine.
    """
    diffs = np.asarray(diffs, dtype=np.float64)
    if diffs.ndim != 2:
        raise ValueError(f"diffs must be (n_queries, m), got shape {diffs.shape}")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    diffs = diffs[np.any(diffs != 0, axis=1)]
    n, m = diffs.shape
    observed = np.abs(diffs.sum(axis=0))
    # Flipped totals equal to the observed one (common with 0/1 hits) must count; float summation order
    # differs between the two, so "equal" gets a tolerance far below any real difference.
    tolerance = 1e-9 * np.abs(diffs).sum(axis=0)
    total = diffs.sum(axis=0)
    rng = np.random.default_rng(seed)
    exceed = np.zeros(m, dtype=np.int64)
    for start in range(0, resamples, _RESAMPLE_BLOCK):
        rows = min(_RESAMPLE_BLOCK, resamples - start)
        # sum(s_i d_i) with s_i = 1 - 2 b_i, b_i a random bit: total - 2 * (bits @ d). Bits come packed
        # eight to a byte, so the generator does 1/8 of the work of drawing signs one by one.
        flipped = np.zeros((rows, m))
        for q0 in range(0, n, _QUERY_BLOCK):
            q = min(_QUERY_BLOCK, n - q0)
            packed = rng.integers(0, 256, size=(rows, (q + 7) // 8), dtype=np.uint8)
            bits = np.unpackbits(packed, axis=1, count=q).astype(np.float64)
            flipped += bits @ diffs[q0 : q0 + q]
        exceed += (np.abs(total - 2.0 * flipped) >= observed - tolerance).sum(axis=0)
    return (1.0 + exceed) / (1.0 + resamples)


def holm(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values: reject where ``adjusted < alpha`` controls the family-wise error."""
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.shape[0]
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


@dataclass
class _RowValues:
    """The seed-averaged per-query values of one row, per metric; absent metrics are not stored."""

    values: dict[str, tuple[np.ndarray, np.ndarray | None]]
    n_queries: int


def compare_with_best(
    table: Table,
    columns: Sequence[Column],
    loader: PerQueryLoader,
    settings: SignificanceSettings,
    warnings: list[str],
) -> list[Row]:
    """Compare each comparable row with the best row of every accuracy column; fill ``row.significance``.

    Only unflagged rows take part: they share dataset sha256, split hash and metrics version, so their
    test queries are the same rows in the same order (``n_queries`` and the PSP denominators are checked
    again, in case a record lies). With several seeds, each query's value is the mean over the row's seeds.

    Returns:
        The comparable rows that could not be tested because a cell lacks per-query values.
    """
    accuracy = [c for c in columns if c.kind == "accuracy"]
    rows = [(i, row) for i, row in enumerate(table.rows) if not row.flagged]
    loaded: dict[int, _RowValues] = {}
    missing: list[Row] = []
    for i, row in rows:
        values = _row_values(row, [c.key for c in accuracy], loader, warnings, f"{table.suite}/{table.dataset}")
        if values is None:
            missing.append(row)
        else:
            loaded[i] = values

    plan: list[tuple[int, str, int]] = []  # (row index, column key, best row index)
    diffs: list[np.ndarray] = []
    for col in accuracy:
        bold = sorted(table.best.get(col.key, ()))
        if not bold:
            continue  # fewer than two comparable rows: no comparison
        # Among rows tied at display precision, the best unrounded mean is the reference (bold rows are not
        # tested: they are the best).
        ref = max(bold, key=lambda i: table.rows[i].stats[col.key].mean)
        if ref not in loaded or col.key not in loaded[ref].values:
            continue  # a best row without values: nothing in this column can be tested honestly
        ref_values, ref_den = loaded[ref].values[col.key]
        for i, _row in rows:
            if i in table.best[col.key] or i not in loaded or col.key not in loaded[i].values:
                continue
            values, den = loaded[i].values[col.key]
            if values.shape != ref_values.shape or not _same_den(den, ref_den):
                warnings.append(
                    f"{table.suite}/{table.dataset}: {table.rows[i].label} and {table.rows[ref].label} do not share "
                    f"the test queries of {col.label} (count or normaliser differs); not tested"
                )
                continue
            plan.append((i, col.key, ref))
            diffs.append(ref_values - values)
    if not plan:
        return missing
    pvalues = sign_flip_pvalues(np.stack(diffs, axis=1), resamples=settings.resamples, seed=settings.seed)
    for col in accuracy:
        members = [j for j, (_, key, _) in enumerate(plan) if key == col.key]
        adjusted = holm(pvalues[members])
        for j, p_adj in zip(members, adjusted, strict=True):
            i, _, ref = plan[j]
            table.rows[i].significance[col.key] = Comparison(
                p=float(pvalues[j]),
                p_holm=float(p_adj),
                different=bool(p_adj < settings.alpha),
                reference=table.rows[ref].label,
            )
    return missing


def _row_values(
    row: Row, metrics: Sequence[str], loader: PerQueryLoader, warnings: list[str], where: str
) -> _RowValues | None:
    from harness.metrics.per_query import query_values

    per_seed = []
    for rec in row.records:
        pq = loader(rec)
        if pq is None:
            return None
        if pq.cell_key != rec.get("cell_key") or pq.dataset_sha256 != (rec.get("dataset") or {}).get("sha256"):
            warnings.append(f"{where}: {row.label} seed {rec['seed']}: per_query.npz belongs to another cell; ignored")
            return None
        per_seed.append(pq)
    if not per_seed or len({pq.n_queries for pq in per_seed}) != 1:
        return None
    out: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    for key in metrics:
        try:
            seeds = [query_values(pq, key) for pq in per_seed]
        except (KeyError, ValueError):
            continue  # e.g. nDCG@10 of a k=5 cell: that column is not tested for this row
        den = seeds[0][1]
        if all(_same_den(d, den) for _, d in seeds):
            out[key] = (np.mean([v for v, _ in seeds], axis=0), den)
    return _RowValues(values=out, n_queries=per_seed[0].n_queries)


def _same_den(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """Equal shared denominators (float32 on disk, so a relative tolerance), or both absent."""
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-5, atol=1e-6))
