"""Rehearsal data: synthetic datasets in the exact file layout of each of the paper's seven short-text benchmarks.

A rehearsal runs the whole pipeline (finding the folder, reading every file, clustering with the paper's
``b``, filtering, evaluating) on a machine without the real downloads, in minutes instead of days.

Usage::

    from harness.data.rehearsal import write_rehearsal_dataset, rehearsal_vocabulary, write_glove_file
    folder = write_rehearsal_dataset("LF-AmazonTitles-131K", "/tmp/rh")    # /tmp/rh/LF-AmazonTitles-131K/
    write_glove_file("/tmp/rh/glove.synthetic.300d.txt", rehearsal_vocabulary(folder))

What is faithful to a real download (methods.md §5, §7.2): the folder and file names, ``.gz`` where the
repository ships gzip, JSON lines with ``uid``/``title``/``content``/``target_ind``/``target_rel``, the
split sparse files with their ``rows cols`` headers (BoW columns = the published feature dimension, the
vocabulary built from train), and for LF datasets ``lbl.json.gz``, ``Yf.txt`` and the filter files. LF labels
are items too: some train and test documents *are* labels (same uid and title), and the filter files hold
their self pairs and the reciprocal pairs, built as pyxclib builds them.

What is not: sizes (a few thousand points; ``2**b + 2**(b-2)`` labels by default, where ``b`` is the paper's
cluster exponent) and the words, which are generated. The data is learnable as :mod:`harness.runner.synthetic`'s
is: each label owns topic words, a title mixes the topic words of its labels with noise words, labels come in
small families that co-occur, and label frequencies follow a Zipf law. A run that scores near zero on it points
at a bug. Many labels have no training point (the long tail of real XC data); every label a test point can
carry (bar a few deliberate unseen ones) has at least one training point.

Only ``random.Random.random`` draws numbers (its stream is fixed across Python versions), gzip files carry
no timestamp and no file name, so the same arguments give byte-identical files. Every folder carries a
``rehearsal.json`` marker that says it is synthetic; the loader ignores it (it is not an XC file).
"""

from __future__ import annotations

import gzip
import json
import math
import random
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from harness.data import formats as fmt
from harness.data.catalog import dataset_registry
from harness.data.layout import REHEARSAL_MARKER
from harness.errors import HarnessError
from harness.registry import UnknownNameError, did_you_mean
from harness.runner.synthetic import new_word, zipf_sampler


def paper_cluster_bits() -> dict[str, int]:
    """The cluster exponent b (2**b SyncXML clusters) of each of the seven benchmarks, in suite order.

    Read from the short-text suite's syncxml profile, the one place that sets it (methods.md §2.1), so that a
    rehearsal always has enough labels for the clustering the suite will run.
    """
    from harness.suites import load_suite

    suite = load_suite("short-text")
    return {d: int(suite.overrides_for("syncxml", d)["num_clusters"]).bit_length() - 1 for d in suite.datasets}


#: BoW dimensions that the registry leaves unset because they are recalled, not verified (methods.md §7.1).
_RECALLED_BOW_DIM = {"LF-WikiSeeAlsoTitles-320K": 40_000, "LF-AmazonTitles-1.3M": 128_000}

#: The marker file of every rehearsal folder (not an XC file: the loader neither reads nor hashes it).
MARKER = REHEARSAL_MARKER
GLOVE_NAME = "glove.synthetic.300d.txt"

DEFAULT_TRAIN, DEFAULT_TEST = 3000, 600
TOPIC_WORDS = 3  # words owned by each learnable label
MAX_LABELS = 4  # labels per point: 1..MAX_LABELS
TITLE_WORDS = (3, 12)  # title length in words, inclusive
MAX_FAMILY = 4  # co-occurring label families of 1..MAX_FAMILY labels
P_FAMILY = 0.5  # chance that a point's further label comes from its first label's family
P_TRAIN_ITEM = 0.2  # LF: share of the train rows not needed for label coverage that are label items
P_TEST_ITEM = 0.15  # LF: share of test rows that are label items (their self pairs get filtered)
P_TEST_UNSEEN = 0.02  # share of test rows that also carry a label with no training point
NOISE_WORDS = 200  # generated words that belong to no label
OOV_FRACTION = 0.1  # share of the vocabulary that write_glove_file leaves out on purpose


