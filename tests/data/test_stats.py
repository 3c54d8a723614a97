"""Statistics as the XC repository tabulates them, computed on a dataset small enough to check by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.data import dataset_stats, format_stats, load_dataset


def test_stats_by_hand(json_dir: Path) -> None:
    # train labels [[0,1],[1],[2],[]]; test [[0],[3],[2,3]]; 4 labels
    s = dataset_stats(load_dataset(json_dir))
    assert (s["train_points"], s["test_points"], s["labels"], s["features"]) == (4, 3, 4, None)
    assert s["avg_labels_per_point"] == pytest.approx(4 / 4)
    assert s["avg_points_per_label"] == pytest.approx(4 / 4)
    assert s["train_avg_points_per_carried_label"] == pytest.approx(4 / 3)
    assert s["test_avg_labels_per_point"] == pytest.approx(4 / 3)
    assert s["test_avg_points_per_label"] == pytest.approx(4 / 4)
    assert (s["train_empty_rows"], s["test_empty_rows"]) == (1, 0)
    assert s["train_labels_without_point"] == 1 and s["tail_labels_pct"] == 100.0
    assert s["train_mean_title_words"] == pytest.approx(2.0)
    assert s["test_mean_title_words"] == pytest.approx(2.0)
    # "red apple" leaks exactly; "deep  sea" matches "Deep Sea" only after case/space normalisation
    assert (s["test_titles_in_train"], s["test_titles_in_train_normalised"]) == (1, 2)
    assert s["filter_test_pairs"] == 2 and s["label_texts"] == 4


def test_format_stats_table(json_dir: Path) -> None:
    table = format_stats(dataset_stats(load_dataset(json_dir)))
    assert table.startswith("tiny-lf (json layout)")
    assert "avg points/label (train nnz / L)" in table and "test titles also in train (exact)" in table


def test_stats_without_texts(sparse_dir: Path) -> None:
    s = dataset_stats(load_dataset(sparse_dir))
    assert s["features"] == 3 and s["test_titles_in_train"] is None and s["train_mean_title_words"] is None
