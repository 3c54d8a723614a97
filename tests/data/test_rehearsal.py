"""Rehearsal data (harness.data.rehearsal, `harness data synth`): layout fidelity, loading, filters, determinism."""

from __future__ import annotations

import gzip
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main as cli_main
from harness.data import formats as fmt
from harness.data import rehearsal as rh
from harness.data.catalog import dataset_registry
from harness.data.dataset import XMCDataset
from harness.data.layout import load_dataset
from harness.errors import HarnessError
from harness.suites import load_suite

LF, PLAIN = "LF-AmazonTitles-131K", "WikiSeeAlsoTitles-350K"
SIZES = {"num_labels": 300, "n_train": 200, "n_test": 60}
XC_FILES = {"trn.json.gz", "tst.json.gz", "trn_X_Xf.txt", "tst_X_Xf.txt", "trn_X_Y.txt", "tst_X_Y.txt"}
LF_FILES = {"lbl.json.gz", "Yf.txt", "filter_labels_test.txt", "filter_labels_train.txt"}


@pytest.fixture(autouse=True)
def only_data_command(monkeypatch: pytest.MonkeyPatch) -> None:
    # Other subcommands are built in parallel; these tests exercise `data` alone through main().
    monkeypatch.setattr(cli_main, "SUBCOMMANDS", {"data": "harness.cli.data"})


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("rehearsal")
    return {name: rh.write_rehearsal_dataset(name, out, **SIZES) for name in (LF, PLAIN)}


def neutral_copy(folder: Path, tmp_path: Path) -> Path:
    """The folder under a name no dataset is registered as.

    A folder named like a registered dataset is checked against its published label count, which rehearsal
    data does not have (see test_loads_under_its_registered_name); under another name the same readers load it.
    """
    return Path(shutil.copytree(folder, tmp_path / f"rehearsal-{folder.name}"))


def load(folder: Path, tmp_path: Path, **kwargs: object) -> XMCDataset:
    return load_dataset(neutral_copy(folder, tmp_path), **kwargs)