@dataclass(frozen=True)
class _Style:
    """How a source's titles and ids look (Amazon product titles or Wikipedia article titles)."""

    amazon: bool
    stopwords: tuple[str, ...]
    common: tuple[str, ...]  # real words shared by no label, as GloVe knows them
    numbers: tuple[str, ...]


_AMAZON = _Style(
    amazon=True,
    stopwords=("for", "with", "and", "of", "the", "in", "by"),
    common=(
        "black", "white", "pack", "set", "new", "edition", "kit", "inch", "cover", "case", "mini", "pro",
        "series", "box", "large", "size", "book", "volume", "paperback", "deluxe", "replacement", "original",
    ),
    numbers=("2", "3", "4", "6", "10", "12", "24", "100", "2000"),
)  # fmt: skip
_WIKI = _Style(
    amazon=False,
    stopwords=("of", "the", "in", "and", "on", "at"),
    common=(
        "list", "history", "district", "river", "school", "county", "national", "league", "station", "party",
        "film", "album", "battle", "church", "island", "war", "university", "football", "season", "railway",
    ),
    numbers=("1", "2", "1896", "1944", "1978", "1998", "2004", "2012"),
)  # fmt: skip


def rehearsal_name(name: str) -> str:
    """The canonical name of one of the seven benchmarks (any registered spelling); else a did-you-mean error."""
    known = list(paper_cluster_bits())
    try:
        canonical = dataset_registry.canonical(name)
    except UnknownNameError:
        canonical = None
    if canonical not in known:
        raise HarnessError(
            f"no rehearsal layout for dataset {name!r}.{did_you_mean(name, known)} "
            f"Rehearsal datasets: {', '.join(known)}"
        )
    return canonical


def default_num_labels(name: str) -> int:
    """``2**b + 2**(b-2)`` for the dataset's paper cluster exponent ``b``: just over the 2**b clusters the
    paper's clustering makes, so that clustering runs with the paper's ``b`` and some clusters hold two labels.
    """
    b = paper_cluster_bits()[rehearsal_name(name)]
    return 2**b + 2 ** (b - 2)


def bow_dim(name: str) -> int:
    """The BoW column count a rehearsal writes: the published dimension (or the recalled one, methods.md §7.1)."""
    canonical = rehearsal_name(name)
    return dataset_registry.get(canonical).bow_dim or _RECALLED_BOW_DIM[canonical]


# Generation -----------------------------------------------------------------------------------------
@dataclass
class _Corpus:
    trn: list[dict]
    tst: list[dict]
    lbl: list[dict] | None
    filter_test: list[tuple[int, int]]
    filter_train: list[tuple[int, int]]
    learnable: int


def _pick(rng: random.Random, seq: Sequence):
    return seq[int(rng.random() * len(seq))]


def _shuffled(rng: random.Random, items: list) -> list:
    keys = [rng.random() for _ in items]
    return [items[i] for i in sorted(range(len(items)), key=keys.__getitem__)]


_BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_BASE36_PAIRS = [x + y for x in _BASE36 for y in _BASE36]


def _base36_4(n: int) -> str:
    """``n < 36**4`` as 4 base-36 digits."""
    hi, lo = divmod(n, 36 * 36)
    return _BASE36_PAIRS[hi] + _BASE36_PAIRS[lo]


def _uid(rng: random.Random, style: _Style, used: set[str]) -> str:
    """A fresh id that looks like the source's: an ASIN for Amazon, a page id for Wikipedia."""
    while True:
        if style.amazon:  # 8 base-36 digits from one draw (36**8 < 2**53, so every digit is uniform)
            n = int(rng.random() * 36**8)
            a, b = divmod(n, 36**4)
            uid = "B0" + _base36_4(a) + _base36_4(b)
        else:
            uid = str(10_000 + int(rng.random() * 70_000_000))
        if uid not in used:
            used.add(uid)
            return uid


