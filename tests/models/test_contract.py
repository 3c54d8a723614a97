"""The model contract, checked for every registered model with a tiny config on a tiny synthetic dataset.

A new model gets these tests by registering itself; give it a fast configuration with a ``tiny_config()``
classmethod returning config overrides (the contract declares it, default none).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from harness.errors import OptionalDependencyError
from harness.models import model_registry
from harness.models.contract import FitContext, FitReport, ModelCard, TopK, XMCModel
from tests.models.synthetic import NUM_LABELS

NAMES = model_registry.names()


def tiny_overrides(name: str) -> dict:
    return model_registry.get(name).tiny_config()


def fit_model(name: str, synthetic, seed: int = 0) -> tuple[XMCModel, FitReport]:
    train, val, _ = synthetic
    model = model_registry.get(name)(**tiny_overrides(name))
    report = model.fit(train, val, ctx=FitContext(seed=seed, num_labels=NUM_LABELS, device="cpu"))
    return model, report


@pytest.fixture(scope="module", params=NAMES)
def fitted(request, synthetic):
    """(name, model, report) fitted once per module and model; skipped when the model's optional extra is absent."""
    try:
        model, report = fit_model(request.param, synthetic)
    except OptionalDependencyError as exc:  # e.g. pecos-xrlinear outside `tox -e pecos`
        pytest.skip(str(exc))
    return request.param, model, report


def test_registry_not_empty():
    assert NAMES, "no model is registered"


def test_fit_report(fitted):
    _, model, report = fitted
    assert isinstance(report, FitReport)
    assert report.epochs_run >= 1 and report.train_seconds > 0
    assert report.best_epoch is None or 1 <= report.best_epoch <= report.epochs_run


@pytest.mark.parametrize("k", [1, 5])
def test_topk_shapes_dtypes_and_order(fitted, synthetic, k):
    _, model, _ = fitted
    texts = synthetic[2].texts
    top = model.predict_topk(texts, k)
    assert isinstance(top, TopK)
    assert top.indices.shape == (len(texts), k) and top.scores.shape == (len(texts), k)
    assert top.indices.dtype == np.int64 and top.scores.dtype == np.float32
    valid = top.indices >= 0
    assert np.all(top.indices[valid] < NUM_LABELS) and np.all(top.indices[~valid] == -1)
    assert np.all(np.isfinite(top.scores[valid]))
    assert np.all(np.diff(np.where(valid, top.scores, -np.inf), axis=1) <= 0), "scores must be descending"
    for row in top.indices:  # no label twice in one row
        real = row[row >= 0]
        assert len(set(real.tolist())) == len(real)


def test_predict_split_matches_predict_topk(fitted, synthetic):
    _, model, _ = fitted
    test = synthetic[2]
    a, b = model.predict_split(test, 3), model.predict_topk(test.texts, 3)
    np.testing.assert_array_equal(a.indices, b.indices)


def test_deterministic_under_seed(fitted, synthetic):
    name, model, _ = fitted
    if not model.deterministic:
        # omikuji seeds its k-means from the OS; the card says so, and test_peers checks the fit is still good
        pytest.skip(f"{name} declares deterministic = False (its library takes no seed)")
    again, _ = fit_model(name, synthetic, seed=0)
    texts = synthetic[2].texts
    first, second = model.predict_topk(texts, 5), again.predict_topk(texts, 5)
    np.testing.assert_array_equal(first.indices, second.indices)
    np.testing.assert_array_equal(first.scores, second.scores)


def test_save_load_round_trip(fitted, synthetic, tmp_path: Path):
    _, model, _ = fitted
    model.save(tmp_path / "m")
    loaded = type(model).load(tmp_path / "m")
    texts = synthetic[2].texts
    before, after = model.predict_topk(texts, 5), loaded.predict_topk(texts, 5)
    np.testing.assert_array_equal(before.indices, after.indices)
    if model.deterministic:
        np.testing.assert_array_equal(before.scores, after.scores)
    else:  # omikuji sums its trees in file-listing order after a load: the last float32 bit may move
        np.testing.assert_allclose(before.scores, after.scores, rtol=1e-5)
    assert loaded.card().params == model.card().params


def test_load_uses_safe_loading(fitted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Loading must never unpickle arbitrary objects: torch.load only with weights_only=True, no pickle."""
    _, model, _ = fitted
    model.save(tmp_path / "m")
    calls: list[str] = []

    def no_pickle(*args, **kwargs):
        calls.append("pickle")
        raise AssertionError("load() must not unpickle")

    monkeypatch.setattr(pickle, "load", no_pickle)
    monkeypatch.setattr(pickle, "loads", no_pickle)
    try:
        import torch
    except ImportError:  # pragma: no cover - a model without torch
        torch = None
    if torch is not None:
        real_load = torch.load

        def checked_load(*args, **kwargs):
            calls.append(f"torch.load weights_only={kwargs.get('weights_only')}")
            assert kwargs.get("weights_only") is True, "torch.load must be called with weights_only=True"
            return real_load(*args, **kwargs)

        monkeypatch.setattr(torch, "load", checked_load)
    real_np_load = np.load

    def checked_np_load(*args, **kwargs):
        assert not kwargs.get("allow_pickle", False), "np.load must not allow pickles"
        return real_np_load(*args, **kwargs)

    monkeypatch.setattr(np, "load", checked_np_load)
    type(model).load(tmp_path / "m")
    assert "pickle" not in calls


def test_card(fitted):
    name, model, _ = fitted
    card = model.card()
    assert isinstance(card, ModelCard)
    assert card.name == name
    if not model.params_exposed:
        # a library that keeps its pruned sparse weights internal: no count rather than a made-up one
        assert card.params == {} and "params_note" in card.config
    else:
        assert card.params.get("total", 0) > 0
        assert sum(v for k, v in card.params.items() if k != "total" and "_" not in k) <= card.params["total"]
    assert card.deviations, "a card must list its deviations from the paper (or say there are none)"
    assert isinstance(card.config, dict) and card.config


@pytest.mark.parametrize("name", NAMES)
def test_every_config_documents_its_fields_and_round_trips_strictly(name) -> None:
    """One config path: the planned config (JSON) builds the model's config exactly, and every field has help."""
    import dataclasses

    from harness.errors import HarnessError
    from harness.models.contract import config_from_dict
    from harness.runner.plan import config_data

    cls = model_registry.get(name)
    config_cls = cls.Config
    assert dataclasses.is_dataclass(config_cls) and config_cls.__dataclass_params__.frozen
    assert all(f.metadata.get("help") for f in dataclasses.fields(config_cls)), "a field without help text"
    data = config_data(config_cls(**tiny_overrides(name)))
    assert config_data(config_from_dict(config_cls, data, name)) == data
    first = dataclasses.fields(config_cls)[0].name
    with pytest.raises(HarnessError, match=f"Did you mean '{first}'"):
        config_from_dict(config_cls, {**data, first + "x": 1}, name)
