"""The non-neural peers (omikuji Parabel/Bonsai, napkinXC PLT) and the kNN floor as contract models.

Beyond the registry-wide contract tests: they learn the synthetic problem, run on BoW-only data through
``split.X``, round-trip through save/load, say how to install a missing library, and go through
``harness run`` / ``harness report`` with FLOPs shown as n/a.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer

from harness.data.dataset import SplitData
from harness.errors import HarnessError, OptionalDependencyError
from harness.metrics import evaluate
from harness.models import model_registry
from harness.models.contract import FitContext
from harness.runner.measure import BOW_LATENCY_WHAT, profiling_queries
from tests.models.synthetic import NUM_LABELS
from tests.runner.conftest import results, write_suite


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    return tmp_path / "runs"


PEERS = ["knn", "omikuji-parabel", "omikuji-bonsai", "napkinxc-plt"]
TREES = ["omikuji-parabel", "omikuji-bonsai", "napkinxc-plt"]


def _tiny(name: str, **extra):
    cls = model_registry.get(name)
    return cls(**{**cls.tiny_config(), **extra})


def _fit(name: str, train: SplitData, val: SplitData, **extra):
    model = _tiny(name, **extra)
    model.fit(train, val, ctx=FitContext(seed=0, num_labels=NUM_LABELS, device="cpu"))
    return model


@pytest.fixture(scope="module")
def bow_splits(synthetic) -> tuple[SplitData, SplitData, SplitData]:
    """The synthetic problem as a BoW-only dataset: word counts in ``X``, no text (like Bibtex/Delicious)."""
    vec = CountVectorizer(token_pattern=r"(?u)\b\w+\b").fit(synthetic[0].texts)

    def bow(split: SplitData) -> SplitData:
        return SplitData(Y=split.Y, texts=None, X=sp.csr_matrix(vec.transform(split.texts), dtype=np.float32))

    return tuple(bow(s) for s in synthetic)  # type: ignore[return-value]


@pytest.mark.parametrize("name", PEERS)
def test_learns_the_synthetic_problem_from_text(name: str, synthetic) -> None:
    train, val, test = synthetic
    model = _fit(name, train, val)
    metrics = evaluate(model.predict_topk(test.texts, 5).indices, test.Y, k=5)
    assert metrics["p@1"] >= 0.9, metrics
    config = model.card().config
    kind = config["feature_kind"] if name == "knn" else config["features_used"]["kind"]
    assert kind == ("text" if name == "knn" else "tfidf")


@pytest.mark.parametrize("name", TREES)
def test_card_records_library_version_settings_and_features(name: str, synthetic) -> None:
    model = _fit(name, synthetic[0], synthetic[1])
    config = model.card().config
    assert config["library_version"] in ("0.5.2", "0.7.2")
    assert config["library_settings"] and config["library_settings"]["threads"] >= 1
    feats = config["features_used"]
    assert feats["kind"] == "tfidf" and feats["vocabulary_size"] == model.num_features > 0
    assert feats["tfidf"]["ngram_range"] == [1, 2]


@pytest.mark.parametrize("name", PEERS)
def test_bow_path_learns_and_round_trips(name: str, bow_splits, tmp_path: Path) -> None:
    train, val, test = bow_splits
    model = _fit(name, train, val)
    top = model.predict_split(test, 5)
    assert top.indices.shape == (len(test), 5) and top.indices.dtype == np.int64
    # raw counts without idf: the filler words weigh as much as the label words in a plain cosine
    assert evaluate(top.indices, test.Y, k=5)["p@1"] >= (0.6 if name == "knn" else 0.9)
    with pytest.raises(HarnessError, match="BoW|predict_split|featurizer"):
        model.predict_topk(["kalo0 kalo1"], 5)  # no text path for a BoW-trained model
    model.save(tmp_path / "m")
    loaded = type(model).load(tmp_path / "m")
    again = loaded.predict_split(test, 5)
    np.testing.assert_array_equal(top.indices, again.indices)
    np.testing.assert_allclose(top.scores, again.scores, rtol=1e-5)
    np.testing.assert_array_equal(loaded.predict_matrix(test.X[:3], 5).indices, top.indices[:3])


@pytest.mark.parametrize("name", ["knn", "napkinxc-plt"])
def test_repeatable_models_round_trip_bit_for_bit(name: str, synthetic, tmp_path: Path) -> None:
    model = _fit(name, synthetic[0], synthetic[1])
    model.save(tmp_path / "m")
    before, after = (
        model.predict_topk(synthetic[2].texts, 5),
        type(model).load(tmp_path / "m").predict_topk(synthetic[2].texts, 5),
    )
    np.testing.assert_array_equal(before.scores, after.scores)
    refit = _fit(name, synthetic[0], synthetic[1])
    np.testing.assert_array_equal(refit.predict_topk(synthetic[2].texts, 5).scores, before.scores)


def test_features_setting_is_checked(bow_splits) -> None:
    with pytest.raises(HarnessError, match="features='tfidf' needs raw text"):
        _fit("napkinxc-plt", bow_splits[0], bow_splits[1], features="tfidf")
    with pytest.raises(HarnessError, match="features must be"):
        _tiny("omikuji-parabel", features="words")


def test_knn_tunes_neighbours_on_validation(synthetic) -> None:
    model = _fit("knn", synthetic[0], synthetic[1])
    assert model.card().config["n_neighbors_chosen"] in (2, 5, 10)  # tiny_config's grid
    assert model.knn is not None and model.knn.n_neighbors == model.card().config["n_neighbors_chosen"]


@pytest.mark.parametrize(("name", "module"), [("omikuji-parabel", "omikuji"), ("napkinxc-plt", "napkinxc")])
def test_missing_library_names_the_install_command(name: str, module: str, synthetic, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    monkeypatch.setitem(sys.modules, f"{module}.models", None)
    with pytest.raises(OptionalDependencyError, match=r"pip install -c constraints/cpu.txt -e \."):
        _fit(name, synthetic[0], synthetic[1])


def test_profiling_queries_use_bow_rows_without_text(bow_splits, synthetic) -> None:
    model = _fit("napkinxc-plt", bow_splits[0], bow_splits[1])
    queries, predict, what = profiling_queries(model, bow_splits[2])
    assert queries == list(range(len(bow_splits[2]))) and what == BOW_LATENCY_WHAT
    np.testing.assert_array_equal(predict([0, 1], 5).indices, model.predict_split(bow_splits[2], 5).indices[:2])
    assert profiling_queries(model, synthetic[2])[0] is synthetic[2].texts


def test_peers_run_through_the_runner_and_report_flops_as_na(
    runs_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Plain `harness run` / `harness report`: latency and size are measured, FLOPs are n/a with a reason."""
    from harness.cli.main import main

    models = {
        "knn": {"n_neighbors_grid": [5, 10]},
        "omikuji-parabel": {"min_branch_size": 8, "tfidf_min_df": 1},
        "napkinxc-plt": {"max_leaves": 8, "tfidf_min_df": 1},
    }
    suite = write_suite(
        tmp_path,
        "peers-tiny",
        models=models,
        profiling={"latency_iters": 3, "warmup": 1, "throughput_batch": 16, "queries": 32},
    )
    assert main(["run", "--suite", str(suite), "--no-mlflow", "--runs-dir", str(runs_dir)]) == 0
    recs = results(runs_dir)
    for name in models:
        rec = recs[f"{name}/seed-0"]
        assert rec["status"] == "ok", rec["error"]
        assert rec["metrics"]["p@1"] > 0.5
        eff = rec["efficiency"]
        assert eff["profiled"] and eff["latency_ms_p50_bs1"] > 0 and eff["throughput_qps"] > 0
        assert eff["model_bytes"] > 0 and eff["peak_rss_mb"] > 0 and eff["train_s"] > 0
        assert eff["flops_per_query"] is None and eff["flops_na_reason"].startswith("not applicable")
    assert recs["omikuji-parabel/seed-0"]["card"]["config"]["library"] == "omikuji"
    capsys.readouterr()
    assert main(["report", "--runs-dir", str(runs_dir), "--suite", "peers-tiny", "--no-plot"]) == 0
    table = capsys.readouterr().out
    for name in models:
        row = next(line for line in table.splitlines() if line.startswith(f"| {name}"))
        assert "n/a" in row, row


