"""A tiny synthetic short-text XMC dataset that a model can actually learn (for the model tests).

Each of 30 labels owns five made-up words; a text is two words of each of its (one to three) labels plus
two shared filler words (some of them stopwords), so the labels are recoverable from the text.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from harness.data.dataset import SplitData

NUM_LABELS = 30
N_TRAIN, N_VAL, N_TEST = 160, 20, 20


def make_synthetic(
    seed: int = 0,
    num_labels: int = NUM_LABELS,
    sizes: tuple[int, int, int] = (N_TRAIN, N_VAL, N_TEST),
    words_per_label: int = 5,
) -> tuple[SplitData, SplitData, SplitData]:
    """(train, val, test) with texts and binary float32 CSR labels over ``num_labels`` labels."""
    rng = np.random.default_rng(seed)
    syllables = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "da", "ve"]
    label_words = [
        [syllables[label % 10] + syllables[(label // 10 + j) % 10] + str(label) for j in range(words_per_label)]
        for label in range(num_labels)
    ]
    fillers = ["Big", "small", "red", "old", "new", "the", "of"]
    texts, rows, cols = [], [], []
    n_train, n_val, n_test = sizes
    n = n_train + n_val + n_test
    for i in range(n):
        labels = rng.choice(num_labels, size=int(rng.integers(1, 4)), replace=False)
        words = [w for lab in labels for w in rng.choice(label_words[lab], size=min(2, words_per_label), replace=False)]
        words += list(rng.choice(fillers, size=2))
        rng.shuffle(words)
        texts.append(" ".join(words))
        rows += [i] * len(labels)
        cols += sorted(int(x) for x in labels)
    y = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n, num_labels))

    def part(lo: int, hi: int) -> SplitData:
        return SplitData(Y=y[lo:hi], texts=texts[lo:hi])

    return part(0, n_train), part(n_train, n_train + n_val), part(n_train + n_val, n)
