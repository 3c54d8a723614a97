"""What a run adds to a suite: ``--set`` overrides, the ``--glove`` word-vector file, and the suite's notes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.data.word_vectors import check_word_vectors
from harness.errors import HarnessError
from harness.runner.plan import parse_settings, plan_suite
from harness.suites import parse_suite


def _suite(**inception: object):
    return parse_suite(
        "x",
        {
            "datasets": ["synthetic-tiny"],
            "models": {"inceptionxml": {"epochs": 2, **inception}, "knn": {}},
        },
    )


def _vectors(path: Path, words: tuple[str, ...] = ("alpha", "beta", "gamma"), dim: int = 4) -> Path:
    path.write_text(
        "".join(f"{w} " + " ".join(f"{0.1 * (i + j):.2f}" for j in range(dim)) + "\n" for i, w in enumerate(words))
    )
    return path


def test_set_overrides_reach_the_config_the_overrides_and_the_key(tmp_path: Path) -> None:
    plain = plan_suite(_suite(), tmp_path)
    changed = plan_suite(_suite(), tmp_path, settings=["inceptionxml.epochs=3", "ext_dropout=0.5"])
    before, after = (next(c for c in p.cells if c.model == "inceptionxml") for p in (plain, changed))
    assert (after.config["epochs"], after.config["ext_dropout"]) == (3, 0.5)
    assert after.overrides == {"epochs": 3, "ext_dropout": 0.5}  # what the cell builds the model from
    assert after.key != before.key
    knn = [c for p in (plain, changed) for c in p.cells if c.model == "knn"]
    assert knn[0].key == knn[1].key  # a bare field applies only to the models that have it


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("epochs", "expected \\[MODEL.\\]FIELD=VALUE"),
        ("inceptionxml.epoch=3", "Did you mean 'epochs'"),
        ("epoch=3", "no model being run has a field 'epoch'.*Did you mean 'epochs'"),
        ("syncxml.epochs=3", "syncxml is not among the models being run"),
        ("inceptionxm.epochs=3", "Did you mean 'inceptionxml'"),
    ],
)
def test_bad_set_items_are_one_clear_error(item: str, message: str) -> None:
    with pytest.raises(HarnessError, match=message):
        parse_settings([item], ["inceptionxml", "knn"])


def test_set_values_are_read_as_yaml() -> None:
    got = parse_settings(["max_steps=20", "grad_clip=null", "filter_sizes=[4, 8]", "stopwords=none"], ["inceptionxml"])
    assert got == {"inceptionxml": {"max_steps": 20, "grad_clip": None, "filter_sizes": [4, 8], "stopwords": "none"}}


def test_glove_fills_the_path_checks_the_file_and_keys_its_content(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    first = _vectors(tmp_path / "a.txt")
    plan = plan_suite(_suite(embeddings="glove-text"), tmp_path, word_vectors=first)
    cell = next(c for c in plan.cells if c.model == "inceptionxml")
    assert cell.config["embedding_path"] == str(first.resolve()) == cell.overrides["embedding_path"]
    assert cell.inputs["word_vectors"]["dim"] == 4 and cell.inputs["word_vectors"]["words"] == 3
    # The same bytes elsewhere are the same cell; other bytes at the same path are another.
    moved = shutil.copy(first, tmp_path / "b.txt")
    assert (
        next(c for c in plan_suite(_suite(embeddings="glove-text"), tmp_path, word_vectors=moved).cells).key == cell.key
    )
    _vectors(first, words=("alpha", "beta", "delta"))
    other = plan_suite(_suite(embeddings="glove-text"), tmp_path, word_vectors=first)
    assert next(c for c in other.cells if c.model == "inceptionxml").key != cell.key
    # $HARNESS_GLOVE stands in for --glove.
    monkeypatch.setenv("HARNESS_GLOVE", str(moved))
    assert plan_suite(_suite(embeddings="glove-text"), tmp_path).cells[0].inputs["word_vectors"]["path"] == str(moved)


def test_glove_problems_stop_the_run_before_any_cell(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HARNESS_GLOVE", raising=False)
    with pytest.raises(HarnessError, match="no word-vector file was given.*glove.6B.300d.txt"):
        plan_suite(_suite(embeddings="glove-text"), tmp_path)
    with pytest.raises(HarnessError, match="not found: .*nowhere.txt.*nlp.stanford.edu/projects/glove"):
        plan_suite(_suite(embeddings="glove-text"), tmp_path, word_vectors=tmp_path / "nowhere.txt")
    with pytest.raises(HarnessError, match="no model being run reads word vectors"):
        plan_suite(_suite(), tmp_path, word_vectors=_vectors(tmp_path / "v.txt"))
    bad = _vectors(tmp_path / "bad.txt")
    bad.write_text(bad.read_text() + "delta 0.1 0.2\n")  # a truncated line
    with pytest.raises(HarnessError, match=r"bad.txt:4: expected a word and 4 numbers"):
        plan_suite(_suite(embeddings="glove-text"), tmp_path, word_vectors=bad)
    bad.write_text("alpha 0.1 0.2\nbeta 0.3 zero\n")
    with pytest.raises(HarnessError, match=r"bad.txt:2: 'zero' is not a number"):
        check_word_vectors(bad)


def test_suite_notes_and_anchors(tmp_path: Path) -> None:
    spec = {
        "x-shared": {"epochs": 2},
        "datasets": ["synthetic-tiny", "synthetic-small"],
        "models": {
            "inceptionxml": {
                "epochs": 2,
                "notes": "lr chosen",
                "per_dataset": {"synthetic-small": {"ext_dropout": 0.5, "notes": ["p_ext chosen"]}},
            }
        },
    }
    suite = parse_suite("x", spec)
    assert suite.notes_for("inceptionxml", "synthetic-small") == ["lr chosen", "p_ext chosen"]
    assert suite.notes_for("inceptionxml", "synthetic-tiny") == ["lr chosen"]
    cells = {c.dataset: c for c in plan_suite(suite, tmp_path).cells}
    assert cells["synthetic-small"].notes == ["lr chosen", "p_ext chosen"]
    assert "notes" not in cells["synthetic-small"].overrides
    with pytest.raises(HarnessError, match="notes: must be a list of sentences"):
        parse_suite("x", {"datasets": ["synthetic-tiny"], "models": {"inceptionxml": {"notes": [3]}}})
