"""The paired sign-flip test and Holm's correction, then the marks they put into the report."""

from __future__ import annotations

import csv
import io
import itertools
import os
from pathlib import Path

import numpy as np
import pytest

from harness.cli.main import main
from harness.cli.report import DEFAULT_ALPHA, DEFAULT_RESAMPLES
from harness.errors import HarnessError
from harness.metrics.per_query import PER_QUERY_FILE, PerQuery, save_per_query
from harness.report import SignificanceSettings, build_report, load_report, render
from harness.report.significance import holm, sign_flip_pvalues
from tests.fixtures_results import write_cell
from tests.report.synthetic import Split, scenario

SNAPSHOT = Path(__file__).parent / "snapshots" / "significance.md"


# The test itself ------------------------------------------------------------------------------------------


def test_identical_predictions_are_never_significant() -> None:
    p = sign_flip_pvalues(np.zeros((500, 3)), resamples=2000)
    assert p.tolist() == [1.0, 1.0, 1.0]


def test_a_clearly_better_model_is_significant_at_the_smallest_attainable_p() -> None:
    rng = np.random.default_rng(0)
    diffs = (rng.random((400, 1)) < 0.3).astype(float)  # the best row wins 30% of queries, never loses
    assert sign_flip_pvalues(diffs, resamples=999)[0] == pytest.approx(1 / 1000)


def test_monte_carlo_p_matches_the_exact_permutation_p_value_ties_included() -> None:
    """Small n: all 2^n sign vectors can be enumerated; ties (|T| equal to the observed) must count."""
    diffs = np.array([1.0, 1.0, 1.0, -1.0, 1.0, 0.0, 1.0, 0.5, -0.5, 1.0])
    observed = abs(diffs.sum())
    flips = np.array(list(itertools.product([1.0, -1.0], repeat=diffs.size)))
    exact = float(np.mean(np.abs(flips @ diffs) >= observed - 1e-12))
    got = sign_flip_pvalues(diffs[:, None], resamples=40_000, seed=3)[0]
    assert got == pytest.approx(exact, abs=0.01)
    assert 0.05 < exact < 0.2  # a case where counting or dropping the ties would matter


def test_reproducible_with_a_fixed_seed_and_blocked_consistently() -> None:
    rng = np.random.default_rng(1)
    diffs = rng.normal(0.02, 1.0, size=(5000, 4))
    a = sign_flip_pvalues(diffs, resamples=3000, seed=0)
    assert np.array_equal(a, sign_flip_pvalues(diffs, resamples=3000, seed=0))
    assert not np.array_equal(a, sign_flip_pvalues(diffs, resamples=3000, seed=1))
    # each column alone gives the same p as in the stack (signs are shared, columns do not interact)
    assert sign_flip_pvalues(diffs[:, [2]], resamples=3000, seed=0)[0] == pytest.approx(a[2], abs=0.03)


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="resamples"):
        sign_flip_pvalues(np.ones((3, 1)), resamples=0)
    with pytest.raises(ValueError, match="shape"):
        sign_flip_pvalues(np.ones(3), resamples=10)


def test_holm_step_down() -> None:
    # sorted 0.01, 0.03, 0.04 -> 3*0.01, max(0.03, 2*0.03), max(0.06, 1*0.04): back in input order
    assert holm([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]).tolist() == [1.0, 1.0]  # monotone: a larger raw p never gets a smaller adjusted one
    assert holm([]).shape == (0,)


# The marks in the report ---------------------------------------------------------------------------------


def scenario_report(**kwargs: object):  # noqa: ANN201 - a Report
    records, per_query = scenario()
    return build_report(records, per_query=lambda rec: per_query.get(rec["cell_key"]), **kwargs)


def by_model(report) -> dict:  # noqa: ANN001
    return {row.model: row for row in report.tables[0].rows}


