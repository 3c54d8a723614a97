"""Record -> MLflow mapping: keys without '@', safe truncation, flattened params, seed aggregates."""

from __future__ import annotations

import math

import pytest

from harness.tracking.base import Tracker, new_invocation_id
from harness.tracking.mapping import (
    MAX_PARAM_VALUE,
    cell_metrics,
    cell_params,
    cell_tags,
    metric_key,
    parent_metrics,
    truncate,
)
from harness.tracking.null import NullTracker
from tests.fixtures_results import make_record


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("p@1", "p_at_1"),
        ("psndcg@5", "psndcg_at_5"),
        ("wordnet-nouns/p@1_mean", "wordnet-nouns/p_at_1_mean"),
        ("a:b(c)", "a_b_c_"),
    ],
)
def test_metric_key_is_mlflow_safe(name: str, key: str) -> None:
    assert metric_key(name) == key


def test_truncate_keeps_the_limit_and_says_so() -> None:
    text = "x" * 10_000
    cut = truncate(text, MAX_PARAM_VALUE)
    assert len(cut) == MAX_PARAM_VALUE
    assert cut.endswith("[truncated, 10000 chars in all]")
    assert truncate("short", 10) == "short"


def test_params_flatten_the_config_and_truncate_long_values() -> None:
    rec = make_record(config={"encoder": {"filters": [32, 64], "act": "relu"}, "vocab": list(range(3000))})
    params = cell_params(rec)
    assert params["encoder.filters"] == "[32, 64]"
    assert params["encoder.act"] == "relu"
    assert params["model"] == "inceptionxml" and params["seed"] == "0" and params["dataset"] == "wordnet-nouns"
    assert len(params["vocab"]) == MAX_PARAM_VALUE


def test_cell_metrics_use_at_free_keys_and_canonical_efficiency_names() -> None:
    metrics = cell_metrics(make_record(p1=0.5, latency_ms=2.0))
    assert metrics["p_at_1"] == 0.5 and "psp_at_5" in metrics and "ndcg_at_3" in metrics
    assert not any("@" in k for k in metrics)
    assert metrics["latency_ms_p50_bs1"] == 2.0
    assert metrics["flops_per_query"] == 1.25e6
    assert metrics["train_s"] == 30.0 and metrics["params_total"] == 2_345_678
    assert metrics["params_embedding"] > 0  # other parts of the params block, once each
    assert "params_total" in metrics and "params_params_total" not in metrics
    assert metrics["val/p_at_1"] == pytest.approx(0.51)
    assert "profiled" not in metrics  # booleans are not figures


def test_non_neural_model_has_no_flops_metric() -> None:
    assert "flops_per_query" not in cell_metrics(make_record(model="knn", flops=None))


def test_failed_cell_tags_carry_the_error() -> None:
    tags = cell_tags(make_record(seed=2, failed="OutOfMemory"), "run-x")
    assert tags["harness.status"] == "failed"
    assert tags["harness.error_type"] == "OutOfMemory"
    for key in (
        "harness.cell_key",
        "harness.git_sha",
        "harness.dataset_sha256",
        "harness.split_hash",
        "harness.version",
        "harness.metrics_version",
    ):
        assert tags[key]


def test_parent_metrics_average_seeds_per_dataset_and_over_the_suite() -> None:
    recs = [make_record(seed=s, p1=p) for s, p in ((0, 0.40), (1, 0.42), (2, 0.44))]
    recs += [make_record(dataset="other", dataset_sha="d2", seed=s, p1=p) for s, p in ((0, 0.60), (1, 0.62))]
    recs.append(make_record(seed=3, failed="RuntimeError"))
    out, warnings = parent_metrics(recs)
    assert warnings == []
    assert out["wordnet-nouns/p_at_1_mean"] == pytest.approx(0.42)
    assert out["wordnet-nouns/p_at_1_std"] == pytest.approx(0.02)
    assert out["wordnet-nouns/n_seeds"] == 3 and out["other/n_seeds"] == 2
    # Suite level: only seeds 0 and 1 have both datasets; per seed the mean over datasets.
    assert out["n_seeds"] == 2
    assert out["p_at_1_mean"] == pytest.approx(((0.40 + 0.60) / 2 + (0.42 + 0.62) / 2) / 2)
    assert math.isfinite(out["p_at_1_std"])


def test_parent_metrics_never_pool_different_splits() -> None:
    recs = [make_record(seed=s, p1=0.4) for s in (0, 1)] + [make_record(seed=2, p1=0.9, split_hash="other")]
    out, warnings = parent_metrics(recs)
    assert out["wordnet-nouns/p_at_1_mean"] == pytest.approx(0.4)
    assert out["wordnet-nouns/n_seeds"] == 2
    assert warnings and "wordnet-nouns" in warnings[0]


def test_single_seed_logs_no_std() -> None:
    out, _ = parent_metrics([make_record()])
    assert "p_at_1_mean" in out and "p_at_1_std" not in out


def test_null_tracker_is_a_tracker() -> None:
    tracker = NullTracker()
    assert isinstance(tracker, Tracker)
    tracker.log_cell(make_record(), None, new_invocation_id())  # type: ignore[arg-type]
    tracker.close_invocation("x")
    assert not tracker.failed and tracker.uri is None


def test_invocation_ids_are_unique_and_sortable() -> None:
    a, b = new_invocation_id(), new_invocation_id("sync")
    assert a != b and a.startswith("run-2") and b.startswith("sync-2")