@pytest.mark.shared
def test_bow_dataset_runs_through_the_runner_with_latency(shared_xc: Path, runs_dir: Path, tmp_path: Path) -> None:
    """Bibtex has no text: the peer is fitted and timed on its BoW rows."""
    from harness.cli.main import main

    suite = write_suite(
        tmp_path,
        "bow-tiny",
        datasets=["Bibtex"],
        models={"napkinxc-plt": {}},
        profiling={"latency_iters": 3, "warmup": 1, "throughput_batch": 16, "queries": 32, "crosscheck": False},
    )
    argv = ["run", "--suite", str(suite), "--no-mlflow", "--runs-dir", str(runs_dir), "--data-dir", str(shared_xc)]
    assert main(argv) == 0
    rec = results(runs_dir)["napkinxc-plt/seed-0"]
    assert rec["status"] == "ok", rec["error"]
    assert rec["card"]["config"]["features_used"]["kind"] == "bow"
    assert rec["metrics"]["p@1"] > 0.4  # napkinXC's PLT scores ~0.6 P@1 on Bibtex
    assert rec["efficiency"]["latency_what"] == BOW_LATENCY_WHAT and rec["efficiency"]["latency_ms_p50_bs1"] > 0


def test_library_threads_come_from_the_fit_context_not_the_environment(synthetic, monkeypatch) -> None:
    """The runner gives threads through FitContext.threads; an OMP_NUM_THREADS left in the shell is not read back."""
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    train, val, _ = synthetic
    model = _tiny("napkinxc-plt", threads=0)
    model.fit(train, val, ctx=FitContext(seed=0, num_labels=NUM_LABELS, threads=1))
    assert model.library_threads() == 1 and model.fit_summary["threads"] == 1
    assert model_registry.get("napkinxc-plt")(threads=3).library_threads() == 3  # an explicit setting wins
