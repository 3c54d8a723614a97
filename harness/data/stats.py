"""Dataset statistics as the Extreme Classification Repository tabulates them, plus a leakage check.

Usage::

    from harness.data import load_dataset
    from harness.data.stats import dataset_stats, format_stats
    stats = dataset_stats(load_dataset("wordnet-nouns"))
    stats["avg_labels_per_point"], stats["test_titles_in_train"]
    print(format_stats(stats))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import scipy.sparse as sp

    from harness.data.dataset import XMCDataset

#: Labels with at most this many training points count as "tail" (XC papers' few-shot threshold).
TAIL_MAX_POINTS = 5


def _side(Y: sp.csr_matrix, num_labels: int, prefix: str) -> dict[str, Any]:
    n = Y.shape[0]
    per_label = np.bincount(Y.indices, minlength=num_labels)
    carried = int(np.count_nonzero(per_label))
    return {
        f"{prefix}_points": n,
        f"{prefix}_nnz": int(Y.nnz),
        f"{prefix}_avg_labels_per_point": Y.nnz / n if n else 0.0,
        f"{prefix}_avg_points_per_label": Y.nnz / num_labels if num_labels else 0.0,
        f"{prefix}_avg_points_per_carried_label": Y.nnz / carried if carried else 0.0,
        f"{prefix}_empty_rows": int(np.count_nonzero(np.diff(Y.indptr) == 0)),
        f"{prefix}_labels_without_point": num_labels - carried,
    }, per_label


def _mean_words(texts: list[str] | None) -> float | None:
    return float(np.mean([len(t.split()) for t in texts])) if texts else None


def _normalise(text: str) -> str:
    return " ".join(text.casefold().split())


def dataset_stats(ds: XMCDataset) -> dict[str, Any]:
    """Compute the XC-repository statistics of ``ds`` and checks that matter for honest evaluation.

    Conventions, stated because papers differ: ``avg_points_per_label`` is ``nnz(Y_trn) / L`` (the XC
    table's), ``train_avg_points_per_carried_label`` divides by labels with at least one training point.
    ``test_titles_in_train`` counts test points whose exact title also occurs in train (MTEB's
    samples-in-train check); ``_normalised`` compares case-folded, whitespace-collapsed titles.

    Returns:
        A flat JSON-serialisable dict.
    """
    L = ds.num_labels
    train, per_label = _side(ds.train.Y, L, "train")
    test, _ = _side(ds.test.Y, L, "test")
    out: dict[str, Any] = {
        "name": ds.name,
        "layout": ds.layout,
        "train_points": len(ds.train),
        "test_points": len(ds.test),
        "labels": L,
        "features": ds.num_features,
        "avg_labels_per_point": train["train_avg_labels_per_point"],
        "avg_points_per_label": train["train_avg_points_per_label"],
        **{k: v for k, v in train.items() if k != "train_points"},
        **{k: v for k, v in test.items() if k != "test_points"},
        "tail_labels_pct": 100.0 * np.count_nonzero(per_label <= TAIL_MAX_POINTS) / L if L else 0.0,
        "label_texts": len(ds.label_texts) if ds.label_texts is not None else None,
        "A": ds.A,
        "B": ds.B,
        "filter_test_pairs": None if ds.filter_test is None else len(ds.filter_test),
        "filter_train_pairs": None if ds.filter_train is None else len(ds.filter_train),
        "train_mean_title_words": _mean_words(ds.train.texts),
        "test_mean_title_words": _mean_words(ds.test.texts),
        "test_titles_in_train": None,
        "test_titles_in_train_normalised": None,
        "sha256": ds.sha256,
    }
    if ds.train.texts is not None and ds.test.texts is not None:
        seen = set(ds.train.texts)
        seen_norm = {_normalise(t) for t in ds.train.texts}
        out["test_titles_in_train"] = sum(t in seen for t in ds.test.texts)
        out["test_titles_in_train_normalised"] = sum(_normalise(t) in seen_norm for t in ds.test.texts)
    return out


#: (key, label) rows of the printed table, in XC-repository order first.
_ROWS = (
    ("train_points", "train points N"),
    ("test_points", "test points"),
    ("labels", "labels L"),
    ("features", "BoW features"),
    ("avg_labels_per_point", "avg labels/point (train nnz / N)"),
    ("avg_points_per_label", "avg points/label (train nnz / L)"),
    ("train_avg_points_per_carried_label", "avg points/label (over labels with >=1 train point)"),
    ("test_avg_labels_per_point", "test avg labels/point"),
    ("test_avg_points_per_label", "test avg points/label (test nnz / L)"),
    ("train_empty_rows", "train points without labels"),
    ("test_empty_rows", "test points without labels"),
    ("train_labels_without_point", "labels with no training point"),
    ("tail_labels_pct", f"% labels with <= {TAIL_MAX_POINTS} training points"),
    ("label_texts", "label texts"),
    ("train_mean_title_words", "mean train title length (words)"),
    ("test_mean_title_words", "mean test title length (words)"),
    ("test_titles_in_train", "test titles also in train (exact)"),
    ("test_titles_in_train_normalised", "test titles also in train (case/space-normalised)"),
    ("filter_test_pairs", "filter pairs (test)"),
    ("filter_train_pairs", "filter pairs (train)"),
    ("A", "propensity A"),
    ("B", "propensity B"),
    ("sha256", "dataset sha256"),
)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def format_stats(stats: dict[str, Any], tablefmt: str = "simple") -> str:
    """Render :func:`dataset_stats` output as a two-column table (rows with no value are shown as "-")."""
    from tabulate import tabulate  # only the CLI renders tables; keep `import harness.data` light

    rows = [(label, _fmt(stats.get(key))) for key, label in _ROWS]
    return f"{stats['name']} ({stats['layout']} layout)\n" + tabulate(
        rows, headers=("statistic", "value"), tablefmt=tablefmt, colalign=("left", "right")
    )