def sha256s(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def records(path: Path) -> list[dict]:
    import json

    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


# Layout --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [LF, PLAIN])
def test_files_are_the_download_layout(written: dict[str, Path], name: str) -> None:
    folder = written[name]
    assert folder.name == name
    expected = XC_FILES | (LF_FILES if dataset_registry.get(name).lf else set()) | {rh.MARKER}
    assert {p.name for p in folder.iterdir()} == expected
    for gz in folder.glob("*.gz"):
        head = gz.read_bytes()[:10]
        assert head[:2] == b"\x1f\x8b" and head[4:8] == b"\0\0\0\0"  # gzip, mtime 0
        assert not head[3] & 0x08  # no file name in the header
    first = records(folder / "trn.json.gz")[0]
    assert list(first) == ["uid", "title", "content", "target_ind", "target_rel"]
    assert first["target_rel"] == [1.0] * len(first["target_ind"])
    assert 3 <= len(first["title"].split()) <= 12


@pytest.mark.parametrize("name", [LF, PLAIN])
def test_loads_with_the_right_counts_and_headers(written: dict[str, Path], name: str, tmp_path: Path) -> None:
    folder, dim = written[name], rh.bow_dim(name)
    ds = load(folder, tmp_path, features=True)
    assert (ds.layout, ds.num_labels, len(ds.train), len(ds.test)) == ("json", 300, 200, 60)
    assert ds.num_features == dim == dataset_registry.get(name).bow_dim
    assert ds.train.texts is not None and ds.train.uids is not None
    headers = {n: fmt.read_sparse_header(folder / n) for n in ("trn_X_Xf.txt", "tst_X_Xf.txt")}
    assert headers == {"trn_X_Xf.txt": (200, dim), "tst_X_Xf.txt": (60, dim)}
    assert fmt.read_sparse_header(folder / "trn_X_Y.txt") == (200, 300)
    assert fmt.read_sparse_header(folder / "tst_X_Y.txt") == (60, 300)
    # the JSON target_ind and the sparse label files list the same labels row by row
    for split, Y in (("trn", ds.train.Y), ("tst", ds.test.Y)):
        assert [r["target_ind"] for r in records(folder / f"{split}.json.gz")] == [row.indices.tolist() for row in Y]
    # BoW vocabulary from train: no test column that no training title has
    assert ds.test.X is not None and ds.train.X is not None
    assert set(ds.test.X.indices) <= set(ds.train.X.indices)
    assert np.allclose(np.sqrt(ds.train.X.multiply(ds.train.X).sum(1)), 1.0, atol=1e-5)
    if dataset_registry.get(name).lf:
        assert ds.label_texts is not None and len(ds.label_texts) == 300
        assert fmt.read_sparse_header(folder / "Yf.txt") == (300, dim)
    else:
        assert ds.label_texts is None and ds.filter_test is None and ds.filter_train is None


def test_loads_under_its_registered_name(written: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    folder = written[LF]
    ds = load_dataset(LF, data_dir=folder.parent)
    assert ds.num_labels == 300 and ds.rehearsal and ds.name == LF
    assert cli_main.main(["data", "validate", str(folder)]) == 0


def test_validate_command_passes(written: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in (LF, PLAIN):
        assert cli_main.main(["data", "validate", str(neutral_copy(written[name], tmp_path))]) == 0
        assert capsys.readouterr().out.startswith(f"OK rehearsal-{name} (json layout): 200 train, 60 test, 300 labels")


def test_learnable_with_long_tail(written: dict[str, Path], tmp_path: Path) -> None:
    ds = load(written[LF], tmp_path, features=True)
    assert ds.train.X is not None and ds.test.X is not None
    train_points = np.asarray(ds.train.Y.sum(0)).ravel()
    assert (train_points == 0).sum() >= 150  # many labels with no training point
    test_labels = np.unique(ds.test.Y.indices)
    assert np.mean(train_points[test_labels] > 0) > 0.9  # test labels are (nearly all) learnable
    # a nearest-centroid scorer on the shipped BoW features is far above chance (about 1 %)
    scores = (ds.test.X @ (ds.train.Y.T @ ds.train.X).T).toarray()
    truth = ds.test.Y.toarray()
    assert ds.filter_test is not None
    scores[ds.filter_test[:, 0], ds.filter_test[:, 1]] = -1.0
    truth[ds.filter_test[:, 0], ds.filter_test[:, 1]] = 0.0
    assert truth[np.arange(len(truth)), scores.argmax(1)].mean() > 0.25


# Filters ---------------------------------------------------------------------------------------------
def test_lf_filters_hold_self_and_reciprocal_pairs(written: dict[str, Path], tmp_path: Path) -> None:
    ds = load(written[LF], tmp_path)
    assert ds.train.uids is not None and ds.test.uids is not None and ds.filter_test is not None
    assert ds.filter_train is not None
    label_uid = [r["uid"] for r in records(written[LF] / "lbl.json.gz")]
    label_of = {uid: i for i, uid in enumerate(label_uid)}
    # documents that are labels: same uid and the same title as the label
    label_titles = ds.label_texts
    assert label_titles is not None
    test_items = {row: label_of[u] for row, u in enumerate(ds.test.uids) if u in label_of}
    train_items = {row: label_of[u] for row, u in enumerate(ds.train.uids) if u in label_of}
    assert test_items and train_items
    assert all(ds.test.texts[row] == label_titles[lab] for row, lab in test_items.items())  # type: ignore[index]
    # the train filter is exactly the self pairs of training documents
    assert sorted(map(tuple, ds.filter_train.tolist())) == sorted(train_items.items())
    # the test filter: every self pair, plus (A, B) for train item B carrying label A, where test doc A is label A
    expected = set(test_items.items())
    for b_row, b in train_items.items():
        for a in ds.train.Y[b_row].indices:
            expected |= {(row, b) for row, lab in test_items.items() if lab == a}
    pairs = set(map(tuple, ds.filter_test.tolist()))
    assert pairs == expected
    assert len(pairs) > len(test_items)  # reciprocal pairs occur, not only self pairs
    # an item is never its own label, but its reciprocal partners are in its ground truth (and get filtered)
    assert all(ds.test.Y[row, lab] == 0 for row, lab in test_items.items())
    assert any(ds.test.Y[row, lab] == 1 for row, lab in pairs - set(test_items.items()))
    marker = rh.read_marker(written[LF])
    assert marker is not None and marker["filter_test_pairs"] == len(pairs)


# Determinism, defaults, errors --------------------------------------------------------------------------
def test_same_arguments_give_identical_files(written: dict[str, Path], tmp_path: Path) -> None:
    for name in (LF, PLAIN):
        again = rh.write_rehearsal_dataset(name, tmp_path / "again", **SIZES)
        assert sha256s(again) == sha256s(written[name])
    other = rh.write_rehearsal_dataset(LF, tmp_path / "seed1", **SIZES, seed=1)
    assert sha256s(other)["trn.json.gz"] != sha256s(written[LF])["trn.json.gz"]


def test_default_label_count_follows_the_paper_cluster_exponent(tmp_path: Path) -> None:
    bits = rh.paper_cluster_bits()  # from the short-text suite's syncxml profile
    assert list(bits) == list(load_suite("short-text").datasets)
    assert bits == {
        "LF-AmazonTitles-131K": 14,
        "LF-WikiSeeAlsoTitles-320K": 15,
        "LF-AmazonTitles-1.3M": 17,
        "WikiSeeAlsoTitles-350K": 15,
        "WikiTitles-500K": 16,
        "AmazonTitles-670K": 16,
        "AmazonTitles-3M": 17,
    }
    for name, b in bits.items():
        assert rh.default_num_labels(name) == 2**b + 2 ** (b - 2)
        assert rh.bow_dim(name) >= 40_000
    assert rh.default_num_labels("lf-amazontitles-131k") == 20_480
    folder = rh.write_rehearsal_dataset(LF, tmp_path, n_train=40, n_test=10)  # the 20,480-label default: fast
    assert fmt.read_sparse_header(folder / "trn_X_Y.txt") == (40, 20_480)
    assert len(records(folder / "lbl.json.gz")) == 20_480


def test_unknown_or_unsupported_dataset_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="Did you mean 'LF-AmazonTitles-131K'"):
        rh.write_rehearsal_dataset("LF-AmazonTitle-131K", tmp_path)
    with pytest.raises(HarnessError, match="no rehearsal layout for dataset 'Bibtex'"):
        rh.write_rehearsal_dataset("Bibtex", tmp_path)
    with pytest.raises(HarnessError, match="n_train must be at least 1"):
        rh.write_rehearsal_dataset(PLAIN, tmp_path, n_train=0)


def test_never_overwrites_real_data_but_replaces_a_rehearsal(tmp_path: Path) -> None:
    real = tmp_path / PLAIN
    real.mkdir()
    (real / "trn.json.gz").write_bytes(b"real download")
    with pytest.raises(HarnessError, match="is not a rehearsal folder"):
        rh.write_rehearsal_dataset(PLAIN, tmp_path, **SIZES)
    assert (real / "trn.json.gz").read_bytes() == b"real download"
    first = rh.write_rehearsal_dataset(PLAIN, tmp_path / "rh", **SIZES)
    second = rh.write_rehearsal_dataset(PLAIN, tmp_path / "rh", **{**SIZES, "n_test": 30})
    assert first == second and fmt.read_sparse_header(second / "tst_X_Y.txt") == (30, 300)
    assert [p.name for p in (tmp_path / "rh").iterdir()] == [PLAIN]  # no temporary folder left behind


# GloVe ---------------------------------------------------------------------------------------------------
def test_glove_file_covers_most_words(written: dict[str, Path], tmp_path: Path) -> None:
    words = rh.rehearsal_vocabulary(written[LF])
    glove = rh.write_glove_file(tmp_path / "g.txt", words)
    lines = glove.path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(glove.written) and all(len(line.split(" ")) == 301 for line in lines)
    assert [line.split(" ", 1)[0] for line in lines] == glove.written
    np.asarray([line.split(" ")[1:] for line in lines[:20]], dtype=np.float64)  # every field a number
    assert sorted(glove.written + glove.left_out) == words
    assert 0 < len(glove.left_out) < 0.2 * len(words)
    assert rh.write_glove_file(tmp_path / "g2.txt", words).path.read_bytes() == glove.path.read_bytes()


def test_glove_file_feeds_the_encoder_embeddings(written: dict[str, Path], tmp_path: Path) -> None:
    from inceptionxml.embeddings import build_embeddings
    from inceptionxml.text import Vocabulary, clean_text

    ds = load(written[PLAIN], tmp_path)
    assert ds.train.texts is not None and ds.test.texts is not None
    vocab = Vocabulary.build([clean_text(t, "nltk") for t in ds.train.texts + ds.test.texts])
    glove = rh.write_glove_file(tmp_path / "g.txt", rh.rehearsal_vocabulary(written[PLAIN]))
    table = build_embeddings("glove-text", vocab, path=glove.path)
    assert table.weights.shape == (len(vocab), 300)
    assert table.oov_words > 0 and table.oov_rate < 0.25  # most words found, some OOV on purpose


# CLI -------------------------------------------------------------------------------------------------------
def test_synth_command_writes_and_prints_next_steps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["data", "synth", "wikiseealsotitles-350k", "--out", str(tmp_path)]
    sizes = ["--labels", "300", "--train", "200", "--test", "60", "--glove"]
    assert cli_main.main(args + sizes) == 0
    out = capsys.readouterr().out
    folder, glove = tmp_path / PLAIN, tmp_path / rh.GLOVE_NAME
    assert f"wrote {PLAIN} rehearsal data (synthetic, NOT the real dataset) to {folder}" in out
    assert "trn_X_Xf.txt" in out and glove.is_file()
    assert f"harness run --suite short-text --data-dir {tmp_path} --datasets {PLAIN} " in out
    assert f"--runs-dir {tmp_path / 'runs'} --no-mlflow --glove {glove}\n" in out
    marker = rh.read_marker(folder)
    assert marker is not None and (marker["num_labels"], marker["n_train"], marker["n_test"]) == (300, 200, 60)


def test_synth_command_unknown_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main(["data", "synth", "AmazonTitles-670", "--out", str(tmp_path)]) == 2
    assert "Did you mean 'AmazonTitles-670K'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
