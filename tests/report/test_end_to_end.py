"""A real ``harness run`` writes per_query.npz beside topk.npz, and ``harness report`` tests with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.metrics.per_query import PER_QUERY_FILE, aggregate, load_per_query
from harness.report import SignificanceSettings, load_report, render
from harness.results import load_records
from tests.runner.conftest import harness_run, write_suite


def test_cells_write_per_query_values_that_match_their_metrics(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    suite = write_suite(tmp_path, "sig", models={"test-ok": {}, "knn": {}})
    done = harness_run("--suite", str(suite), "--no-mlflow", "--runs-dir", str(runs), timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    for path in sorted(runs.rglob("result.json")):
        rec = next(r for r in load_records(path.parent))
        pq = load_per_query(path.parent / PER_QUERY_FILE)
        assert pq is not None and pq.cell_key == rec["cell_key"] and pq.k == rec["k"]
        assert pq.n_queries == rec["dataset"]["n_test"]
        for key, value in aggregate(pq.values).items():
            assert value == pytest.approx(rec["metrics"][key], rel=1e-5, abs=1e-7), key
    report = load_report(runs, significance=SignificanceSettings(resamples=2000))
    assert report.n_comparisons > 0
    text = render(report, "md")
    assert "random sign flips" in text and "No significance marks" not in text
