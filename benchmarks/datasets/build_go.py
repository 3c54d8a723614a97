"""Build ``go-terms-5k``: a ~5K-train short-text LF dataset, Gene Ontology term name -> ancestor terms.

Usage::

    apt-get download r-bioc-go.db                        # Debian's GO.db 3.16.0 (GO release 2022-07-01)
    .venv/bin/python benchmarks/datasets/build_go.py --source r-bioc-go.db_3.16.0-1_all.deb
    .venv/bin/python benchmarks/datasets/build_go.py /tmp/go-terms-5k --source /path/to/GO.sqlite
    .venv/bin/harness data validate /work/data/go-terms-5k

The built folder is the project's own derived data and is not committed or shipped in the package: the
harness reads it as a user dataset folder (``--datasets /work/data/go-terms-5k``), and names it after the
folder, so keep the folder name ``go-terms-5k``. The dataset card is ``docs/datasets/go-terms-5k.md``.

Construction (every rule is written into the output ``README.md`` with its counts):

1. Candidate points are all current GO terms of the three namespaces (biological_process,
   molecular_function, cellular_component); a point's text is the term *name* only. The definition is never
   used: it usually names the term's own parents ("Catalysis of ...", "Any process that ...").
2. Labels are the term's ancestors over ``is_a`` and ``part_of`` (GO's own annotation-propagation
   relations), itself excluded. ``regulates`` edges are not followed: "regulation of X" is neither a kind
   nor a part of X, and X's name sits verbatim in the title.
3. Terms whose names are identical (case-insensitive, whitespace normalised) are merged into one point
   before sampling (none in the 2022-07-01 release; the rule guards later releases).
4. A fixed sample of ``SAMPLE_SIZE`` points: points ordered by ``sha256(SAMPLE_SALT + uid)``, the first
   ones kept. Hashing (the builder's fixed seed) keeps the choice identical on every Python / numpy.
5. Near-root labels are dropped: a label is kept iff ``100 * n_label <= ROOT_CAP_PERCENT * N`` where
   ``n_label`` counts the sampled points carrying it and ``N`` is the sample size.
6. Points left with no label are dropped.
7. Fixed split: points ordered by ``sha256(SPLIT_SALT + uid)``; the first ``(30 * n + 50) // 100`` are test.
8. Label space: every label still carried by a point, in GO-id order; labels without a training point are
   kept (the XC-repository convention; with label text a zero-shot method can still rank them).

Only the standard library is used, so the builder runs before the harness is installed.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import sqlite3
import sys
import tarfile
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

DATASET_NAME = "go-terms-5k"
#: Salts of the hashes that order terms for the sample and the split; changing one changes the dataset.
SAMPLE_SALT = f"xmc-harness/{DATASET_NAME}/sample/v1:"
SPLIT_SALT = f"xmc-harness/{DATASET_NAME}/split/v1:"
SAMPLE_SIZE = 8000
TEST_PERCENT = 30
ROOT_CAP_PERCENT = 1
#: GO.db relationship types followed for the ancestor closure (spelled as GO.db stores them).
RELATIONS = ("isa", "part of")
NAMESPACES = {"BP": "biological_process", "MF": "molecular_function", "CC": "cellular_component"}
#: Where ``apt-get install r-bioc-go.db`` puts the database.
INSTALLED_SQLITE = Path("/usr/lib/R/site-library/GO.db/extdata/GO.sqlite")
SQLITE_MEMBER_SUFFIX = "GO.db/extdata/GO.sqlite"
#: sha256 of GO.sqlite files whose origin is known -> where they come from (for the README).
KNOWN_SOURCES = {
    "b36edf3e7ba7d5869e587651107421c4f5c4444037cb18e26cd2687698e4a0d0": (
        "It is the `GO.sqlite` of Debian's `r-bioc-go.db` 3.16.0-1 (bookworm; Bioconductor GO.db 3.16.0)."
    ),
}
HELP_SOURCE = (
    "GO.sqlite was not found. Get Debian's package file (no R needed) and pass it:\n"
    "  apt-get download r-bioc-go.db && python benchmarks/datasets/build_go.py --source r-bioc-go.db_*.deb\n"
    "or install it (apt-get install r-bioc-go.db, which pulls in R) to get " + str(INSTALLED_SQLITE)
)


class BuildError(Exception):
    """A missing or malformed source; the message says what to do."""


@dataclass(frozen=True)
class Term:
    """One GO term: its id, name and namespace (``BP``, ``MF``, ``CC``)."""

    go_id: str
    name: str
    namespace: str


@dataclass
class GOSource:
    """The parsed database: terms, ``is_a``/``part_of`` parents, release metadata and file checksum."""

    terms: dict[str, Term]
    parents: dict[str, set[str]]
    metadata: dict[str, str]
    sha256: str


# Source ----------------------------------------------------------------------------------------


def _ar_member(deb: Path, prefix: str) -> tuple[str, bytes]:
    """The first member of a Debian ``ar`` archive whose name starts with ``prefix``."""
    with deb.open("rb") as fh:
        if fh.read(8) != b"!<arch>\n":
            raise BuildError(f"{deb}: not a Debian package (no ar header)")
        while header := fh.read(60):
            if len(header) < 60:
                break
            name = header[:16].decode("ascii").strip().rstrip("/")
            size = int(header[48:58].decode("ascii").strip())
            data = fh.read(size)
            fh.read(size % 2)  # members are padded to an even length
            if name.startswith(prefix):
                return name, data
    raise BuildError(f"{deb}: no {prefix}* member")


def _sqlite_from_deb(deb: Path, tmp: Path) -> Path:
    name, data = _ar_member(deb, "data.tar")
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            member = next((m for m in tar if m.isfile() and m.name.endswith(SQLITE_MEMBER_SUFFIX)), None)
            if member is None:
                raise BuildError(f"{deb}: no {SQLITE_MEMBER_SUFFIX} inside; is it r-bioc-go.db?")
            src = tar.extractfile(member)
            assert src is not None  # a regular file member always has content
            out = tmp / "GO.sqlite"
            out.write_bytes(src.read())
            return out
    except tarfile.TarError as exc:
        raise BuildError(f"{deb}: cannot read {name} ({exc}); extract it with dpkg -x and pass GO.sqlite") from None


def find_sqlite(source: Path | None, tmp: Path) -> Path:
    """``GO.sqlite`` from a file, a folder holding it (searched recursively), a ``.deb``, or the install path."""
    if source is None:
        if INSTALLED_SQLITE.is_file():
            return INSTALLED_SQLITE
        raise BuildError(HELP_SOURCE)
    source = source.expanduser()
    if source.is_dir():
        found = sorted(source.rglob("GO.sqlite"))
        if not found:
            raise BuildError(f"no GO.sqlite under {source}. {HELP_SOURCE}")
        return found[0]
    if not source.is_file():
        raise BuildError(f"{source} does not exist. {HELP_SOURCE}")
    return _sqlite_from_deb(source, tmp) if source.suffix == ".deb" else source


def read_go(path: Path) -> GOSource:
    """Read terms, ``is_a``/``part_of`` edges and metadata from GO.db's SQLite schema (DBSCHEMA GO_DB)."""
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            metadata = dict(con.execute("SELECT name, value FROM metadata").fetchall())
            rows = con.execute("SELECT _id, go_id, term, ontology FROM go_term").fetchall()
            edges = [
                row
                for ns in ("bp", "mf", "cc")
                for row in con.execute(f"SELECT _id, _parent_id, relationship_type FROM go_{ns}_parents")
            ]
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise BuildError(f"{path}: not a GO.db SQLite database ({exc})") from None
    go_id_of = {rowid: go_id for rowid, go_id, _, _ in rows}
    terms = {go_id: Term(go_id, name, ns) for _, go_id, name, ns in rows if ns in NAMESPACES}
    parents: dict[str, set[str]] = {go_id: set() for go_id in terms}
    for child, parent, relation in edges:
        if relation not in RELATIONS:
            continue
        child_id, parent_id = go_id_of.get(child), go_id_of.get(parent)
        if child_id is None or parent_id is None:
            raise BuildError(f"{path}: edge {child} -> {parent} names a term that is not in go_term")
        if child_id in terms and parent_id in terms:  # GO.db links the three roots to its own "all" term
            parents[child_id].add(parent_id)
    return GOSource(terms, parents, metadata, sha)


