"""PECOS XR-Linear ("pecos-xrlinear"): runs in `tox -e pecos`; in the default env only the missing-extra checks run.

libpecos is an optional extra with its own tox environment (it forces numpy<2), so every test that trains asks for
the ``pecos`` fixture, which skips when libpecos is absent; the tests of the error a user sees without the extra
run everywhere (one against the real absence, one simulating it).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from harness.data.dataset import SplitData
from harness.errors import HarnessError, OptionalDependencyError
from harness.models import model_registry
from harness.models.contract import FitContext
from tests.models.synthetic import NUM_LABELS

HAVE_PECOS = importlib.util.find_spec("pecos") is not None
INSTALL = "pip install -c constraints/cpu.txt -e .[pecos]"


@pytest.fixture(scope="module")
def pecos():
    return pytest.importorskip("pecos", reason="libpecos is an optional extra: run `tox -e pecos`")


def _model(**overrides):
    cls = model_registry.get("pecos-xrlinear")
    return cls(**{**cls.tiny_config(), **overrides})


def _precision_at_1(top, Y: sp.csr_matrix) -> float:
    Y = sp.csr_matrix(Y)
    return float(np.mean([Y[i, j] if j >= 0 else 0.0 for i, j in enumerate(top.indices[:, 0])]))


def _bow(splits: tuple[SplitData, ...]) -> tuple[SplitData, ...]:
    """The synthetic splits as a BoW-only dataset (like Bibtex): counts over the train vocabulary, no texts."""
    from sklearn.feature_extraction.text import CountVectorizer

    vec = CountVectorizer(dtype=np.float32).fit(splits[0].texts)
    return tuple(SplitData(Y=s.Y, X=sp.csr_matrix(vec.transform(s.texts))) for s in splits)


# ------------------------------------------------------------------------------ without the extra


@pytest.mark.skipif(HAVE_PECOS, reason="libpecos is installed here; the missing-extra error cannot occur")
def test_missing_extra_gives_one_clear_error():
    cls = model_registry.get("pecos-xrlinear")  # importing the adapter works without libpecos
    with pytest.raises(OptionalDependencyError) as err:
        cls()
    message = str(err.value)
    assert INSTALL in message and "tox -e pecos" in message
    assert isinstance(err.value, HarnessError) and isinstance(err.value, ImportError)


def test_missing_extra_simulated(monkeypatch: pytest.MonkeyPatch):
    """The same error where libpecos *is* installed: a ``None`` entry in sys.modules makes its import fail."""
    cls = model_registry.get("pecos-xrlinear")
    for name in [m for m in sys.modules if m == "pecos" or m.startswith("pecos.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pecos", None)
    with pytest.raises(OptionalDependencyError, match="tox -e pecos") as err:
        cls()
    assert INSTALL in str(err.value)


# ------------------------------------------------------------------------------ with the extra


@pytest.fixture(scope="module")
def fitted(pecos, synthetic):
    model = _model()
    model.fit(synthetic[0], synthetic[1], ctx=FitContext(seed=0, num_labels=NUM_LABELS, device="cpu"))
    return model


def test_learns_the_synthetic_problem(fitted, synthetic):
    test = synthetic[2]
    top = fitted.predict_split(test, 5)
    assert _precision_at_1(top, test.Y) >= 0.9
    assert fitted.card().config["features_used"]["kind"] == "tfidf"


def test_label_tree_follows_the_settings(fitted):
    # 30 labels, leaves of <= 4 and branching 4: PECOS's k-means tree has 8 leaves under 2 top clusters.
    tree = fitted.tree_sizes()
    assert tree[-1] == NUM_LABELS and len(tree) >= 3
    assert all(a < b for a, b in zip(tree, tree[1:], strict=False))
    nnz = fitted.weight_nnz()
    assert len(nnz) == len(tree) and all(n > 0 for n in nnz)


def test_card_records_library_settings_and_version(fitted):
    card = fitted.card()
    assert card.config["library_version"] == "1.2.8"
    settings = card.config["library_settings"]
    assert settings["indexer"]["nr_splits"] == 4 and settings["indexer"]["max_leaf_size"] == 4
    assert settings["train"]["solver_type"] == "L2R_L2LOSS_SVC_DUAL"
    assert settings["predict"]["post_processor"] == "l3-hinge"
    assert card.params["total"] == card.params["head"] + card.params["embedding"] > 0
    assert any("nr_splits 4 (PECOS default: 16)" in d for d in card.deviations)


def test_default_config_has_no_setting_deviations(pecos):
    from baselines.pecos_xrlinear import PECOS_DEFAULTS

    model = model_registry.get("pecos-xrlinear")()
    assert all("PECOS default" not in d for d in model.deviations())
    assert {k: getattr(model.config, k) for k in PECOS_DEFAULTS} == PECOS_DEFAULTS


def test_save_load_round_trip_in_pecos_format(fitted, synthetic, tmp_path: Path):
    fitted.save(tmp_path / "m")
    files = {p.relative_to(tmp_path / "m").as_posix() for p in (tmp_path / "m").rglob("*") if p.is_file()}
    assert "library/param.json" in files and any(f.endswith("/W.npz") for f in files)
    assert not any(f.endswith((".pkl", ".pickle", ".pt")) for f in files)
    loaded = type(fitted).load(tmp_path / "m")
    texts = synthetic[2].texts
    before, after = fitted.predict_topk(texts, 5), loaded.predict_topk(texts, 5)
    np.testing.assert_array_equal(before.indices, after.indices)
    np.testing.assert_array_equal(before.scores, after.scores)
    assert loaded.card().params == fitted.card().params
    assert loaded.tree_sizes() == fitted.tree_sizes()


def test_k_beyond_only_topk(fitted, synthetic):
    # only_topk (20) is raised to k, so all 30 labels can be asked for; rows are still descending and unique.
    top = fitted.predict_topk(synthetic[2].texts, 25)
    assert top.indices.shape == (len(synthetic[2]), 25)
    for row, scores in zip(top.indices, top.scores, strict=True):
        real = row[row >= 0]
        assert len(set(real.tolist())) == len(real)
        assert np.all(np.diff(scores[row >= 0]) <= 0)


def test_bow_features(pecos, synthetic, tmp_path: Path):
    train, val, test = _bow(synthetic)
    model = _model()
    model.fit(train, val, ctx=FitContext(seed=0, num_labels=NUM_LABELS, device="cpu"))
    assert model.card().config["features_used"]["kind"] == "bow"
    assert model.card().params["embedding"] == 0
    top = model.predict_split(test, 5)
    assert _precision_at_1(top, test.Y) >= 0.9
    with pytest.raises(HarnessError):
        model.predict_topk(["anything"], 5)  # a BoW model has no text featurizer
    model.save(tmp_path / "bow")
    again = type(model).load(tmp_path / "bow").predict_split(test, 5)
    np.testing.assert_array_equal(top.indices, again.indices)
    np.testing.assert_array_equal(top.scores, again.scores)


def test_load_refuses_other_folders(pecos, tmp_path: Path):
    with pytest.raises(HarnessError):
        model_registry.get("pecos-xrlinear").load(tmp_path)