def test_near_copy_is_a_tie_weak_model_differs_and_untested_rows_are_said_so() -> None:
    report = scenario_report()
    rows = by_model(report)
    assert report.n_comparisons > 0
    near, weak = rows["near-copy"].significance, rows["weak-model"].significance
    assert not near["p@1"].different and near["p@1"].reference == "best-model"
    for key in ("p@1", "p@5", "psp@1", "psp@5"):
        assert weak[key].different and weak[key].p_holm < 0.01
    # Holm over the two rows tested in a column: the adjusted p is at least the raw one
    assert near["p@1"].p_holm >= near["p@1"].p
    assert rows["other-split"].significance == {}  # flagged: a different split is never paired
    assert rows["old-cell"].significance == {}  # no per_query.npz ...
    assert any("no per-query values" in report.footnotes[n - 1] for n in rows["old-cell"].notes)  # ... and says so
    assert rows["best-model"].significance.get("p@1") is None  # the best is the reference, not tested


def test_psp_is_paired_on_numerators_with_the_shared_normaliser() -> None:
    """A model that finds the rare (high-weight) labels wins on PSP although it ties on P@1."""
    split = Split.make(seed=4)
    head = split.predict(0.6, seed=1)
    # Same hits at rank 1, but the row's rarest true label moved there (the head model ranks by label index,
    # and label 0 is the most frequent).
    tail = head.copy()
    y, w = split.truth, split.inv_prop
    for i in range(tail.shape[0]):
        true = y.indices[y.indptr[i] : y.indptr[i + 1]]
        rarest = true[np.argmax(w[true])]
        if tail[i, 0] in true and rarest in tail[i]:
            j = int(np.flatnonzero(tail[i] == rarest)[0])
            tail[i, [0, j]] = tail[i, [j, 0]]
    cells = [split.cell(head, model="head", config={"m": 1}), split.cell(tail, model="tail", config={"m": 2})]
    records = [rec for rec, _ in cells]
    stored = {rec["cell_key"]: pq for rec, pq in cells}
    rows = by_model(build_report(records, per_query=lambda r: stored[r["cell_key"]]))
    assert rows["head"].stats["p@1"].mean == pytest.approx(rows["tail"].stats["p@1"].mean)
    assert rows["head"].significance["psp@1"].different  # tail is best on PSP@1, head significantly worse
    assert "psp@1" not in rows["tail"].significance


def test_different_normalisers_are_not_paired() -> None:
    """Same sha256 on the records but different test labels underneath: a lie the test must not trust."""
    a, b = Split.make(seed=0), Split.make(seed=1)
    rec_a, pq_a = a.cell(a.predict(0.8, seed=0), model="a", config={"m": 1})
    rec_b, pq_b = b.cell(b.predict(0.2, seed=0), model="b", config={"m": 2})
    stored = {rec_a["cell_key"]: pq_a, rec_b["cell_key"]: pq_b}
    report = build_report([rec_a, rec_b], per_query=lambda r: stored[r["cell_key"]], metrics=["psp@1"])
    assert by_model(report)["b"].significance == {}
    assert any("do not share the test queries" in w for w in report.warnings)


def test_several_seeds_are_averaged_per_query() -> None:
    records, per_query = scenario()
    best = [r for r in records if r["model"] == "best-model"]
    values = np.mean([per_query[r["cell_key"]].values["p"][:, 0] for r in best], axis=0)
    assert float(values.mean()) == pytest.approx(by_model(scenario_report())["best-model"].stats["p@1"].mean)


def test_off_and_no_values_say_so_in_the_legend() -> None:
    records, _ = scenario()
    off = render(scenario_report(significance=None), "md")
    assert "No significance test was run" in off and " ≈ |" not in off
    none = build_report(records)
    assert none.n_comparisons == 0 and "No significance marks" in render(none, "md")
    assert not any("no per-query values" in note for note in none.footnotes)  # not one footnote per row