# Construction ----------------------------------------------------------------------------------


def ancestor_closure(parents: dict[str, set[str]]) -> dict[str, frozenset[str]]:
    """Every term's ancestors (itself excluded), by iterative post-order DFS; raises on a cycle."""
    closure: dict[str, frozenset[str]] = {}
    on_stack: set[str] = set()
    for start in sorted(parents):
        stack = [(start, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                on_stack.discard(node)
                acc: set[str] = set()
                for p in parents[node]:
                    acc |= {p} | closure[p]
                closure[node] = frozenset(acc)
            elif node not in closure:
                on_stack.add(node)
                stack.append((node, True))
                for p in sorted(parents[node]):
                    if p in on_stack:
                        raise BuildError(f"is_a/part_of cycle through {p} and {node}")
                    if p not in closure:
                        stack.append((p, False))
    return closure


def _rank(salt: str, uid: str) -> str:
    return hashlib.sha256((salt + uid).encode("ascii")).hexdigest()


def _title_key(title: str) -> str:
    return " ".join(title.casefold().split())


@dataclass
class Point:
    """A dataset row: uid (a GO id), title (the term name), namespace and sorted label indices."""

    uid: str
    title: str
    namespace: str
    labels: list[int]


@dataclass
class Built:
    """The dataset in memory before writing, with the counts the README reports."""

    train: list[Point]
    test: list[Point]
    label_uids: list[str]
    label_titles: list[str]
    counts: dict[str, object]
    dropped: list[tuple[str, str, int]]  # near-root labels: (GO id, name, sampled points carrying it)


def construct(go: GOSource) -> Built:
    """Apply the rules of the module docstring to a parsed GO.db."""
    terms, closure = go.terms, ancestor_closure(go.parents)
    groups: dict[str, list[str]] = {}
    for go_id in sorted(terms):
        groups.setdefault(_title_key(terms[go_id].name), []).append(go_id)
    merged = []  # (uid, ancestor set) of the de-duplicated points, rule 3
    for members in groups.values():
        labels = frozenset().union(*(closure[m] for m in members)) - set(members)
        merged.append((members[0], labels))
    sample = sorted(merged, key=lambda p: _rank(SAMPLE_SALT, p[0]))[:SAMPLE_SIZE]
    n = len(sample)
    carried = Counter(lab for _, labels in sample for lab in labels)
    dropped = sorted(
        ((lab, c) for lab, c in carried.items() if 100 * c > ROOT_CAP_PERCENT * n), key=lambda lc: (-lc[1], lc[0])
    )
    dropped_set = {lab for lab, _ in dropped}
    kept = sorted((uid, sorted(labels - dropped_set)) for uid, labels in sample if labels - dropped_set)
    label_uids = sorted({lab for _, labels in kept for lab in labels})
    index = {uid: i for i, uid in enumerate(label_uids)}
    ranked = sorted(kept, key=lambda p: _rank(SPLIT_SALT, p[0]))
    test_uids = {uid for uid, _ in ranked[: (TEST_PERCENT * len(ranked) + 50) // 100]}
    train: list[Point] = []
    test: list[Point] = []
    for uid, labels in kept:  # uid order
        point = Point(uid, terms[uid].name, terms[uid].namespace, sorted(index[lab] for lab in labels))
        (test if uid in test_uids else train).append(point)
    counts = {
        "go_terms": len(terms),
        "go_terms_by_namespace": dict(sorted(Counter(t.namespace for t in terms.values()).items())),
        "points_after_dedup": len(merged),
        "terms_merged_away": len(terms) - len(merged),
        "sampled_points": n,
        "candidate_labels": len(carried),
        "root_cap_max_points": ROOT_CAP_PERCENT * n // 100,
        "root_labels_dropped": len(dropped),
        "points_without_labels_dropped": n - len(kept),
    }
    return Built(
        train,
        test,
        label_uids,
        [terms[u].name for u in label_uids],
        counts,
        [(lab, terms[lab].name, c) for lab, c in dropped],
    )


def statistics(built: Built) -> dict[str, object]:
    """XC-repository style statistics; per-label figures count training points (the train label matrix)."""
    train, test, n_labels = built.train, built.test, len(built.label_uids)
    trn_counts = Counter(lab for p in train for lab in p.labels)
    tst_counts = Counter(lab for p in test for lab in p.labels)
    nnz_trn, nnz_tst = sum(trn_counts.values()), sum(tst_counts.values())
    with_train = sum(1 for i in range(n_labels) if trn_counts[i])
    le5 = sum(1 for i in range(n_labels) if trn_counts[i] <= 5)
    lpp = Counter(min(len(p.labels), 10) for p in train)

    def words(texts: list[str]) -> float:
        return round(sum(len(t.split()) for t in texts) / max(len(texts), 1), 2)

    return {
        "train_points": len(train),
        "test_points": len(test),
        "labels": n_labels,
        "avg_labels_per_train_point": round(nnz_trn / len(train), 2),
        "avg_labels_per_test_point": round(nnz_tst / len(test), 2),
        "avg_train_points_per_label": round(nnz_trn / n_labels, 2),
        "avg_train_points_per_label_with_train_point": round(nnz_trn / with_train, 2),
        "max_train_points_per_label": max(trn_counts.values()),
        "labels_with_le5_train_points": le5,
        "pct_labels_with_le5_train_points": round(100 * le5 / n_labels, 2),
        "labels_without_train_point": n_labels - with_train,
        "labels_without_test_point": sum(1 for i in range(n_labels) if not tst_counts[i]),
        "test_points_with_only_unseen_labels": sum(1 for p in test if all(not trn_counts[i] for i in p.labels)),
        "train_nnz": nnz_trn,
        "test_nnz": nnz_tst,
        "train_points_by_namespace": dict(sorted(Counter(p.namespace for p in train).items())),
        "test_points_by_namespace": dict(sorted(Counter(p.namespace for p in test).items())),
        "train_points_by_label_count_1..9_10+": [lpp[i] for i in range(1, 11)],
        "mean_title_words_train": words([p.title for p in train]),
        "mean_title_words_test": words([p.title for p in test]),
        "mean_label_title_words": words(built.label_titles),
    }


# Writing ---------------------------------------------------------------------------------------


def _gzip(payload: bytes) -> bytes:
    """Gzip with a fixed header (no file name, mtime 0): identical content gives identical bytes."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
        gz.write(payload)
    return buffer.getvalue()


def _lines(records: list[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


def _points(points: list[Point]) -> bytes:
    return _lines(
        [{"uid": p.uid, "title": p.title, "target_ind": p.labels, "target_rel": [1.0] * len(p.labels)} for p in points]
    )


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def licence_text(go: GOSource) -> str:
    """The CC BY 4.0 attribution and change notice the Gene Ontology licence asks of derived data."""
    return f"""The files in this folder are derived from the Gene Ontology (GO), release
{go.metadata.get("GOSOURCEDATE", "?")} ({go.metadata.get("GOSOURCEURL", "go-basic.obo")}), as packaged in
Bioconductor's GO.db: GO.sqlite with sha256 {go.sha256}.
{KNOWN_SOURCES.get(go.sha256, "")}

Gene Ontology data are licensed under the Creative Commons Attribution 4.0 International licence
(CC BY 4.0, https://creativecommons.org/licenses/by/4.0/). Attribution: the Gene Ontology Consortium,
http://geneontology.org. Cite: Ashburner et al., Gene Ontology: tool for the unification of biology,
Nat Genet 25(1):25-29, 2000; and The Gene Ontology Consortium, The Gene Ontology knowledgebase in 2023,
Genetics 224(1), 2023.

Changes made: a sample of {SAMPLE_SIZE} terms was drawn; each term's name was paired with its is_a/part_of
ancestor terms; ancestors carried by more than {ROOT_CAP_PERCENT} % of the sample were removed; terms were
split into train and test. Definitions, synonyms and all other fields were left out. The construction is
described in README.md. The GO.db packaging itself (Artistic-2.0) is not redistributed here.
"""


def render_readme(go: GOSource, built: Built, stats: dict[str, object], content_sha: dict[str, str]) -> str:
    """The folder's dataset card: provenance, licence, rules with counts, statistics, dropped labels."""
    c = built.counts
    table = "\n".join(f"| {k} | {v} |" for k, v in stats.items())
    dropped = "\n".join(f"| {uid} | {name} | {n} |" for uid, name, n in built.dropped)
    sums = "\n".join(f"| {name} | `{sha}` |" for name, sha in sorted(content_sha.items()))
    md = go.metadata
    return f"""# {DATASET_NAME}

A short-text, label-feature ("LF") extreme multi-label dataset derived from the Gene Ontology: the input is
a GO term's *name*, the labels are its `is_a`/`part_of` ancestor terms (GO terms too, so every label has a
text). About 5K training rows, for checking that models train to convergence on a second real dataset next
to the embedded `wordnet-nouns`. Built by `benchmarks/datasets/build_go.py` of xmc-harness; the dataset card
is `docs/datasets/{DATASET_NAME}.md` there. Not shipped with the package.

## Provenance and licence

- Source: Gene Ontology release {md.get("GOSOURCEDATE", "?")} (`{md.get("GOSOURCEURL", "?")}`) as packaged
  in Bioconductor GO.db (DBSCHEMA {md.get("DBSCHEMA", "?")} {md.get("DBSCHEMAVERSION", "?")}); `GO.sqlite`
  sha256 `{go.sha256}`. {KNOWN_SOURCES.get(go.sha256, "This file is not one the builder knows.")}
- Licence: GO data are CC BY 4.0 (the Gene Ontology Consortium). `LICENSE` holds the attribution and the
  list of changes, and must accompany every copy of these files.
- Rebuild: `apt-get download r-bioc-go.db` then
  `python benchmarks/datasets/build_go.py OUT_DIR --source r-bioc-go.db_3.16.0-1_all.deb`. The same
  `GO.sqlite` gives byte-identical files with the same zlib; the uncompressed checksums below compare
  rebuilds made with another zlib.

## Files

- `trn.json.gz`, `tst.json.gz`: JSON lines `{{"uid", "title", "target_ind", "target_rel"}}` (XC raw layout;
  `uid` is the GO id, `target_ind` sorted 0-based label indices, `target_rel` all 1.0), in GO-id order.
- `lbl.json.gz`: JSON lines `{{"uid", "title"}}` in label-index order (label `i` is line `i`).
- `SHA256SUMS`: `sha256sum` of every other file in this folder.

| file (uncompressed content) | sha256 |
|---|---|
{sums}

## Construction rules

1. Candidate points: all {c["go_terms"]} current GO terms ({c["go_terms_by_namespace"]}); text = the term
   name only. Definitions and synonyms are never used (definitions name the parents).
2. Labels: the ancestors over `is_a` and `part_of` (GO's annotation-propagation relations), itself excluded.
   `regulates` edges are not followed: "regulation of X" is not a kind or part of X, and X's name is in
   the title verbatim.
3. De-duplication before sampling: terms with equal names (case-folded, whitespace normalised) are merged
   (union of labels minus the members): {c["terms_merged_away"]} terms merged away,
   {c["points_after_dedup"]} points.
4. Fixed sample: points ordered by sha256("{SAMPLE_SALT}" + GO id); the first {SAMPLE_SIZE} kept.
5. Near-root labels dropped: of {c["candidate_labels"]} candidate labels, a label is kept iff
   100 x (sampled points carrying it) <= {ROOT_CAP_PERCENT} x {c["sampled_points"]}, i.e. at most
   {c["root_cap_max_points"]} points; {c["root_labels_dropped"]} labels dropped (listed below). Without this
   every point carries its namespace root and P@1 is trivial.
6. Points left with no label dropped: {c["points_without_labels_dropped"]} (every ancestor was near-root,
   e.g. direct children of `protein-containing complex` or `hexosyltransferase activity`).
7. Split: points ordered by sha256("{SPLIT_SALT}" + GO id); the first floor(({TEST_PERCENT} x n + 50) / 100)
   are test: {stats["train_points"]} train, {stats["test_points"]} test. There is no validation file: the
   harness carves validation from train.
8. Label space: every label carried by a kept point, in GO-id order: {stats["labels"]} labels, of which
   {stats["labels_without_train_point"]} have no training point (kept, XC convention).

No filter file: a point is never its own label (the closure excludes it), and reciprocal pairs would need
a cycle, which the builder refuses.

## Propensity constants

PSP@k uses A = 0.55, B = 1.5 (the XC "other" default; not fitted to GO), with propensities from the
training labels.

## Statistics

| statistic | value |
|---|---|
{table}

## Dropped near-root labels

| GO id | name | sampled points carrying it |
|---|---|---|
{dropped}
"""


def build(out_dir: Path, source: Path | None = None) -> tuple[Path, dict[str, object]]:
    """Build the dataset folder; returns it and its statistics.

    Raises:
        BuildError: the source is missing (the message says how to get it) or malformed.
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = find_sqlite(source, Path(tmp))
        go = read_go(path)
    built = construct(go)
    stats = statistics(built)
    raw = {
        "trn.json.gz": _points(built.train),
        "tst.json.gz": _points(built.test),
        "lbl.json.gz": _lines(
            [{"uid": u, "title": t} for u, t in zip(built.label_uids, built.label_titles, strict=True)]
        ),
    }
    files = {name: _gzip(payload) for name, payload in raw.items()}
    files["LICENSE"] = licence_text(go).encode("utf-8")
    content_sha = {name.removesuffix(".gz"): _sha(payload) for name, payload in raw.items()}
    files["README.md"] = render_readme(go, built, stats, content_sha).encode("utf-8")
    files["SHA256SUMS"] = "".join(f"{_sha(d)}  {n}\n" for n, d in sorted(files.items())).encode("ascii")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (out_dir / name).write_bytes(data)
    return out_dir, {**built.counts, **stats}


def main(argv: list[str] | None = None) -> int:
    """Command line: build the folder, print its path and statistics; exit 2 on a source problem."""
    default_out = Path(os.environ.get("HARNESS_DATA", "/work/data")) / DATASET_NAME
    parser = argparse.ArgumentParser(
        prog="build_go.py",
        description=f"Build the {DATASET_NAME} dataset (GO term name -> is_a/part_of ancestors, "
        f"{SAMPLE_SIZE}-term fixed sample, {100 - TEST_PERCENT}/{TEST_PERCENT} split) from Debian's r-bioc-go.db.",
        epilog="example:\n  apt-get download r-bioc-go.db\n"
        "  python benchmarks/datasets/build_go.py --source r-bioc-go.db_3.16.0-1_all.deb\n"
        f"  harness data validate {default_out}\n\n"
        f"The harness names a dataset folder by its base name: keep it '{DATASET_NAME}'.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "out_dir", nargs="?", type=Path, default=default_out, help=f"output folder (default: {default_out})"
    )
    parser.add_argument(
        "--source",
        type=Path,
        default=None,
        help=f"r-bioc-go.db .deb file, GO.sqlite, or a folder holding it (default: {INSTALLED_SQLITE})",
    )
    args = parser.parse_args(argv)
    try:
        out, stats = build(args.out_dir, args.source)
    except BuildError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    if out.name != DATASET_NAME:
        sys.stderr.write(f"note: the harness will call this dataset {out.name!r} (its folder name)\n")
    print(out)
    for key, value in stats.items():
        print(f"  {key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
