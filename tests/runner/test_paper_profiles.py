"""The short-text suite's paper profiles resolve to methods.md's per-dataset values, dataset by dataset.

The expected table below is transcribed from ../shared/docs/methods.md (§1.1 VOCAB_SIZE, §1.3 p_ext, §2.1
NUM_CLUSTERS, §2.2 dropouts and H, §2.7/§4 optimisation, §3.4 LightXML). A value the official code does not
give is marked CHOSEN and must be declared by a ``notes:`` line of the suite, which every result records.
Where ../shared is present, the transcription itself is checked against the text of methods.md.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.runner.plan import resolve_config
from harness.suites import load_suite

SEVEN = (
    "LF-AmazonTitles-131K",
    "LF-WikiSeeAlsoTitles-320K",
    "LF-AmazonTitles-1.3M",
    "WikiSeeAlsoTitles-350K",
    "WikiTitles-500K",
    "AmazonTitles-670K",
    "AmazonTitles-3M",
)
CHOSEN = "chosen"

#: dataset -> (VOCAB_SIZE, 2^b clusters, p_meta, p_ext SyncXML, p_ext InceptionXML); CHOSEN values in a set.
PAPER = {
    "WikiSeeAlsoTitles-350K": (91414, 2**15, 0.5, 0.5, 0.5),
    "WikiTitles-500K": (185479, 2**16, 0.4, 0.4, 0.4),
    "AmazonTitles-670K": (66666, 2**16, 0.3, 0.5, 0.5),
    "AmazonTitles-3M": (165431, 2**17, 0.3, 0.4, {0.4, CHOSEN}),
    "LF-AmazonTitles-131K": ({40000, CHOSEN}, 2**14, {0.3, CHOSEN}, {0.5, CHOSEN}, {0.5, CHOSEN}),
    "LF-WikiSeeAlsoTitles-320K": ({40000, CHOSEN}, {2**15, CHOSEN}, {0.5, CHOSEN}, {0.5, CHOSEN}, {0.5, CHOSEN}),
    "LF-AmazonTitles-1.3M": ({128000, CHOSEN}, {2**17, CHOSEN}, {0.3, CHOSEN}, {0.4, CHOSEN}, {0.4, CHOSEN}),
}
#: LightXML (§3.4): dataset -> (top-K clusters, hidden_dim, epochs incl. +5, batch); Wiki-500K and Amazon-670K given.
LIGHTXML = {
    "AmazonTitles-670K": (75, 400, 20, 16),
    "WikiTitles-500K": (32, 500, 15, 32),
}
#: Values every paper profile of the InceptionXML family shares (§1.1, §1.2, §2.7, §4).
ENCODER = {
    "embeddings": "glove-text",
    "seq_len": 32,
    "stopwords": "nltk",
    "vocab_mode": "transductive",
    "num_filters": 32,
    "filter_sizes": [4, 8, 16],
    "conv_stride": 4,
    "agg_kernel": 16,
    "embed_dropout": 0.25,
    "dropout": 0.25,
    "lr": 0.005,
    "weight_decay": 0.0,
    "batch_size": 128,
    "schedule": "onecycle",
    "div_factor": 10.0,
    "final_div_factor": 10000.0,
    "epochs": 45,
}


def _value(expected):
    """The number of an expected entry and whether it is our choice."""
    if isinstance(expected, set):
        (number,) = expected - {CHOSEN}
        return number, True
    return expected, False


@pytest.fixture(scope="module")
def suite():
    return load_suite("short-text")


def _config(suite, model: str, dataset: str) -> dict:
    return resolve_config(model, suite.overrides_for(model, dataset), where=f"{dataset}: ")


@pytest.mark.parametrize("dataset", SEVEN)
def test_inceptionxml_and_syncxml_profiles_equal_methods_md(suite, dataset: str) -> None:
    vocab, clusters, p_meta, p_ext_sync, p_ext_incep = (_value(v) for v in PAPER[dataset])
    inception, sync = _config(suite, "inceptionxml", dataset), _config(suite, "syncxml", dataset)
    for cfg in (inception, sync):
        assert {k: cfg[k] for k in ENCODER} == ENCODER
        assert cfg["vocab_size"] == vocab[0]
        assert cfg["patience"] is None  # a fixed-length run, as the paper
        assert cfg["amp"] == ("fp16" if dataset == "AmazonTitles-3M" else "none")
    assert inception["ext_dropout"] == p_ext_incep[0] and inception["pct_start"] == 0.3
    assert sync["pct_start"] == 0.33 and sync["proj_dropout"] == 0.0
    assert (sync["num_clusters"], sync["max_leaf"]) == (clusters[0], None)
    assert (sync["meta_dropout"], sync["ext_dropout"]) == (p_meta[0], p_ext_sync[0])
    assert (sync["top_k_clusters"], sync["meta_epoch"], sync["meta_scale"]) == (800, 10, 1.0)
    assert sync["cluster_graph"] and sync["cluster_verbose_set"] and sync["cluster_top_features"] == 1000
    assert sync["cluster_features"] == "bow"  # PIFA over the shipped trn_X_Xf.txt, as the official code
    assert sync["hidden_dims"] == (300 if dataset == "AmazonTitles-3M" else None)  # None: h's width, 480
    # Every value of our choosing is declared, so each result of the cell lists it among its deviations.
    chosen = {
        "inceptionxml": [vocab[1], p_ext_incep[1]],
        "syncxml": [vocab[1], clusters[1], p_meta[1] or p_ext_sync[1]],
    }
    for model, flags in chosen.items():
        notes = " ".join(suite.notes_for(model, dataset))
        assert ("chosen" in notes) == any(flags), (model, dataset, notes)


@pytest.mark.parametrize("dataset", SEVEN)
def test_lightxml_profiles_use_lightxml_clusters_and_per_dataset_settings(suite, dataset: str) -> None:
    wiki = "Wiki" in dataset
    top_k, hidden, epochs, batch = LIGHTXML["WikiTitles-500K" if wiki else "AmazonTitles-670K"]
    minilm = _config(suite, "lightxml-minilm", dataset)
    assert (minilm["top_k_clusters"], minilm["bottleneck_dim"], minilm["epochs"], minilm["batch_size"]) == (
        top_k,
        hidden,
        epochs,
        batch,
    )
    assert (minilm["lr"], minilm["weight_decay"], minilm["swa"], minilm["swa_warmup"], minilm["swa_step"]) == (
        1e-4,
        0.01,
        True,
        4,
        3000,
    )
    assert minilm["max_leaf"] == 100 and not minilm["cluster_graph"] and minilm["patience"] is None
    inception = _config(suite, "lightxml", dataset)
    assert (inception["top_k_clusters"], inception["bottleneck_dim"], inception["max_leaf"]) == (top_k, hidden, 100)
    assert inception["meta_epoch"] == 0 and inception["score"] == "combined" and inception["feature_dropout"] == 0.5
    assert any("optimiser" in n for n in suite.notes_for("lightxml", dataset))  # InceptionXML's, declared
    if dataset not in LIGHTXML:
        assert "chosen" in " ".join(suite.notes_for("lightxml-minilm", dataset))


def test_a_dataset_of_ones_own_gets_the_profile_defaults(suite) -> None:
    sync = resolve_config("syncxml", suite.overrides_for("syncxml", "my-own-titles"))
    assert sync["max_leaf"] == 16 and sync["num_clusters"] is None and sync["embeddings"] == "glove-text"


def test_offline_suite_keeps_its_cpu_settings() -> None:
    offline = load_suite("offline")
    cfg = resolve_config("inceptionxml", offline.overrides_for("inceptionxml", "wordnet-nouns"))
    assert cfg["embeddings"] == "glove-6b-50d" and cfg["schedule"] == "wsd"
    assert "CPU" in offline.description or "cpu" in offline.description.lower()


METHODS = Path(__file__).resolve().parents[3] / "shared" / "docs" / "methods.md"


@pytest.mark.skipif(not METHODS.is_file(), reason="../shared/docs/methods.md is not beside the checkout")
def test_the_expected_table_is_methods_md() -> None:
    """The dropouts (§2.2), VOCAB_SIZE (§1.1) and NUM_CLUSTERS (§2.1) above are read back from methods.md."""
    text = METHODS.read_text(encoding="utf-8")
    for dataset, (p_meta, p_ext) in {
        "WikiSeeAlsoTitles-350K": (0.5, 0.5),
        "AmazonTitles-670K": (0.3, 0.5),
        "AmazonTitles-3M": (0.3, 0.4),
        "WikiTitles-500K": (0.4, 0.4),
    }.items():
        row = re.search(rf"^\s*\|\s*{re.escape(dataset)}\s*\|\s*([0-9.]+)\s*\|\s*([0-9.]+)\s*\|\s*$", text, re.M)
        assert row is not None, dataset
        assert (
            (float(row.group(1)), float(row.group(2)))
            == (p_meta, p_ext)
            == _value(PAPER[dataset][2])[:1] + (_value(PAPER[dataset][3])[0],)
        )
    vocab = " ".join(text[text.index("`VOCAB_SIZE`:") :].split()[:12])  # the sentence wraps over two lines
    for dataset in ("AmazonTitles-670K", "AmazonTitles-3M", "WikiSeeAlsoTitles-350K", "WikiTitles-500K"):
        number = re.search(rf"{re.escape(dataset)} ([0-9,]+)", vocab)
        assert number is not None and int(number.group(1).replace(",", "")) == PAPER[dataset][0], dataset
    clusters = " ".join(text[text.index("hard-codes `NUM_CLUSTERS`") :].split()[:30])
    found = re.findall(r"(\S+-\d+[KM]) ([0-9,]+) \(2\^\d+\)", clusters)
    assert len(found) == 5
    for dataset, value in found:
        assert _value(PAPER[dataset][1])[0] == int(value.replace(",", "")), dataset
    assert "p_ext per dataset" in text and "WikiTitles-500K 0.4" in text
