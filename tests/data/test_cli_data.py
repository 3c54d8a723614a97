"""``harness data info|validate|build`` through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main as cli_main
from tests.data.conftest import write


@pytest.fixture(autouse=True)
def only_data_command(monkeypatch: pytest.MonkeyPatch) -> None:
    # Other subcommands are built in parallel; these tests exercise `data` alone through main().
    monkeypatch.setattr(cli_main, "SUBCOMMANDS", {"data": "harness.cli.data"})


def test_info_prints_stats_and_checksums(json_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main(["data", "info", str(json_dir)]) == 0
    out = capsys.readouterr().out
    assert "tiny-lf (json layout)" in out and "labels L" in out
    assert "  trn.json.gz\n" in out and "dataset sha256" in out


def test_info_json(json_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main(["data", "info", str(json_dir), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["labels"] == 4 and set(data["files"]) >= {"trn.json.gz", "lbl.json.gz"}


def test_info_by_name_with_data_dir(shared_xc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main(["data", "info", "Bibtex", "--data-dir", str(shared_xc), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["train_points"], data["test_points"], data["labels"], data["features"]) == (4880, 2515, 159, 1836)


def test_info_unknown_dataset_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main(["data", "info", "LF-AmazonTitles-131K"]) == 2
    assert "HARNESS_DATA" in capsys.readouterr().err


def test_validate_ok_and_invalid(json_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main(["data", "validate", str(json_dir)]) == 0
    assert capsys.readouterr().out.startswith("OK tiny-lf (json layout): 4 train, 3 test, 4 labels")
    write(json_dir / "tst.json.gz", '{"uid": 1, "title": "x", "target_ind": [9]}\n')
    assert cli_main.main(["data", "validate", str(json_dir)]) == 1
    err = capsys.readouterr().err
    assert "INVALID" in err and "tst.json.gz:1: target_ind: index 9 out of range [0, 4)" in err


def test_validate_json_output(json_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(json_dir / "filter_labels_test.txt", "0 1\n7 0\n")
    assert cli_main.main(["data", "validate", str(json_dir), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and "filter_labels_test.txt:2: row 7 out of range [0, 3)" in data["error"]


def test_build_dispatches_to_builder_and_refuses_existing_out(
    json_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.data.builders import builder_registry

    def fake_build(out_dir: Path, source: Path | None = None) -> Path:
        import shutil

        shutil.copytree(json_dir, out_dir, dirs_exist_ok=True)
        return out_dir

    monkeypatch.setattr(builder_registry, "get", lambda name: fake_build)
    out = tmp_path / "built"
    assert cli_main.main(["data", "build", "wordnet-nouns", "--out", str(out)]) == 0
    assert "built wordnet-nouns" in capsys.readouterr().out and (out / "trn.json.gz").is_file()
    assert cli_main.main(["data", "build", "wordnet-nouns", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert cli_main.main(["data", "build", "wordnet-nouns", "--out", str(out), "--force"]) == 0


def test_build_never_overwrites_shipped_data_without_force(capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli.data import _shipped_root

    shipped = _shipped_root() / "wordnet-nouns"
    assert cli_main.main(["data", "build", "wordnet-nouns", "--out", str(shipped)]) == 2
    assert "shipped embedded data" in capsys.readouterr().err


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli_main.main(["data", "--help"])
    assert "harness data validate" in capsys.readouterr().out
