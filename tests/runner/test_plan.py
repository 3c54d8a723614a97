"""Planning: suites validate, cell keys move exactly with what moves the numbers, folders follow the layout."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.registry import UnknownNameError
from harness.runner import plan as plan_mod
from harness.runner.plan import cell_key, plan_suite, resolve_config
from harness.runner.synthetic import SYNTHETIC, generate, materialize
from harness.suites import list_suites, load_suite, parse_suite, suite_names


@pytest.fixture
def smoke_plan(tmp_path: Path) -> plan_mod.Plan:
    return plan_suite(load_suite("smoke"), tmp_path / "runs")


def test_committed_suites_validate_and_their_overrides_resolve() -> None:
    assert {"smoke", "offline", "short-text"} <= set(suite_names())
    for name in suite_names():
        suite = load_suite(name)
        for model in suite.default_models:
            for dataset in suite.datasets:  # an unknown field or bad value raises
                resolve_config(model, suite.overrides_for(model, dataset))
    rows = {row["name"]: row for row in list_suites()}
    assert rows["offline"]["datasets"] == "wordnet-nouns"
    assert "INVALID" not in "".join(row["description"] for row in rows.values())


def test_suite_typos_get_suggestions(tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'smoke'"):
        load_suite("smok")
    with pytest.raises(HarnessError, match="Did you mean 'seeds'"):
        parse_suite("x", {"datasets": ["synthetic-tiny"], "sedes": [0]})
    with pytest.raises(HarnessError, match="seeds"):
        parse_suite("x", {"datasets": ["synthetic-tiny"], "seeds": [0, 0]})
    with pytest.raises(HarnessError, match="Did you mean 'epochs'"):
        resolve_config("inceptionxml", {"epoch": 3})


def test_keys_are_stable_and_folders_follow_the_layout(smoke_plan: plan_mod.Plan, tmp_path: Path) -> None:
    again = plan_suite(load_suite("smoke"), tmp_path / "runs")
    assert [c.key for c in smoke_plan.cells] == [c.key for c in again.cells]
    cell = smoke_plan.cells[0]
    assert cell.key == cell_key(cell.key_payload())
    rel = Path(cell.dir).relative_to(tmp_path / "runs")
    assert rel.parts == ("smoke", "synthetic-tiny", "inceptionxml", "seed-0", cell.key[:12])
    assert cell.config["epochs"] == 8 and cell.config["embeddings"] == "random"  # suite overrides applied


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("config", {"epochs": 9}),
        ("seed", 1),
        ("dataset_info", {"sha256": "0" * 64}),
        ("dataset_info", {"split_manifest_hash": "f" * 64}),
        ("k", 10),
        ("device", "cuda"),
    ],
)
def test_key_changes_with_what_moves_the_numbers(smoke_plan: plan_mod.Plan, field: str, value: object) -> None:
    cell = smoke_plan.cells[0]
    current = getattr(cell, field)
    changed = {**current, **value} if isinstance(value, dict) else value
    assert cell_key(dataclasses.replace(cell, **{field: changed}).key_payload()) != cell.key


def test_key_ignores_timing_only_settings_but_not_the_metrics_version(
    smoke_plan: plan_mod.Plan, monkeypatch: pytest.MonkeyPatch
) -> None:
    cell = smoke_plan.cells[0]
    timing = dataclasses.replace(cell, threads=7, profiling={"latency_iters": 1}, timeout=5.0)
    assert cell_key(timing.key_payload()) == cell.key
    monkeypatch.setattr(plan_mod, "METRICS_VERSION", "999")
    assert cell_key(cell.key_payload()) != cell.key


def test_command_line_restrictions(tmp_path: Path) -> None:
    plan = plan_suite(load_suite("smoke"), tmp_path, seeds=[0, 1, 2], threads=2)
    assert [c.seed for c in plan.cells] == [0, 1, 2]
    assert {c.threads for c in plan.cells} == {2}
    with pytest.raises(UnknownNameError, match="Did you mean 'inceptionxml'"):
        plan_suite(load_suite("smoke"), tmp_path, models=["inceptionxm"])


def test_missing_datasets_fail_with_instructions_or_are_skipped(tmp_path: Path) -> None:
    suite = load_suite("short-text")
    with pytest.raises(HarnessError) as info:
        plan_suite(suite, tmp_path, data_dir=str(tmp_path))
    text = str(info.value)
    assert "LF-AmazonTitles-131K" in text and "XMLRepository.html" in text and "--missing skip" in text
    with pytest.raises(HarnessError, match="no dataset to run"):
        plan_suite(suite, tmp_path, data_dir=str(tmp_path), missing="skip")
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("dog 0.1 0.2\ncat 0.3 -0.4\n", encoding="utf-8")
    plan = plan_suite(
        suite,
        tmp_path,
        datasets=["AmazonTitles-670K", "synthetic-tiny"],
        data_dir=str(tmp_path),
        missing="skip",
        word_vectors=vectors,
    )
    assert list(plan.skipped) == ["AmazonTitles-670K"]
    assert {c.dataset for c in plan.cells} == {"synthetic-tiny"}
    with pytest.raises(HarnessError, match="Did you mean 'AmazonTitles-670K'"):  # a typo is never "missing"
        plan_suite(suite, tmp_path, datasets=["AmazonTitles-670"], data_dir=str(tmp_path), missing="skip")


def test_synthetic_data_is_deterministic(tmp_path: Path) -> None:
    spec = SYNTHETIC["synthetic-tiny"]
    assert generate(spec) == generate(spec)
    one, two = materialize("synthetic-tiny", tmp_path / "a"), materialize("synthetic-tiny", tmp_path / "b")
    for name in ("trn.json", "tst.json", "lbl.json"):
        assert (one / name).read_bytes() == (two / name).read_bytes()


def _two_dataset_suite(**inception: object) -> dict:
    return {
        "datasets": ["synthetic-tiny", "synthetic-small"],
        "models": {"inceptionxml": {"epochs": 2, **inception}},
    }


def test_per_dataset_settings_reach_the_config_and_the_key(tmp_path: Path) -> None:
    """A suite gives one dataset its own settings on top of the model's; the cell key hashes the merged config."""
    spec = _two_dataset_suite(per_dataset={"synthetic-small": {"ext_dropout": 0.5, "epochs": 3}})
    plan = plan_suite(parse_suite("x", spec), tmp_path)
    by_dataset = {c.dataset: c for c in plan.cells}
    tiny, small = by_dataset["synthetic-tiny"].config, by_dataset["synthetic-small"].config
    assert (tiny["epochs"], small["epochs"]) == (2, 3)
    assert (tiny["ext_dropout"], small["ext_dropout"]) == (0.2, 0.5)  # the model's default, then the dataset's
    assert by_dataset["synthetic-small"].overrides == {"epochs": 3, "ext_dropout": 0.5}
    plain = plan_suite(parse_suite("x", _two_dataset_suite()), tmp_path)
    keys = {c.dataset: c.key for c in plain.cells}
    assert keys["synthetic-tiny"] == by_dataset["synthetic-tiny"].key  # untouched dataset: same cell
    assert keys["synthetic-small"] != by_dataset["synthetic-small"].key


