"""``harness report``: the rendered Markdown is pinned by a snapshot; CSV, LaTeX, plot and errors by assertions.

Refresh the snapshot after an intended change with ``HARNESS_UPDATE_SNAPSHOTS=1 pytest tests/report`` and
review the diff of ``tests/report/snapshots/standard.md``.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.errors import HarnessError
from harness.report import build_report, load_report, render
from tests.fixtures_results import SMOKE_DEVIATION, make_record, standard_records, write_cell, write_standard_runs

SNAPSHOT = Path(__file__).parent / "snapshots" / "standard.md"
COMMAND = "harness report --suite smoke"


def test_markdown_matches_the_snapshot() -> None:
    text = render(build_report(standard_records()), "md", command=COMMAND)
    if os.environ.get("HARNESS_UPDATE_SNAPSHOTS"):
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(text, encoding="utf-8")
    assert text == SNAPSHOT.read_text(encoding="utf-8")


def _row(text: str, startswith: str, section: str = "## wordnet-nouns") -> list[str]:
    lines = text.split(section, 1)[1].splitlines()
    line = next(ln for ln in lines if ln.startswith(startswith))
    return [c.strip() for c in line.strip("|").split("|")]


def test_markdown_content() -> None:
    text = render(build_report(standard_records()), "md", command=COMMAND)
    assert f"- Command: `{COMMAND}`" in text
    assert "AMD EPYC 7B13 (2 cores), no GPU, 2 torch threads" in text
    # mean ± sample std over three seeds, in percent
    inc = _row(text, "| inceptionxml [1] |")
    assert inc[1] == "3" and inc[2] == "42.83 ± 0.70"
    # best P@1 among comparable rows is syncxml; the flagged 50.00 row is not a candidate
    sync = _row(text, "| syncxml |")
    assert sync[2] == "**43.95 ± 0.21**"
    flagged = _row(text, "| inceptionxml ⚠ [1,2] |")
    assert flagged[1] == "1" and flagged[2] == "50.00"
    # cost columns: lowest is best; n/a MACs for a non-neural model
    knn = _row(text, "| knn |")
    assert knn[8] == "n/a" and knn[11] == "**0.41 ± 0.01**"
    assert f"1. {SMOKE_DEVIATION}" in text
    assert "2. ⚠ not comparable" in text and "split hash split-bbbbbb (others split-aaaaaa)" in text
    assert "> **Warning:**" in text
    assert "- syncxml, seed 2: `OutOfMemory` (cell `" in text


def test_mixed_metrics_version_is_never_averaged() -> None:
    recs = [
        make_record(seed=0, p1=0.40),
        make_record(seed=1, p1=0.42),
        make_record(seed=2, p1=0.9, metrics_version="0"),
    ]
    report = build_report(recs)
    rows = report.tables[0].rows
    assert [len(r.records) for r in rows] == [2, 1] and rows[1].flagged
    assert rows[0].stats["p@1"].mean == pytest.approx(0.41)
    assert "metrics version 0 (others 1)" in report.warnings[0]


def test_a_different_config_of_one_model_is_its_own_row_but_comparable() -> None:
    recs = [make_record(seed=0), make_record(seed=0, config={"lr": 0.1}, p1=0.5)]
    rows = build_report(recs).tables[0].rows
    assert len(rows) == 2 and not any(r.flagged for r in rows)
    assert all(r.label.startswith("inceptionxml (config ") for r in rows)


def test_a_seed_recorded_twice_counts_once() -> None:
    recs = [make_record(seed=0, p1=0.3, finished_at="2026-01-01T00:00:00+00:00"), make_record(seed=0, p1=0.4)]
    recs[0]["cell_key"] = "0" * 64  # e.g. a cell key scheme change: two folders, one seed
    report = build_report(recs)
    row = report.tables[0].rows[0]
    assert len(row.records) == 1 and row.stats["p@1"].mean == pytest.approx(0.4)
    assert any("more than one result" in w for w in report.warnings)


def test_csv_has_raw_means_and_stds() -> None:
    rows = list(csv.DictReader(io.StringIO(render(build_report(standard_records()), "csv"))))
    assert len(rows) == 6
    inc = next(
        r
        for r in rows
        if r["model"] == "inceptionxml" and r["dataset"] == "wordnet-nouns" and r["comparable"] == "True"
    )
    assert float(inc["p@1_mean"]) == pytest.approx((0.4210 + 0.4350 + 0.4290) / 3)
    assert float(inc["p@1_std"]) == pytest.approx(0.007023769, rel=1e-6)
    assert inc["seeds"] == "0 1 2" and inc["split_hash"] == "split-aaaaaaaaaaaa"
    knn = next(r for r in rows if r["model"] == "knn" and r["dataset"] == "wordnet-nouns")
    assert knn["flops_per_query_mean"] == "" and knn["n_failed"] == "0"
    sync = next(r for r in rows if r["model"] == "syncxml")
    assert sync["n_failed"] == "1"


def test_latex_is_escaped_booktabs_with_bold_and_pm() -> None:
    recs = standard_records() + [make_record(model="my_model", seed=0, p1=0.2, config={"x": 1})]
    text = render(build_report(recs, metrics=["p@1", "psp@5"]), "latex", command=COMMAND)
    assert text.count(r"\begin{tabular}") == 2 and r"\toprule" in text and r"\bottomrule" in text
    assert r"my\_model" in text and r"\textbf{43.95 $\pm$ 0.21}" in text
    assert r"accuracy in \%" in text and r"\textsuperscript{1}~trained" in text
    assert "Model & $n$ & P@1 & PSP@5 & MACs/query" in text


def test_metric_selection_accepts_mlflow_spelling_and_rejects_typos() -> None:
    report = build_report(standard_records(), metrics=["p_at_1", "ndcg@5"])
    assert [c.label for c in report.columns[:2]] == ["P@1", "nDCG@5"]
    with pytest.raises(HarnessError, match="unknown metric 'p@7'"):
        build_report(standard_records(), metrics=["p@7"])


def test_suite_filter_and_errors(tmp_path: Path) -> None:
    write_standard_runs(tmp_path / "runs")
    write_cell(tmp_path / "runs", make_record(suite="short-text", p1=0.7))
    report = load_report(tmp_path / "runs", suite="short-text")
    assert [t.suite for t in report.tables] == ["short-text"]
    both = render(load_report(tmp_path / "runs"), "md")
    assert "## short-text / wordnet-nouns" in both and "## smoke / wordnet-nouns" in both
    with pytest.raises(HarnessError, match="no results for suite 'smok'.*Did you mean 'smoke'"):
        load_report(tmp_path / "runs", suite="smok")
    with pytest.raises(HarnessError, match="no such runs folder"):
        load_report(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarnessError, match="no result records"):
        load_report(tmp_path / "empty")


def test_cli_writes_table_and_plot_beside_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    runs = tmp_path / "runs"
    write_standard_runs(runs)
    out = tmp_path / "results" / "table.md"
    assert main(["report", "--runs-dir", str(runs), "--suite", "smoke", "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Benchmark results: suite `smoke`")
    assert f"- Command: `harness report --runs-dir {runs} --suite smoke --out {out}`" in text
    assert (tmp_path / "results" / "p1_vs_latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert capsys.readouterr().out == ""  # with --out nothing goes to stdout


def test_cli_stdout_formats_and_no_plot(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    runs = tmp_path / "runs"
    write_standard_runs(runs)
    assert main(["report", "--runs-dir", str(runs), "--format", "csv", "--metrics", "p@1,p@5"]) == 0
    assert capsys.readouterr().out.startswith("suite,dataset,model,config,comparable,n_seeds,seeds,p@1_mean")
    assert main(["report", "--runs-dir", str(runs), "--out", str(tmp_path / "t.md"), "--no-plot"]) == 0
    assert not (tmp_path / "p1_vs_latency.png").exists()
    assert main(["report", "--runs-dir", str(runs), "--plot", str(tmp_path / "p.png")]) == 0
    assert capsys.readouterr().out.startswith("# Benchmark results")
    assert (tmp_path / "p.png").is_file()
    assert main(["report", "--runs-dir", str(runs), "--metrics", "p@9"]) == 2
    assert "unknown metric" in capsys.readouterr().err


def test_merged_suites_share_one_table_per_dataset_and_still_flag_other_splits() -> None:
    """A model run by its own suite (PECOS in its own environment) must sit beside the others, not apart."""
    recs = [
        make_record(suite="offline", model="inceptionxml"),
        make_record(suite="peers-pecos", model="pecos-xrlinear", flops=None),
        make_record(suite="peers-pecos", model="knn", flops=None, split_hash="split-bbbbbbbbbbbb"),
    ]
    apart = build_report(recs)
    assert [(t.suite, len(t.rows)) for t in apart.tables] == [("offline", 1), ("peers-pecos", 2)]
    merged = build_report(recs, merge_suites=True)
    assert len(merged.tables) == 1
    table = merged.tables[0]
    assert table.suite == "offline+peers-pecos"
    flagged = {r.model: r.flagged for r in table.rows}
    assert flagged == {"inceptionxml": False, "pecos-xrlinear": False, "knn": True}
    assert len(build_report(recs, suite="offline,peers-pecos").tables) == 2
    with pytest.raises(HarnessError, match="no results for suite 'nope'"):
        build_report(recs, suite="offline,nope")
