"""Text pipeline of InceptionXML (methods.md §1.1): cleaning, vocabulary, and fixed-length id sequences.

Usage::

    from inceptionxml.text import clean_text, Vocabulary
    clean_text("Canis_familiaris, the 10mm dog's bowl")   # ['canis', 'familiaris', '10', 'mm', 'dog', 'bowl']
    vocab = Vocabulary.build([clean_text(t) for t in train_texts], max_size=50_000)
    ids = vocab.encode([clean_text(t) for t in texts], seq_len=32)  # int64 (n, 32), PAD = 0, UNK = 1
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np

PAD = "<PAD/>"
UNK = "<UNK/>"
PAD_ID = 0
UNK_ID = 1

# The regexes of §1.1, compiled once and applied in exactly this order.
_COMMA_AFTER_LETTER = re.compile(r"(?<=[A-Za-z]),")
_OUTSIDE_ALPHABET = re.compile(r"[^A-Za-z0-9.'`]")
_PERIOD_AFTER_LETTER = re.compile(r"(?<=[A-Za-z])\.")
_DIGITS_THEN_LETTERS = re.compile(r"(\d+)([A-Za-z]+)")
_POSSESSIVE_S = re.compile(r"'s ")
_POSSESSIVE_PLURAL = re.compile(r"s' ")
_CONTRACTIONS = re.compile(r"('ve|'re|'d|'ll)")
_SPACES = re.compile(r"\s{2,}")


#: Stopword lists a config may name (``stopwords``); see :func:`stopword_set`.
STOPWORD_LISTS = ("nltk", "sklearn", "none")


@lru_cache(maxsize=4)
def stopword_set(name: str) -> frozenset[str]:
    """The stopword list called ``name``.

    ``"nltk"`` is the paper's list: NLTK's English stopwords (179 lower-case words, with contractions such as
    "don't"), shipped as data in ``inceptionxml/stopwords/nltk-english.txt`` because NLTK's corpus download is
    not reachable offline. ``"sklearn"`` is scikit-learn's ``ENGLISH_STOP_WORDS`` (318 words, a superset of
    most of NLTK's), the harness's CPU default from before the NLTK list shipped. ``"none"`` disables the step.
    """
    if name == "none":
        return frozenset()
    if name == "nltk":
        from importlib.resources import files

        text = files("inceptionxml").joinpath("stopwords", "nltk-english.txt").read_text(encoding="utf-8")
        return frozenset(w for w in text.split() if w)
    if name == "sklearn":
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        return frozenset(ENGLISH_STOP_WORDS)
    raise ValueError(f"unknown stopword list {name!r} (use one of {', '.join(STOPWORD_LISTS)})")


def clean_text(text: str, stopwords: frozenset[str] | str = "sklearn") -> list[str]:
    """Clean one title into lower-case tokens, following the official pipeline step by step.

    Stopwords are dropped *before* lower-casing (as in the original), so a capitalised stopword such as
    "The" survives. If cleaning leaves nothing, the raw string split on whitespace is returned instead, so
    no title becomes all-padding.

    Args:
        text: the raw title.
        stopwords: a set of words, or the name of a list for :func:`stopword_set`.

    Returns:
        The token list (possibly longer than ``seq_len``; truncation happens in :meth:`Vocabulary.encode`).
    """
    stop = stopword_set(stopwords) if isinstance(stopwords, str) else stopwords
    s = text.replace("_", " ")
    if stop:
        s = " ".join(w for w in s.split() if w not in stop)
    # The original replaces these commas by a space (not by nothing), so "a,b" stays two tokens.
    s = _COMMA_AFTER_LETTER.sub(" ", s)
    s = _OUTSIDE_ALPHABET.sub(" ", s)
    s = _PERIOD_AFTER_LETTER.sub("", s)
    s = _DIGITS_THEN_LETTERS.sub(r"\1 \2", s)
    s = _POSSESSIVE_S.sub(" ", s)
    s = _POSSESSIVE_PLURAL.sub(" ", s)
    s = _CONTRACTIONS.sub(r" \1", s)
    s = _SPACES.sub(" ", s)
    tokens = s.strip().lower().split()
    return tokens if tokens else text.split()


def clean_texts(texts: Iterable[str], stopwords: str = "sklearn") -> list[list[str]]:
    """:func:`clean_text` over many titles (the stopword set is resolved once)."""
    stop = stopword_set(stopwords)
    return [clean_text(t, stop) for t in texts]


class Vocabulary:
    """Token ↔ id map with ``<PAD/>`` at 0 and ``<UNK/>`` at 1, then tokens by decreasing frequency.

    The paper appends UNK last and relies on padding being the most frequent token to land PAD at 0; fixing
    both ids explicitly gives the same model with less luck involved. Frequencies are kept so that the OOV
    rate of the embeddings can be reported per token occurrence as well as per vocabulary entry.
    """

    def __init__(self, itos: Sequence[str], counts: Sequence[int] | None = None) -> None:
        if len(itos) < 2 or itos[PAD_ID] != PAD or itos[UNK_ID] != UNK:
            raise ValueError(f"a vocabulary must start with {PAD!r}, {UNK!r}")
        self.itos: list[str] = list(itos)
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(self.itos)}
        self.counts: list[int] = list(counts) if counts is not None else [0] * len(self.itos)

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], max_size: int | None = None, min_count: int = 1) -> Vocabulary:
        """Count tokens and keep the ``max_size`` most frequent (ties broken alphabetically, for determinism).

        Only the first ``seq_len`` tokens matter to the model, but counting all of them is harmless for
        titles and keeps the vocabulary independent of ``seq_len``.
        """
        counter: Counter[str] = Counter()
        for tokens in token_lists:
            counter.update(tokens)
        counter.pop(PAD, None)
        counter.pop(UNK, None)
        ranked = sorted((item for item in counter.items() if item[1] >= min_count), key=lambda x: (-x[1], x[0]))
        if max_size is not None:
            ranked = ranked[:max_size]
        return cls([PAD, UNK, *(w for w, _ in ranked)], [0, 0, *(c for _, c in ranked)])

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, token_lists: Sequence[Sequence[str]], seq_len: int) -> np.ndarray:
        """Ids of each token list, truncated or right-padded with PAD to exactly ``seq_len`` (int64)."""
        out = np.full((len(token_lists), seq_len), PAD_ID, dtype=np.int64)
        get = self.stoi.get
        for i, tokens in enumerate(token_lists):
            ids = [get(w, UNK_ID) for w in tokens[:seq_len]]
            out[i, : len(ids)] = ids
        return out

    def to_dict(self) -> dict[str, list]:
        """JSON-ready form (saved beside the weights)."""
        return {"itos": self.itos, "counts": self.counts}

    @classmethod
    def from_dict(cls, data: dict[str, list]) -> Vocabulary:
        """Inverse of :meth:`to_dict`."""
        return cls(data["itos"], data.get("counts"))
