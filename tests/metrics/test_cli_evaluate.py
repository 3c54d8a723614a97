"""`harness evaluate` end to end on XC files written by the test."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from harness.cli.main import main
from harness.data.formats import write_sparse_matrix
from harness.metrics import evaluate, inverse_propensity


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """Truth (one empty row), scores (one short row), training labels and a filter file."""
    truth = sp.csr_matrix(np.array([[1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]], dtype=np.float32))
    pred = sp.csr_matrix(np.array([[0.7, 0, 0.9, 0.8], [0, 0.5, 0, 0], [0.1, 0.2, 0, 0.3]]))
    train = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 0, 0, 1], [0, 1, 1, 0], [1, 0, 0, 0]], dtype=np.float32))
    paths = {name: tmp_path / f"{name}.txt" for name in ("truth", "pred", "train")}
    write_sparse_matrix(paths["truth"], truth)
    write_sparse_matrix(paths["pred"], pred)
    write_sparse_matrix(paths["train"], train)
    paths["filter"] = tmp_path / "filter.txt"
    paths["filter"].write_text("0 2\n1 3\n")
    return paths


def run_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, float]:
    assert main(["evaluate", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_keys_and_values(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--pred", str(files["pred"]), "--truth", str(files["truth"])]
    out = run_json(capsys, [*base, "-k", "3"])
    assert list(out) == [f"{f}@{j}" for f in ("p", "ndcg", "r") for j in (1, 2, 3)]
    # Ranked: row0 [2, 3, 0] -> hits [1, 0, 1]; row1 [1] -> [1, 0, 0]; row2 [3, 1, 0] -> none.
    assert [out["p@1"], out["p@2"], out["p@3"]] == pytest.approx([2 / 3, 1 / 3, 1 / 3])
    d2 = 1 / math.log2(3)
    assert out["ndcg@3"] == pytest.approx((1.5 / (1 + d2) + 1) / 3)

    full = run_json(capsys, [*base, "--train-labels", str(files["train"]), "--A", "0.6", "--B", "2.6"])
    assert list(full) == [f"{f}@{j}" for f in ("p", "ndcg", "psp", "psndcg", "r") for j in range(1, 6)]
    truth = sp.csr_matrix(np.array([[1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]]))
    pred = sp.csr_matrix(np.array([[0.7, 0, 0.9, 0.8], [0, 0.5, 0, 0], [0.1, 0.2, 0, 0.3]]))
    train = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 0, 0, 1], [0, 1, 1, 0], [1, 0, 0, 0]]))
    expected = evaluate(pred, truth, inv_prop=inverse_propensity(train, A=0.6, B=2.6), k=5)
    assert full == pytest.approx(expected, rel=1e-12)
    assert all(0.0 <= v <= 1.0 for v in full.values())


def test_filter_file_changes_the_scores(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--pred", str(files["pred"]), "--truth", str(files["truth"]), "-k", "2"]
    plain = run_json(capsys, base)
    filtered = run_json(capsys, [*base, "--filter", str(files["filter"])])
    # Filtering (0, 2) leaves row0 truth {0} and ranking [3, 0]: hits [0, 1]. Row1 is unchanged
    # ([1] -> [1, 0]); row2 has no truth. P@1 = 1/3, P@2 = (1/2 + 1/2)/3, R@2 = (1 + 1)/3.
    assert filtered["p@1"] == pytest.approx(1 / 3)
    assert filtered["p@2"] == pytest.approx(1 / 3)
    assert filtered["r@2"] == pytest.approx(2 / 3)
    assert plain["r@2"] == pytest.approx((1 / 2 + 1) / 3)


def test_table_output(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["evaluate", "--pred", str(files["pred"]), "--truth", str(files["truth"])]
    assert main([*argv, "--train-labels", str(files["train"]), "-k", "3"]) == 0
    out = capsys.readouterr().out
    for header in ("P@k", "nDCG@k", "PSP@k", "PSnDCG@k", "R@k"):
        assert header in out
    assert "66.67" in out  # P@1 = 2/3, shown in percent
    assert "A=0.55, B=1.5" in out


def test_row_count_mismatch_is_one_clean_error(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    short = tmp_path / "short.txt"
    write_sparse_matrix(short, sp.csr_matrix(np.ones((2, 4))))
    assert main(["evaluate", "--pred", str(short), "--truth", str(files["truth"]), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "error:" in captured.err and str(short) in captured.err and "2 rows" in captured.err
    assert "Traceback" not in captured.err


def test_more_pred_columns_than_truth_is_an_error(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wide = tmp_path / "wide.txt"
    write_sparse_matrix(wide, sp.csr_matrix(np.ones((3, 5))))
    assert main(["evaluate", "--pred", str(wide), "--truth", str(files["truth"])]) == 2
    assert "5 label columns" in capsys.readouterr().err


def test_filter_pair_out_of_range_names_the_filter_file(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad_filter.txt"
    bad.write_text("0 1\n7 2\n")
    argv = ["evaluate", "--pred", str(files["pred"]), "--truth", str(files["truth"]), "--filter", str(bad)]
    assert main(argv) == 2
    assert str(bad) in capsys.readouterr().err


def test_missing_file_is_a_clean_error(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--pred", "nope.txt", "--truth", str(files["truth"])]) == 2
    assert "nope.txt" in capsys.readouterr().err
