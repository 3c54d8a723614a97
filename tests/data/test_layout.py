"""Layout detection and load_dataset over every layout, name resolution and consistency checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from harness.data import detect_layout, load_dataset
from harness.data.formats import file_sha256
from harness.data.layout import label_names_to_csr
from harness.errors import DataFormatError, HarnessError
from tests.data.conftest import (
    LABEL_TITLES,
    TEST_LABELS,
    TEST_TITLES,
    TRAIN_LABELS,
    TRAIN_TITLES,
    sparse_text,
    write,
)


def _dense(Y) -> list[list[int]]:
    return [sorted(Y[i].indices.tolist()) for i in range(Y.shape[0])]


def test_json_layout_loads_texts_labels_label_texts_and_filters(json_dir: Path) -> None:
    assert detect_layout(json_dir) == "json"
    ds = load_dataset(json_dir)
    assert (ds.name, ds.layout, ds.num_labels, ds.num_features) == ("tiny-lf", "json", 4, None)
    assert ds.train.texts == TRAIN_TITLES and ds.test.uids == ["t0", "t1", "t2"]
    assert _dense(ds.train.Y) == TRAIN_LABELS and _dense(ds.test.Y) == TEST_LABELS
    assert ds.label_texts == LABEL_TITLES and ds.is_lf
    assert ds.filter_test.tolist() == [[0, 1], [2, 0]] and ds.filter_train is None
    assert (ds.A, ds.B) == (0.55, 1.5) and ds.spec is None
    assert sorted(ds.files) == ["filter_labels_test.txt", "lbl.json.gz", "trn.json.gz", "tst.json.gz"]
    assert ds.files["trn.json.gz"] == file_sha256(json_dir / "trn.json.gz")
    assert ds.label_freq().tolist() == [1, 2, 1, 0]
    assert load_dataset(json_dir, A=0.6, B=2.6).A == 0.6


def test_json_with_sparse_labels_takes_labels_from_trn_x_y(json_dir: Path) -> None:
    write(json_dir / "trn_X_Y.txt", sparse_text([[3], [3], [3], [3]], 4))
    write(json_dir / "tst_X_Y.txt", sparse_text([[1], [1], []], 4))
    ds = load_dataset(json_dir)
    assert ds.layout == "json" and _dense(ds.train.Y) == [[3]] * 4 and ds.test.texts == TEST_TITLES
    assert "trn_X_Y.txt" in ds.files


def test_json_and_sparse_row_mismatch_names_both_files(json_dir: Path) -> None:
    write(json_dir / "trn_X_Y.txt", sparse_text([[3], [3], [3]], 4))
    write(json_dir / "tst_X_Y.txt", sparse_text([[1], [1], []], 4))
    with pytest.raises(DataFormatError, match=r"trn_X_Y\.txt: has 3 rows but .*trn\.json\.gz has 4"):
        load_dataset(json_dir)


def test_label_texts_must_match_label_count(json_dir: Path) -> None:
    write(json_dir / "trn_X_Y.txt", sparse_text(TRAIN_LABELS, 5))
    write(json_dir / "tst_X_Y.txt", sparse_text(TEST_LABELS, 5))
    with pytest.raises(HarnessError, match="4 label texts for 5 labels"):
        load_dataset(json_dir)


def test_train_and_test_label_dims_must_agree(sparse_dir: Path) -> None:
    write(sparse_dir / "tst_X_Y.txt", sparse_text(TEST_LABELS, 6))
    with pytest.raises(HarnessError, match=r"tst_X_Y\.txt has 6 label columns but .*trn_X_Y\.txt has 4"):
        load_dataset(sparse_dir)


def test_sparse_layout_loads_bow(sparse_dir: Path) -> None:
    assert detect_layout(sparse_dir) == "sparse"
    ds = load_dataset(sparse_dir)
    assert ds.num_features == 3 and ds.train.X.shape == (4, 3) and ds.train.texts is None
    assert ds.train.X[0].toarray().tolist() == [[0.5, 0, 1.5]]


def test_sparse_bow_row_mismatch(sparse_dir: Path) -> None:
    write(sparse_dir / "tst_X_Xf.txt", "2 3\n0:1\n")
    with pytest.raises(DataFormatError, match=r"tst_X_Xf\.txt: has 2 rows but the labels have 3"):
        load_dataset(sparse_dir)


def test_rawtext_layout_xc_style(sparse_dir: Path) -> None:
    write(sparse_dir / "raw" / "trn_X.txt", "\n".join(TRAIN_TITLES) + "\n")
    write(sparse_dir / "raw" / "tst_X.txt", "\n".join(TEST_TITLES) + "\n")
    assert detect_layout(sparse_dir) == "rawtext"
    ds = load_dataset(sparse_dir)
    assert ds.train.texts == TRAIN_TITLES and ds.num_features == 3 and ds.train.X is None
    assert load_dataset(sparse_dir, features=True).train.X.shape == (4, 3)
    assert "raw/trn_X.txt" in ds.files


def test_rawtext_text_label_row_mismatch_names_both_files(sparse_dir: Path) -> None:
    write(sparse_dir / "trn_X.txt", "\n".join(TRAIN_TITLES[:3]) + "\n")
    write(sparse_dir / "tst_X.txt", "\n".join(TEST_TITLES) + "\n")
    with pytest.raises(DataFormatError, match=r"trn_X_Y\.txt: has 4 rows but .*trn_X\.txt has 3"):
        load_dataset(sparse_dir)


def test_lightxml_layout_builds_sorted_string_label_map(tmp_path: Path) -> None:
    root = tmp_path / "lx"
    write(root / "train_raw_texts.txt", "a\nb\nc\n")
    write(root / "test_raw_texts.txt", "d\n")
    write(root / "train_labels.txt", "9 10\nb\n\n")
    write(root / "test_labels.txt", "zz 9\n")
    assert detect_layout(root) == "rawtext"
    ds = load_dataset(root)
    assert ds.label_texts == ["10", "9", "b", "zz"]  # strings order: "10" < "9"
    assert _dense(ds.train.Y) == [[0, 1], [2], []] and _dense(ds.test.Y) == [[1, 3]]
    assert ds.label_freq().tolist() == [1, 1, 1, 0]  # "zz" only in test: a column with no train point


def test_lightxml_row_mismatch(tmp_path: Path) -> None:
    root = tmp_path / "lx"
    write(root / "train_raw_texts.txt", "a\nb\n")
    write(root / "test_raw_texts.txt", "d\n")
    write(root / "train_labels.txt", "1\n")
    write(root / "test_labels.txt", "1\n")
    with pytest.raises(DataFormatError, match=r"train_labels\.txt: has 1 rows but .*train_raw_texts\.txt has 2"):
        load_dataset(root)


def test_label_names_to_csr_directly() -> None:
    (Ytr,), names = label_names_to_csr([[["b", "a", "b"]]])
    assert names == ["a", "b"] and Ytr.toarray().tolist() == [[1, 1]]


def test_combined_layout_checks_header_agreement(tmp_path: Path) -> None:
    root = tmp_path / "comb"
    write(root / "train.txt", "2 3 2\n0 0:1\n1 2:1\n")
    write(root / "test.txt", "1 3 2\n 1:1\n")
    write(root / "features.txt", "w0\nw1\nw2\n")
    ds = load_dataset(root)
    assert ds.layout == "combined" and ds.feature_names == ["w0", "w1", "w2"] and ds.label_texts is None
    write(root / "test.txt", "1 4 2\n 1:1\n")
    with pytest.raises(HarnessError, match=r"test\.txt header has 4 features / 2 labels but .*train\.txt has 3 / 2"):
        load_dataset(root)


def test_no_layout_lists_found_files_and_expectations(tmp_path: Path) -> None:
    write(tmp_path / "x" / "trn.json.gz", "")
    write(tmp_path / "x" / "notes.md", "")
    with pytest.raises(HarnessError, match="no XMC dataset layout recognised") as info:
        detect_layout(tmp_path / "x")
    msg = str(info.value)
    assert "Found: notes.md, trn.json.gz" in msg and "combined: train.txt + test.txt" in msg
    assert "sparse: trn_X_Y.txt + tst_X_Y.txt" in msg


def test_registered_name_resolves_under_data_dir_and_env(json_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Bibtex in combined layout, small enough to write here: the name resolves to <data-dir>/Bibtex.
    root = json_dir.parent / "Bibtex"
    write(root / "train.txt", "1 1836 159\n158 1835:1\n")
    write(root / "test.txt", "1 1836 159\n0 0:1\n")
    ds = load_dataset("bibtex", data_dir=json_dir.parent)
    assert ds.name == "Bibtex" and ds.spec is not None and ds.spec.layout == "combined"
    monkeypatch.setenv("HARNESS_DATA", str(json_dir.parent))
    assert load_dataset("Bibtex").root == root


def test_misspelt_download_folder_is_found(tmp_path: Path) -> None:
    root = tmp_path / "WikiSeeAlsoTItles-350K"
    write(root / "trn_X_Y.txt", "1 352072\n0:1\n")
    write(root / "tst_X_Y.txt", "1 352072\n5:1\n")
    ds = load_dataset("wikiseealsotitles-350k", data_dir=tmp_path)
    assert ds.name == "WikiSeeAlsoTitles-350K" and (ds.A, ds.B) == (0.55, 1.5) and ds.root == root


def test_spec_label_count_is_checked(tmp_path: Path) -> None:
    root = tmp_path / "AmazonTitles-670K"
    write(root / "trn_X_Y.txt", "1 670\n0:1\n")
    write(root / "tst_X_Y.txt", "1 670\n5:1\n")
    with pytest.raises(HarnessError, match="the files have 670 labels but AmazonTitles-670K has 670091"):
        load_dataset(root)  # by path: the folder name adopts the registered metadata


def test_missing_folder_says_where_to_download(tmp_path: Path) -> None:
    with pytest.raises(HarnessError) as info:
        load_dataset("LF-AmazonTitles-131K", data_dir=tmp_path)
    msg = str(info.value)
    assert "no folder LF-AmazonTitles-131K under" in msg and "Extreme Classification Repository" in msg
    assert "trn.json.gz + tst.json.gz" in msg
    with pytest.raises(HarnessError, match="pass --data-dir DIR or set HARNESS_DATA"):
        load_dataset("AmazonTitles-3M")


def test_unknown_name_suggests(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="Did you mean 'AmazonTitles-670K'"):
        load_dataset("AmazonTitles-670")


def test_embedded_dataset_loads_verified(monkeypatch: pytest.MonkeyPatch, json_dir: Path) -> None:
    import harness.data.embedded as embedded

    calls = []

    def fake(name: str) -> Path:
        calls.append(name)
        return json_dir

    monkeypatch.setattr(embedded, "verified_embedded_dir", fake)
    ds = load_dataset("wordnet")
    assert calls == ["wordnet-nouns"] and ds.name == "wordnet-nouns" and ds.num_labels == 4
    assert (ds.A, ds.B) == (0.55, 1.5) and ds.spec.embedded


def test_shipped_embedded_wordnet_loads() -> None:
    from harness.data.embedded import list_embedded

    if "wordnet-nouns" not in list_embedded():
        pytest.skip("embedded wordnet-nouns is not built in this checkout")
    ds = load_dataset("wordnet-nouns")
    assert ds.layout == "json" and ds.has_texts and ds.label_texts is not None
    assert ds.num_labels == len(ds.label_texts)  # the files are the authority for its label count
    assert set(ds.files) >= {"trn.json.gz", "tst.json.gz", "lbl.json.gz"}


def test_xmcdataset_sha256_changes_with_any_file(json_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy" / "tiny-lf"
    shutil.copytree(json_dir, copy)
    assert load_dataset(copy).sha256 == load_dataset(json_dir).sha256
    write(copy / "filter_labels_test.txt", "0 1\n")
    assert load_dataset(copy).sha256 != load_dataset(json_dir).sha256
    assert np.array_equal(load_dataset(copy).filter_test, [[0, 1]])


def test_unloaded_bow_headers_are_still_checked(sparse_dir: Path) -> None:
    write(sparse_dir / "trn_X.txt", "\n".join(TRAIN_TITLES) + "\n")
    write(sparse_dir / "tst_X.txt", "\n".join(TEST_TITLES) + "\n")
    write(sparse_dir / "tst_X_Xf.txt", "3 5\n0:1\n")
    with pytest.raises(HarnessError, match=r"tst_X_Xf\.txt has 5 feature columns but .*trn_X_Xf\.txt has 3"):
        load_dataset(sparse_dir)  # rawtext layout: X is not loaded, only its header read
