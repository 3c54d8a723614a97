"""Tiny synthetic XMC datasets generated deterministically on first use, for the ``smoke`` suite and tests.

Usage::

    from harness.runner.synthetic import SYNTHETIC, materialize
    folder = materialize("synthetic-tiny")     # $HARNESS_HOME/synthetic/synthetic-tiny/{trn,tst,lbl}.json
    ds = load_dataset(folder)                   # an ordinary XC "json" layout folder, name "synthetic-tiny"

The data is learnable on purpose (each label owns a few topic words and a point's title mixes the topic
words of its labels with noise), so a smoke run that scores near zero points at a broken pipeline. Only
``random.Random.random`` is used: its stream is fixed across Python versions, so the files, their sha256
and therefore the cell keys never change from one machine to another.
"""

from __future__ import annotations

import bisect
import json
import os
import random
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.paths import harness_home

_SYLLABLES = ("ka", "lo", "mi", "nu", "pe", "ra", "si", "to", "vu", "ze", "bo", "da", "fe", "gi", "ju", "ly")


@dataclass(frozen=True)
class SyntheticSpec:
    """Size and seed of one synthetic dataset (changing any of them changes its files and sha256)."""

    n_train: int
    n_test: int
    n_labels: int
    topic_words: int = 3  # words owned by each label
    max_labels: int = 3  # labels per point: 1..max_labels
    noise_words: int = 60  # vocabulary shared by no label
    seed: int = 0


#: Synthetic datasets by name; the smoke suite uses ``synthetic-tiny``.
SYNTHETIC: dict[str, SyntheticSpec] = {
    "synthetic-tiny": SyntheticSpec(n_train=400, n_test=120, n_labels=40),
    "synthetic-small": SyntheticSpec(n_train=4000, n_test=1000, n_labels=300, seed=1),
}


def is_synthetic(name: str) -> bool:
    """True when ``name`` is a synthetic dataset of this module (case-insensitive)."""
    return name.lower() in SYNTHETIC


def new_word(rng: random.Random, used: set[str], syllables: int = 3) -> str:
    """A pronounceable lower-case word of ``syllables`` syllables not in ``used`` (added to it).

    There are ``16 ** syllables`` such words; ask for well under that many (the draw is by rejection).
    Shared with :mod:`harness.data.rehearsal`, which needs more syllables for larger vocabularies.
    """
    while True:
        word = "".join(_SYLLABLES[int(rng.random() * len(_SYLLABLES))] for _ in range(syllables))
        if word not in used:
            used.add(word)
            return word


def zipf_sampler(rng: random.Random, n: int, exponent: float = 0.8) -> Callable[[], int]:
    """A function drawing ranks ``0..n-1`` with probability proportional to ``1 / (rank + 1) ** exponent``.

    One ``rng.random()`` per draw, inverted by bisection over the cumulative weights (the first rank whose
    cumulative weight reaches the draw), so the stream of ranks depends only on ``rng``'s stream.
    """
    cumulative, total = [], 0.0
    for rank in range(n):
        total += 1.0 / (rank + 1) ** exponent
        cumulative.append(total)

    def draw() -> int:
        return bisect.bisect_left(cumulative, rng.random() * total)

    return draw


def generate(spec: SyntheticSpec) -> dict[str, list[dict]]:
    """The JSON-lines records of ``trn``, ``tst`` and ``lbl`` for ``spec`` (pure function of the spec)."""
    rng = random.Random(spec.seed)
    used: set[str] = set()
    topics = [[new_word(rng, used) for _ in range(spec.topic_words)] for _ in range(spec.n_labels)]
    noise = [new_word(rng, used) for _ in range(spec.noise_words)]
    # A Zipf-like label prior gives head and tail labels, so PSP@k differs from P@k as on real data.
    draw_label = zipf_sampler(rng, spec.n_labels)

    def point(uid: str) -> dict:
        count = 1 + int(rng.random() * spec.max_labels)
        labels = sorted({draw_label() for _ in range(count)})
        words = [topics[lab][int(rng.random() * spec.topic_words)] for lab in labels for _ in range(2)]
        words.append(noise[int(rng.random() * len(noise))])
        order = sorted(range(len(words)), key=lambda _: rng.random())
        title = " ".join(words[i] for i in order)
        return {"uid": uid, "title": title, "target_ind": labels, "target_rel": [1.0] * len(labels)}

    return {
        "trn": [point(f"trn{i:06d}") for i in range(spec.n_train)],
        "tst": [point(f"tst{i:06d}") for i in range(spec.n_test)],
        "lbl": [{"uid": f"lbl{i:05d}", "title": " ".join(t[:2])} for i, t in enumerate(topics)],
    }


def materialize(name: str, root: Path | None = None) -> Path:
    """Write synthetic dataset ``name`` under ``root`` (default ``$HARNESS_HOME/synthetic``) once; return its folder.

    The folder is built in a temporary sibling and renamed into place, so a killed build never leaves a
    half-written dataset that a later run would read.
    """
    spec = SYNTHETIC[name.lower()]
    base = root if root is not None else harness_home() / "synthetic"
    folder = base / name.lower()
    if (folder / "lbl.json").is_file():
        return folder
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=base, prefix=f".{name.lower()}."))
    try:
        for split, rows in generate(spec).items():
            text = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows)
            (tmp / f"{split}.json").write_text(text, encoding="utf-8")
        try:
            os.rename(tmp, folder)
        except OSError:
            if not (folder / "lbl.json").is_file():  # not a concurrent build that won the race
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder
