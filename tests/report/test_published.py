"""Published reference numbers: the shipped table, the lookup rules, ``harness published`` and the report rows.

The spot values below were read in ``../shared/docs/published-results.md``; the ``shared`` test compares
every number of the shipped table with that note when it is present.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.errors import DataFormatError
from harness.published import default_table, load_table, lookup
from harness.published.compare import table_references
from harness.published.table import COLUMNS, DATA_FILE, SOURCES_FILE
from harness.report import build_report, render
from tests.conftest import SHARED_DIR
from tests.fixtures_results import make_record, standard_records, write_cell
from tests.runner.test_paper_profiles import SEVEN


def _row(dataset: str, label: str, source: str):
    return next(r for r in default_table().for_dataset(dataset) if r.label == label and r.source == source)


def test_the_shipped_table_loads_with_every_dataset_and_cited_source() -> None:
    table = default_table()
    assert table.datasets() == list(SEVEN)
    assert len(table.rows) == 209
    assert {k for r in table.rows for k in r.source_keys} == set(table.sources)


def test_spot_values_are_exactly_as_printed() -> None:
    inc = _row("AmazonTitles-670K", "InceptionXML", "XCR")
    assert (inc.mark, inc.values["p@1"], inc.values["psp@5"]) == ("♦", "42.45", "33.83")
    assert {"as-reported", "uncertain"} <= set(inc.flags)
    light = _row("AmazonTitles-670K", "LightXML (single model)", "RENEE T1 (official code run by Renee authors)")
    assert (light.values["p@1"], light.values["p@5"]) == ("41.7", "34.2")  # the source's one decimal, kept
    renee = _row("LF-AmazonTitles-131K", "Renee", "RENEE T2 (P@k); LEVER T1 (PSP)")
    assert renee.values["psp@1"] == "38.47" and _row("LF-AmazonTitles-131K", "Renee", "XCR").values["psp@1"] == "39.08"
    astec = _row("WikiTitles-500K", "Astec (single model)", "ASTEC T11; ASTEC T1 (TT)")
    assert (astec.values["psp@5"], astec.values["train_time_hr"]) == ("18.95", "4.45")
    ngame = _row("LF-WikiSeeAlsoTitles-320K", "NGAME", "OAK T3 (also N@5 33.21)")
    assert ngame.number("ndcg@5") == pytest.approx(33.21)
    assert _row("LF-AmazonTitles-131K", "DEXA", "XCR").values["model_size_gb"] == "-"  # XCR's own dash


def test_single_models_are_preferred_over_ensembles() -> None:
    astec = lookup("AmazonTitles-670K", "astec")
    assert astec.reference is not None and astec.reference.variant == "single"
    assert astec.reference.number("p@1") == pytest.approx(39.97)  # not Astec-3's 40.63 (the XCR row)
    xcr_astec = _row("AmazonTitles-670K", "Astec", "XCR")
    assert xcr_astec.variant == "ensemble-3"
    light = lookup("amazontitles-670k", "lightxml-minilm")
    assert light.reference is not None and light.reference.values["p@1"] == "41.7"  # not LightXML-3's 43.10
    assert "BERT" in light.message
    xrt = lookup("AmazonTitles-3M", "xr-transformer")
    assert xrt.reference is not None and xrt.reference.values["p@1"] == "48.72"


def test_an_ensemble_is_used_only_when_alone_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "published.csv"
    lines = DATA_FILE.read_text(encoding="utf-8").splitlines()
    keep = [ln for ln in lines if ln.startswith(("#", "dataset,")) or ln.startswith("AmazonTitles-670K,Astec,ensemble")]
    path.write_text("\n".join(keep) + "\n", encoding="utf-8")
    found = lookup("AmazonTitles-670K", "astec", load_table(path))
    assert found.reference is not None and found.reference.ensemble_size == 3
    assert "an ensemble" in found.message and "3-model ensemble" in found.reference.display_name


def test_models_without_a_number_say_so_plainly() -> None:
    with_inceptionxml = {"WikiSeeAlsoTitles-350K", "WikiTitles-500K", "AmazonTitles-670K"}
    for dataset in SEVEN:
        sync = lookup(dataset, "syncxml")
        if dataset in with_inceptionxml:  # the XCR row of unstated variant, with that doubt beside it
            assert sync.reference.method == "InceptionXML" and "is not stated" in sync.message  # type: ignore[union-attr]
        else:
            assert sync.message.startswith("no published number")
        assert lookup(dataset, "knn").reference is None
        assert lookup(dataset, "pecos-xrlinear").reference is None
    assert "not the same model" in lookup("AmazonTitles-670K", "lightxml").message
    assert "not scalable" in lookup("AmazonTitles-3M", "lightxml-minilm").message
    assert lookup("LF-AmazonTitles-131K", "inceptionxml").reference is None
    assert lookup("AmazonTitles-670K", "parabel").reference.number("p@1") == pytest.approx(38.00)  # type: ignore[union-attr]


def test_a_malformed_row_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "published.csv"
    lines = DATA_FILE.read_text(encoding="utf-8").splitlines()
    bad = next(i for i, ln in enumerate(lines) if ln.startswith("AmazonTitles-3M,Renee,"))
    lines[bad] = lines[bad].replace("51.81", "51x81", 1)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=rf"published.csv:{bad + 1}: p@1 '51x81' is not a number"):
        load_table(path, SOURCES_FILE)


def test_cli_lists_a_dataset_with_sources(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["published", "LF-AmazonTitles-131K"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Published results: LF-AmazonTitles-131K")
    assert "| Astec ‡ | unspecified | 37.12 | 25.20 | 18.24 | 29.22 | 34.64 | 39.49 | 3.24 | 1.83 | – | XCR |" in out
    assert "- inceptionxml: no published number" in out and "- syncxml: no published number" in out
    assert "- **XCR**: The Extreme Classification Repository" in out and "- **DEXA**: DEXA, KDD'23" in out
    assert "## AmazonTitles-670K" not in out


def test_cli_formats_aliases_and_methods(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["published", "amazontitles-670k", "--method", "lightxml-minilm", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert list(rows[0]) == list(COLUMNS)
    assert [r["variant"] for r in rows] == ["ensemble-3", "single", "single", "ensemble-3"]
    assert main(["published", "--method", "Astec", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {r["dataset"] for r in data["rows"]} == set(SEVEN) and "ASTEC" in data["sources"]


def test_cli_lists_all_seven_without_a_dataset(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["published", "--method", "syncxml"]) == 0
    out = capsys.readouterr().out
    assert all(f"## {d}" in out for d in SEVEN)
    assert out.count("syncxml: no published number") == 4  # the other three show the InceptionXML ♦ rows


def test_cli_unknown_dataset_or_method_suggests(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["published", "LF-AmazonTitle-131K"]) == 2
    assert "Did you mean 'LF-AmazonTitles-131K'" in capsys.readouterr().err
    assert main(["published", "wordnet-nouns"]) == 2
    assert "no published numbers for 'wordnet-nouns'" in capsys.readouterr().err
    assert main(["published", "--method", "inceptionxm"]) == 2
    assert "Did you mean 'inceptionxml'" in capsys.readouterr().err


def _cells(text: str, startswith: str) -> list[str]:
    line = next(ln for ln in text.splitlines() if ln.startswith(startswith))
    return [c.strip() for c in line.strip("|").split("|")]


def _670k_records() -> list[dict]:
    ds = {"dataset": "AmazonTitles-670K", "suite": "short-text"}
    recs = [make_record(model="inceptionxml", seed=s, p1=p, **ds) for s, p in ((0, 0.4400), (1, 0.4424))]
    recs.append(make_record(model="syncxml", p1=0.43, config={"sync": True}, **ds))
    return recs


def test_report_shows_the_reference_row_and_deltas() -> None:
    text = render(build_report(_670k_records()), "md")
    header = _cells(text, "| Model |")
    assert header[2:14] == ["P@1", "P@3", "P@5", "PSP@1", "PSP@3", "PSP@5"] + [
        f"Δ {m}" for m in ("P@1", "P@3", "P@5", "PSP@1", "PSP@3", "PSP@5")
    ]
    inc = _cells(text, "| inceptionxml |")
    assert inc[2] == "**44.12 ± 0.17**" and inc[3] == "**35.30 ± 0.14**"
    # ours − published in points: 44.12 − 42.45; P@3 = 0.8 x P@1 = 35.296 − 38.04; PSP@5 = 0.42 x P@1 = 18.53 − 33.83
    assert (inc[8], inc[9], inc[13]) == ("+1.67", "-2.74", "-15.30")
    ref = _cells(text, "| ↳ *InceptionXML (published, XCR ♦)* |")
    assert ref[1] == "" and ref[2:8] == ["42.45", "38.04", "34.68", "28.70", "31.48", "33.83"]
    assert not any("**" in c for c in ref)  # 38.04 beats every measured P@3 and is still not bold
    assert "- syncxml: InceptionXML, XCR ♦; the published row is labelled InceptionXML" in text
    assert "*Published* rows" in text


def test_report_csv_and_latex_carry_the_reference() -> None:
    report = build_report(_670k_records())
    rows = {r["model"]: r for r in csv.DictReader(io.StringIO(render(report, "csv")))}
    assert rows["inceptionxml"]["p@1_published"] == "42.45" and float(rows["inceptionxml"]["p@1_delta"]) == 1.67
    assert rows["syncxml"]["published_reference"].startswith("InceptionXML")
    latex = render(report, "latex")
    assert r"\textit{InceptionXML (published, XCR $\diamond$)}" in latex and r"$\Delta$ P@1" in latex


def test_a_dataset_without_references_is_unchanged() -> None:
    records = standard_records()
    for fmt in ("md", "csv", "latex"):
        with_refs = render(build_report(records), fmt)
        assert with_refs == render(build_report(records, published=False), fmt)
        assert "published" not in with_refs.lower() and "Δ" not in with_refs
    assert table_references("wordnet-nouns", ["inceptionxml"]) is None
    assert table_references("tiny-synth", ["inceptionxml"]) is None


def test_report_no_published_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    for rec in _670k_records():
        write_cell(runs, rec)
    assert main(["report", "--runs-dir", str(runs), "--resamples", "0"]) == 0
    assert "↳ *InceptionXML (published, XCR ♦)*" in capsys.readouterr().out
    assert main(["report", "--runs-dir", str(runs), "--resamples", "0", "--no-published"]) == 0
    out = capsys.readouterr().out
    assert "--no-published" in out  # the command line that reproduces the table
    assert "↳" not in out and "Δ" not in out and "Published references" not in out and "*Published*" not in out


@pytest.mark.shared
def test_every_number_matches_the_research_note() -> None:
    """Each md table row is in the CSV (same dataset, label, source) with the same printed numbers."""
    note = SHARED_DIR / "docs" / "published-results.md"
    if not note.is_file():
        pytest.skip(f"{note} not found (../shared is absent)")
    keys = ["p@1", "p@3", "p@5", "psp@1", "psp@3", "psp@5", "model_size_gb", "train_time_hr", "predict_time_ms"]
    rows = {(r.dataset, r.label, r.source): r for r in default_table().rows}
    dataset, seen = None, 0
    for line in note.read_text(encoding="utf-8").split("## 3.")[0].splitlines():
        if match := re.match(r"^### (\S+)$", line):
            dataset = match.group(1)
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if dataset is None or len(cells) != 11 or cells[0] in ("Method (variant)", "---"):
            continue
        label = re.sub(r" (\\\*|†|‡|♦)$", "", cells[0])
        row = rows[(dataset, label, cells[10])]
        for key, printed in zip(keys, cells[1:10], strict=True):
            ours = row.values.get(key, "")
            if re.fullmatch(r"\d+(\.\d+)?", printed) or printed == "-":
                assert ours == printed, (dataset, label, key)
            elif re.match(r"\d", printed):  # "0.1 GPU (1.15 CPU)": the GPU time, the CPU time in the note
                gpu, cpu = re.findall(r"\d+(?:\.\d+)?", printed)
                assert ours == gpu and f"{cpu} ms on CPU" in row.note, (dataset, label, key)
            else:  # "–", or a text such as "not scalable": no number, unless the source cell gave one
                assert ours == "" or ours in cells[10], (dataset, label, key)
        seen += 1
    assert seen == len(rows) == 209
