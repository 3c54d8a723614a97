"""The `harness` command: help with examples, did-you-mean for typos, listings that never import torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness.cli.main import main


def test_help_shows_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out
    assert "harness evaluate" in out


def test_unknown_command_suggests_closest(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluat"])
    assert exit_info.value.code == 2
    assert "Did you mean 'evaluate'?" in capsys.readouterr().err


def test_unknown_listing_kind_suggests_closest(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ls", "dataset"]) == 2
    assert "Did you mean 'datasets'?" in capsys.readouterr().err


def test_ls_datasets_lists_embedded_and_paper_benchmarks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ls", "datasets", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["wordnet-nouns"]["source"] == "embedded"
    for name, labels in [
        ("LF-AmazonTitles-131K", 131_073),
        ("LF-WikiSeeAlsoTitles-320K", 312_330),
        ("LF-AmazonTitles-1.3M", 1_305_265),
        ("WikiSeeAlsoTitles-350K", 352_072),
        ("WikiTitles-500K", 501_070),
        ("AmazonTitles-670K", 670_091),
        ("AmazonTitles-3M", 2_812_281),
    ]:
        assert rows[name]["labels"] == labels
    assert (rows["AmazonTitles-670K"]["A"], rows["AmazonTitles-670K"]["B"]) == (0.6, 2.6)
    assert (rows["WikiTitles-500K"]["A"], rows["WikiTitles-500K"]["B"]) == (0.5, 0.4)


@pytest.mark.parametrize("kind", ["datasets", "models", "suites"])
def test_listing_does_not_import_torch(kind: str) -> None:
    code = (
        "import sys; from harness.cli.main import main; "
        f"rc = main(['ls', '{kind}']); "
        "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