def test_markdown_matches_the_significance_snapshot() -> None:
    text = render(scenario_report(), "md", command="harness report")
    if os.environ.get("HARNESS_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(text, encoding="utf-8")
    assert text == SNAPSHOT.read_text(encoding="utf-8")


def test_markdown_marks() -> None:
    text = render(scenario_report(), "md")
    near = next(line for line in text.splitlines() if line.startswith("| near-copy |"))
    assert "82.00 ≈" in near
    weak = next(line for line in text.splitlines() if line.startswith("| weak-model"))
    assert "≈" not in weak and "*(not converged: time budget)*" in weak
    assert "Holm-corrected" in text and "10,000 random sign flips" in text and "α = 0.05" in text


def test_csv_columns() -> None:
    rows = {r["model"]: r for r in csv.DictReader(io.StringIO(render(scenario_report(), "csv")))}
    assert rows["best-model"]["p@1_vs_best"] == "best" and rows["best-model"]["p@1_p_holm"] == ""
    assert rows["near-copy"]["p@1_vs_best"] == "not significant" and float(rows["near-copy"]["p@1_p_holm"]) > 0.05
    assert rows["weak-model"]["psp@5_vs_best"] == "significant"
    assert rows["old-cell"]["p@1_vs_best"] == "" and rows["other-split"]["p@1_vs_best"] == ""
    assert rows["weak-model"]["converged"] == "False" and rows["weak-model"]["stop_reasons"] == "time_budget plateau"
    assert rows["best-model"]["converged"] == "" and rows["best-model"]["stop_reasons"] == ""


def test_latex_marks() -> None:
    text = render(scenario_report(), "latex")
    near = next(line for line in text.splitlines() if line.startswith("near-copy"))
    assert r"82.00$^{\approx}$" in near
    assert r"weak-model \textit{(not converged: time budget)}" in text
    assert r"$\approx$: not significantly different" in text and r"per\_query.npz" in text


# From disk and the command line --------------------------------------------------------------------------


def write_scenario(runs: Path) -> dict[str, Path]:
    records, per_query = scenario()
    dirs = {}
    for rec in records:
        folder = write_cell(runs, rec)
        dirs[rec["model"] + str(rec["seed"])] = folder
        pq = per_query.get(rec["cell_key"])
        if pq is not None:
            save_per_query(folder / PER_QUERY_FILE, pq.values, cell_key=pq.cell_key, dataset_sha256=pq.dataset_sha256)
    return dirs


def test_load_report_reads_per_query_files_and_ignores_a_stranger(tmp_path: Path) -> None:
    dirs = write_scenario(tmp_path / "runs")
    report = load_report(tmp_path / "runs", significance=SignificanceSettings(resamples=500))
    assert not by_model(report)["near-copy"].significance["p@1"].different
    # A per_query.npz copied from another cell must not be paired as if it were this one's.
    stranger = PerQuery(values={"p": np.zeros((400, 5), np.float32)}, k=5, cell_key="0" * 64, dataset_sha256="x")
    save_per_query(dirs["near-copy0"] / PER_QUERY_FILE, stranger.values, cell_key="0" * 64, dataset_sha256="x")
    report = load_report(tmp_path / "runs", significance=SignificanceSettings(resamples=500))
    assert by_model(report)["near-copy"].significance == {}
    assert any("belongs to another cell" in w for w in report.warnings)


def test_cli_options(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert (SignificanceSettings.alpha, SignificanceSettings.resamples) == (DEFAULT_ALPHA, DEFAULT_RESAMPLES)
    runs = tmp_path / "runs"
    write_scenario(runs)
    assert main(["report", "--runs-dir", str(runs), "--resamples", "500", "--alpha", "0.1", "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert "500 random sign flips" in out and "α = 0.1" in out and "--resamples 500" in out
    assert main(["report", "--runs-dir", str(runs), "--resamples", "0"]) == 0
    assert "No significance test was run" in capsys.readouterr().out
    assert main(["report", "--runs-dir", str(runs), "--alpha", "1.5"]) == 2
    assert main(["report", "--runs-dir", str(runs), "--resamples", "10"]) == 2
    assert "too few" in capsys.readouterr().err


def test_cli_errors_are_harness_errors() -> None:
    from harness.cli.report import _significance

    with pytest.raises(HarnessError, match="--alpha"):
        _significance(0.0, 100)
    assert _significance(0.05, 0) is None