@pytest.mark.parametrize(
    ("per_dataset", "message"),
    [
        ({"synthetic-smal": {"epochs": 3}}, "Did you mean 'synthetic-small'"),  # a dataset the suite does not list
        ({"synthetic-small": {"epoch": 3}}, "synthetic-small: inceptionxml: unknown config field 'epoch'"),
        ({"synthetic-small": {"epochs": "3"}}, "synthetic-small: inceptionxml: epochs must be an integer"),
        ({"synthetic-small": {"lr": "5e-3"}}, "lr must be a number"),  # YAML 1.1 reads 5e-3 as a string
        ({"synthetic-small": {"filter_sizes": [4, "8"]}}, "filter_sizes must be a list of integers"),
        ({"synthetic-small": 3}, "must be a mapping"),
        ([1, 2], "must map dataset names"),
    ],
)
def test_per_dataset_mistakes_stop_the_plan_before_any_cell(tmp_path: Path, per_dataset: object, message: str) -> None:
    with pytest.raises(HarnessError, match=message):
        plan_suite(parse_suite("x", _two_dataset_suite(per_dataset=per_dataset)), tmp_path, datasets=["synthetic-tiny"])


def test_wrong_types_in_model_settings_are_errors(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="max_steps must be an integer or null, got 1.5"):
        resolve_config("inceptionxml", {"max_steps": 1.5})
    with pytest.raises(HarnessError, match="grad_clip must be a number or null"):
        resolve_config("syncxml", {"grad_clip": True})
    assert resolve_config("inceptionxml", {"lr": 1, "max_steps": None})["lr"] == 1  # an int is a fine float
