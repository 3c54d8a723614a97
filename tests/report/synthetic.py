"""Synthetic test splits and model predictions with *consistent* records and per-query values.

The report's paired test reads per-query values while the table shows the record's metrics; here both come
from the same predictions through the real metric code, so a test sees what a run would produce.

Usage::

    from tests.report.synthetic import Split, scenario
    split = Split.make(seed=0)
    rec, pq = split.cell(split.predict(quality=0.8, seed=1), model="good", seed=0)
    records, per_query = scenario()     # the significance snapshot's cells
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from harness.metrics import evaluate, inverse_propensity
from harness.metrics.per_query import PerQuery, per_query_values
from tests.fixtures_results import make_record

N_QUERIES = 400
N_LABELS = 60


@dataclass
class Split:
    """A test split: binary truth and train-label inverse propensities (head labels weigh little)."""

    truth: sp.csr_matrix
    inv_prop: np.ndarray

    @classmethod
    def make(cls, seed: int = 0, n: int = N_QUERIES, n_labels: int = N_LABELS) -> Split:
        rng = np.random.default_rng(seed)
        popularity = 1.0 / np.arange(1, n_labels + 1)  # Zipf: label 0 is the head
        popularity /= popularity.sum()
        rows = []
        for _ in range(n):
            size = int(rng.integers(1, 4))
            rows.append(np.sort(rng.choice(n_labels, size=size, replace=False, p=popularity)))
        indptr = np.cumsum([0] + [len(r) for r in rows])
        truth = sp.csr_matrix((np.ones(indptr[-1]), np.concatenate(rows), indptr), shape=(n, n_labels))
        train_rows = rng.choice(n_labels, size=20 * n, p=popularity)
        train = sp.csr_matrix((np.ones(20 * n), (np.arange(20 * n), train_rows)), shape=(20 * n, n_labels))
        return cls(truth=truth, inv_prop=inverse_propensity(train))

    def predict(self, quality: float, seed: int, k: int = 5) -> np.ndarray:
        """(n, k) rankings: a random ranking, with the row's true labels moved first in a ``quality`` share of rows."""
        rng = np.random.default_rng(seed)
        n, n_labels = self.truth.shape
        top = np.empty((n, k), dtype=np.int64)
        for i in range(n):
            order = rng.permutation(n_labels)
            if rng.random() < quality:
                true = self.truth.indices[self.truth.indptr[i] : self.truth.indptr[i + 1]]
                order = np.concatenate([true, order[~np.isin(order, true)]])
            top[i] = order[:k]
        return top

    def cell(self, top: np.ndarray, **fields: Any) -> tuple[dict[str, Any], PerQuery]:
        """A record (``make_record`` plus the real metrics of ``top``) and its per-query values."""
        rec = make_record(**fields)
        rec["metrics"] = evaluate(top, self.truth, inv_prop=self.inv_prop, k=5)
        values = per_query_values(top, self.truth, inv_prop=self.inv_prop, k=5)
        pq = PerQuery(values=values, k=5, cell_key=rec["cell_key"], dataset_sha256=rec["dataset"]["sha256"])
        return rec, pq


def nearly(top: np.ndarray, rows: int) -> np.ndarray:
    """``top`` with the rankings of its first ``rows`` rows rotated by one: a few queries differ, no more."""
    out = top.copy()
    out[:rows] = np.roll(out[:rows], 1, axis=1)
    return out


def scenario() -> tuple[list[dict[str, Any]], dict[str, PerQuery]]:
    """One dataset: a best model (3 seeds), a near-copy of it, a clearly worse one (not converged on one seed),
    an old cell without per-query values, and a flagged row of another split."""
    split = Split.make(seed=0)
    records: list[dict[str, Any]] = []
    per_query: dict[str, PerQuery] = {}

    def add(top: np.ndarray, **fields: Any) -> dict[str, Any]:
        rec, pq = split.cell(top, dataset="synth-400", **fields)
        records.append(rec)
        per_query[rec["cell_key"]] = pq
        return rec

    best = [split.predict(0.8, seed=s) for s in range(3)]
    for seed, top in enumerate(best):
        add(top, model="best-model", seed=seed, config={"m": "best"})
    add(nearly(best[0], rows=4), model="near-copy", config={"m": "near"})
    for seed in range(2):
        rec = add(split.predict(0.4, seed=10 + seed), model="weak-model", seed=seed, config={"m": "weak"})
        converged = seed == 1
        rec["fit"].update(
            epochs_run=7 if not converged else 12,
            best_epoch=7 if not converged else 9,
            stop_reason="time_budget" if not converged else "plateau",
            converged=converged,
        )
    old = add(split.predict(0.5, seed=20), model="old-cell", config={"m": "old"})
    del per_query[old["cell_key"]]  # written before per_query.npz existed
    add(split.predict(0.9, seed=30), model="other-split", split_hash="split-zzzzzzzzzzzz", config={"m": "o"})
    return records, per_query