class _Generator:
    """Draws titles, label sets and records for one dataset (all randomness through one ``rng``)."""

    def __init__(self, name: str, lf: bool, num_labels: int, n_train: int, seed: int) -> None:
        # lf: label items need titles, so the tail labels get filler words
        self.rng = rng = random.Random(f"rehearsal:{name}:{seed}")
        self.style = _AMAZON if "Amazon" in name else _WIKI
        # Learnable labels: a random subset spread over the id space; its order is the Zipf rank order.
        ids = list(range(num_labels))
        n_learn = min(num_labels, max(1, n_train // 2))
        for i in range(n_learn):
            j = i + int(rng.random() * (num_labels - i))
            ids[i], ids[j] = ids[j], ids[i]
        self.learnable = ids[:n_learn]
        self.unseen = ids[n_learn:]
        n_filler = min(5000, max(50, len(self.unseen) // 10)) if lf else 0
        needed = TOPIC_WORDS * n_learn + NOISE_WORDS + n_filler
        syllables = 3
        while 16**syllables < 8 * needed:  # keep the rejection draw of new words cheap
            syllables += 1
        used: set[str] = set()
        self.topics = {lab: [new_word(rng, used, syllables) for _ in range(TOPIC_WORDS)] for lab in self.learnable}
        self.noise = [new_word(rng, used, syllables) for _ in range(NOISE_WORDS)]
        self.filler = [new_word(rng, used, syllables) for _ in range(n_filler)]
        self.family: dict[int, tuple[int, ...]] = {}
        order = _shuffled(rng, self.learnable)
        while order:
            size = 1 + int(rng.random() * MAX_FAMILY)
            group, order = tuple(sorted(order[:size])), order[size:]
            for lab in group:
                self.family[lab] = group
        self.zipf = zipf_sampler(rng, n_learn)
        style = self.style
        self._kinds = ((0.0, 0.15, style.stopwords), (0.15, 0.25, style.numbers), (0.25, 0.5, style.common))

    # text ---------------------------------------------------------------------------------------
    def _noise_word(self) -> str:
        # one draw picks both the kind (15 % stopwords, 10 % numbers, 25 % common words, 50 % generated
        # noise words) and, rescaled, the word within that kind
        u = self.rng.random()
        for lo, hi, words in self._kinds:
            if u < hi:
                return words[min(int((u - lo) / (hi - lo) * len(words)), len(words) - 1)]
        return self.noise[int((u - 0.5) * 2 * len(self.noise))]

    def _case(self, words: list[str]) -> str:
        if self.style.amazon:  # Title Case product names; short function words stay lower-case
            return " ".join(w if w in self.style.stopwords else w.capitalize() for w in words)
        return " ".join([words[0].capitalize(), *words[1:]]) if words else ""

    def content(self, title: str) -> str:
        """A short description that starts with the title (the ``content`` field; the *Titles sets do not use it)."""
        extra = [self._noise_word() for _ in range(2 + int(self.rng.random() * 5))]
        return f"{title} {' '.join(extra)}."

    def _topic_words(self, lab: int, count: int) -> list[str]:
        words = self.topics[lab]
        first = int(self.rng.random() * len(words))
        if count == 1:
            return [words[first]]
        return [words[first], words[(first + 1 + int(self.rng.random() * (len(words) - 1))) % len(words)]]

    def title(self, labels: Iterable[int]) -> str:
        lo, hi = TITLE_WORDS
        target = lo + int(self.rng.random() * (hi - lo + 1))
        words = []
        for lab in labels:
            if lab in self.topics:  # one or two of each learnable label's topic words
                words += self._topic_words(lab, 1 + int(self.rng.random() * 2))
        words = words[:hi] + [self._noise_word() for _ in range(target - len(words))]
        return self._case(_shuffled(self.rng, words))

    def label_title(self, lab: int) -> str:
        """An LF label's own title: two of its topic words (learnable labels) or filler words (the tail)."""
        if lab in self.topics:
            words = self._topic_words(lab, 2) + [self._noise_word() for _ in range(1 + int(self.rng.random() * 3))]
        else:
            words = [_pick(self.rng, self.filler) for _ in range(1 + int(self.rng.random() * 3))]
            words += [self._noise_word() for _ in range(1 + int(self.rng.random() * 2))]
        return self._case(_shuffled(self.rng, words))

    # labels -------------------------------------------------------------------------------------
    def label_set(self, first: int | None = None) -> list[int]:
        first = self.learnable[self.zipf()] if first is None else first
        labels = {first}
        for _ in range(int(self.rng.random() * MAX_LABELS)):
            if self.rng.random() < P_FAMILY:
                labels.add(_pick(self.rng, self.family[first]))
            else:
                labels.add(self.learnable[self.zipf()])
        return sorted(labels)

    def record(self, uid: str, title: str, labels: list[int], content: str | None = None) -> dict:
        """One JSON line in pyxclib's field order."""
        return {
            "uid": uid,
            "title": title,
            "content": self.content(title) if content is None else content,
            "target_ind": labels,
            "target_rel": [1.0] * len(labels),
        }


def _generate(name: str, lf: bool, num_labels: int, n_train: int, n_test: int, seed: int) -> _Corpus:
    g = _Generator(name, lf, num_labels, n_train, seed)
    rng = g.rng
    uids: set[str] = set()
    lbl = None
    if lf:  # every label is an item with an id and a title, as in lbl.json.gz
        lbl = []
        for lab in range(num_labels):
            title = g.label_title(lab)
            lbl.append({"uid": _uid(rng, g.style, uids), "title": title, "content": g.content(title)})
    # items eligible to be documents too: learnable labels with family, so their documents have labels
    items = [lab for lab in g.learnable if len(g.family[lab]) > 1]
    taken: set[int] = set()

    def item_record(lab: int) -> dict:
        assert lbl is not None
        taken.add(lab)
        targets = [m for m in g.family[lab] if m != lab]  # an item is never its own label
        return g.record(lbl[lab]["uid"], lbl[lab]["title"], targets, lbl[lab]["content"])

    trn: list[dict] = []
    train_items: dict[int, int] = {}  # label -> train row
    for row in range(n_train):
        # the even rows give every learnable label a training point; items take only other rows
        cover = row // 2 if row % 2 == 0 and row // 2 < len(g.learnable) else None
        if cover is None and lf and items and rng.random() < P_TRAIN_ITEM:
            lab = _pick(rng, items)
            if lab not in taken:
                train_items[lab] = row
                trn.append(item_record(lab))
                continue
        labels = g.label_set(None if cover is None else g.learnable[cover])
        trn.append(g.record(_uid(rng, g.style, uids), g.title(labels), labels))

    tst: list[dict] = []
    test_items: dict[int, int] = {}
    known_items = sorted(train_items)
    for row in range(n_test):
        if lf and items and rng.random() < P_TEST_ITEM:
            # half the time a family member of a train item, so that reciprocal pairs occur
            pool = g.family[_pick(rng, known_items)] if known_items and rng.random() < 0.5 else items
            lab = _pick(rng, pool)
            if lab not in taken:
                test_items[lab] = row
                tst.append(item_record(lab))
                continue
        labels = g.label_set()
        title = g.title(labels)
        if g.unseen and rng.random() < P_TEST_UNSEEN:  # a label no training point has: not learnable
            labels = sorted({*labels, _pick(rng, g.unseen)})
        tst.append(g.record(_uid(rng, g.style, uids), title, labels))

    # pyxclib's construction (methods.md §5): self pairs, then reciprocal pairs (test doc A = label A,
    # train doc B = label B, B has label A in training -> (A's row, B)); the train filter holds self pairs.
    filter_test = {(row, lab) for lab, row in test_items.items()}
    for b, b_row in train_items.items():
        for a in trn[b_row]["target_ind"]:
            if a in test_items:
                filter_test.add((test_items[a], b))
    filter_train = sorted((row, lab) for lab, row in train_items.items())
    return _Corpus(trn, tst, lbl, sorted(filter_test), filter_train, len(g.learnable))


# Files ------------------------------------------------------------------------------------------------
def _write_json_gz(path: Path, records: list[dict]) -> None:
    """JSON lines through gzip with no timestamp and no file name in the header (byte-reproducible)."""
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz:
        for start in range(0, len(records), 4096):
            gz.write("".join(json.dumps(r) + "\n" for r in records[start : start + 4096]).encode("utf-8"))


_TOKEN = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> list[str]:
    """Lower-case alphanumeric tokens: the words of a rehearsal title as the text pipelines see them."""
    return _TOKEN.findall(text.lower())


def _label_matrix(records: list[dict], num_labels: int) -> sp.csr_matrix:
    indptr = np.cumsum([0, *(len(r["target_ind"]) for r in records)], dtype=np.int64)
    indices = np.fromiter((i for r in records for i in r["target_ind"]), np.int64, count=int(indptr[-1]))
    return sp.csr_matrix((np.ones(indices.size, np.float32), indices, indptr), shape=(len(records), num_labels))


class _Bow:
    """TF-IDF bag of words with the vocabulary of the training titles, ``dim`` columns, rows L2-normalised."""

    def __init__(self, train_titles: list[str], dim: int) -> None:
        df: dict[str, int] = {}
        for title in train_titles:
            for word in set(tokens(title)):
                df[word] = df.get(word, 0) + 1
        vocab = sorted(df, key=lambda w: (-df[w], w))[:dim]  # most frequent first, as a capped vocabulary
        self.index = {w: i for i, w in enumerate(vocab)}
        n = len(train_titles)
        self.idf = {w: math.log((1 + n) / (1 + df[w])) + 1.0 for w in vocab}
        self.dim = dim

    def matrix(self, titles: list[str]) -> sp.csr_matrix:
        indptr, indices, data = [0], [], []
        for title in titles:
            counts: dict[int, tuple[str, int]] = {}
            for word in tokens(title):
                if word in self.index:
                    i = self.index[word]
                    counts[i] = (word, counts.get(i, (word, 0))[1] + 1)
            weights = {i: c * self.idf[w] for i, (w, c) in counts.items()}
            norm = math.sqrt(sum(v * v for v in weights.values())) or 1.0
            for i in sorted(weights):
                indices.append(i)
                data.append(weights[i] / norm)
            indptr.append(len(indices))
        return sp.csr_matrix(
            (np.asarray(data, np.float32), np.asarray(indices, np.int64), np.asarray(indptr, np.int64)),
            shape=(len(titles), self.dim),
        )


def _write_pairs(path: Path, pairs: list[tuple[int, int]]) -> None:
    path.write_text("".join(f"{r} {c}\n" for r, c in pairs), encoding="utf-8")


def write_rehearsal_dataset(
    name: str,
    out_dir: str | Path,
    *,
    num_labels: int | None = None,
    n_train: int = DEFAULT_TRAIN,
    n_test: int = DEFAULT_TEST,
    seed: int = 0,
) -> Path:
    """Write synthetic data in dataset ``name``'s exact layout to ``out_dir/<canonical name>/``; return that folder.

    Args:
        name: one of the seven short-text benchmarks (any registered spelling; see :func:`paper_cluster_bits`).
        out_dir: parent folder, as later passed to ``--data-dir``.
        num_labels: L (default ``2**b + 2**(b-2)`` with the paper's cluster exponent ``b``).
        n_train, n_test: points per split.
        seed: generator seed; the same arguments always give byte-identical files.

    Raises:
        HarnessError: unknown dataset, sizes below 1, or a folder of that name that is not a rehearsal folder
            (real data is never overwritten; an earlier rehearsal is replaced).
    """
    canonical = rehearsal_name(name)
    spec = dataset_registry.get(canonical)
    L = default_num_labels(canonical) if num_labels is None else num_labels
    for what, value in (("num_labels", L), ("n_train", n_train), ("n_test", n_test)):
        if value < 1:
            raise HarnessError(f"{what} must be at least 1, got {value}")
    base = Path(out_dir).expanduser()
    folder = base / canonical
    if folder.exists() and not (folder / MARKER).is_file():
        raise HarnessError(
            f"{folder} exists and is not a rehearsal folder (no {MARKER}); it may hold the real data. "
            "Choose another output folder."
        )
    corpus = _generate(canonical, spec.lf, L, n_train, n_test, seed)
    dim = bow_dim(canonical)
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=base, prefix=f".{canonical}."))
    try:
        _write_json_gz(tmp / "trn.json.gz", corpus.trn)
        _write_json_gz(tmp / "tst.json.gz", corpus.tst)
        bow = _Bow([r["title"] for r in corpus.trn], dim)
        for split, records in (("trn", corpus.trn), ("tst", corpus.tst)):
            fmt.write_sparse_matrix(tmp / f"{split}_X_Xf.txt", bow.matrix([r["title"] for r in records]))
            fmt.write_sparse_matrix(tmp / f"{split}_X_Y.txt", _label_matrix(records, L))
        if spec.lf:
            assert corpus.lbl is not None and spec.filter_test and spec.filter_train
            _write_json_gz(tmp / "lbl.json.gz", corpus.lbl)
            fmt.write_sparse_matrix(tmp / "Yf.txt", bow.matrix([r["title"] for r in corpus.lbl]))
            _write_pairs(tmp / spec.filter_test, corpus.filter_test)
            _write_pairs(tmp / spec.filter_train, corpus.filter_train)
        marker = {
            "synthetic": True,
            "note": f"rehearsal data written by harness.data.rehearsal; NOT the real {canonical}",
            "dataset": canonical,
            "num_labels": L,
            "paper_cluster_bits": paper_cluster_bits()[canonical],
            "n_train": n_train,
            "n_test": n_test,
            "seed": seed,
            "bow_dim": dim,
            "bow_vocabulary": len(bow.index),
            "learnable_labels": corpus.learnable,
            "filter_test_pairs": len(corpus.filter_test) if spec.lf else None,
            "filter_train_pairs": len(corpus.filter_train) if spec.lf else None,
        }
        (tmp / MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tmp.chmod(0o755)  # mkdtemp makes it 0700
        if folder.exists():  # an earlier rehearsal (checked above)
            shutil.rmtree(folder)
        tmp.rename(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def read_marker(folder: str | Path) -> dict | None:
    """The ``rehearsal.json`` of a rehearsal folder, or ``None`` for any other folder."""
    path = Path(folder) / MARKER
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def rehearsal_vocabulary(folder: str | Path) -> list[str]:
    """Every distinct token of the titles (train, test and label titles), sorted: what ``--glove`` should cover."""
    root = Path(folder)
    words: set[str] = set()
    for name in ("trn.json.gz", "tst.json.gz", "lbl.json.gz"):
        if (root / name).is_file():
            for title in fmt.read_json_lines(root / name, targets=False).texts:
                words.update(tokens(title))
    return sorted(words)


class GloveFile(NamedTuple):
    """What :func:`write_glove_file` wrote: the file, the words it holds and those left out on purpose."""

    path: Path
    written: list[str]
    left_out: list[str]


def write_glove_file(path: str | Path, words: Iterable[str], dim: int = 300, seed: int = 0) -> GloveFile:
    """Write a GloVe-format text file (``word v1 ... v<dim>`` per line) for most of ``words``.

    About ``OOV_FRACTION`` of the distinct words (at least one when there are two or more) are left out, so a
    rehearsal exercises the out-of-vocabulary path (random vectors for words GloVe lacks, methods.md §1.1).
    Vectors are uniform in [-0.4, 0.4), printed with 5 decimals as GloVe's are; they carry no meaning.
    """
    if dim < 1:
        raise HarnessError(f"dim must be at least 1, got {dim}")
    rng = random.Random(f"glove:{seed}")
    vocab = sorted(set(words))
    drop = [rng.random() < OOV_FRACTION for _ in vocab]
    if len(vocab) >= 2 and not any(drop):
        drop[int(rng.random() * len(vocab))] = True
    if vocab and all(drop):
        drop[0] = False
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    written = [w for w, d in zip(vocab, drop, strict=True) if not d]
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for word in written:
            fh.write(word + " " + " ".join([f"{(rng.random() - 0.5) * 0.8:.5f}" for _ in range(dim)]) + "\n")
    return GloveFile(path, written, [w for w, d in zip(vocab, drop, strict=True) if d])
