"""``profile_model`` end to end on tiny models, and the ``harness profile`` command."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from harness.cli.main import main
from harness.models.contract import ModelCard, TopK, XMCModel
from harness.profiling import profile_model
from harness.profiling.params import dir_bytes

QUERIES = ["golden retriever", "sea bass", "oak tree", "wooden chair", "red wine"]
FAST = {"threads": 1, "latency_iters": 3, "warmup": 1, "throughput_batch": 8}


def _check_common(eff: dict) -> None:
    assert eff["device"] == "cpu" and eff["threads"] == 1
    assert 0 < eff["latency_ms_p50_bs1"] <= eff["latency_ms_p95_bs1"]
    assert eff["throughput_qps"] > 0 and eff["throughput_batch"] == 8 and eff["throughput_oom_backoffs"] == 0
    assert eff["peak_rss_mb"] is None or eff["peak_rss_mb"] > 0
    assert eff["peak_gpu_mb"] is None
    assert eff["flops_unit"] == "MAC"
    json.dumps(eff, allow_nan=False)  # goes into result.json as is


def test_profile_model_on_tiny_inceptionxml(tiny_model) -> None:
    model = tiny_model("inceptionxml")
    eff = profile_model(model, QUERIES, k=3, **FAST)
    _check_common(eff)
    assert eff["params"]["total"] == eff["params"]["embedding"] + eff["params"]["encoder"] + eff["params"]["head"]
    assert eff["params_source"] == "model card"
    assert eff["model_bytes"] == eff["model_bytes_estimate"] >= 4 * eff["params"]["total"]
    assert eff["flops_per_query"] == eff["flops_breakdown"]["macs_per_query"] > 0
    assert eff["flops_na_reason"] is None and eff["flops_includes_classifier"] is True
    assert "classifier included" in eff["flops_note"]
    assert eff["forward_ms_p50_bs1"] > 0 and "network forward only" in eff["forward_what"]
    assert "end to end" in eff["latency_what"] and eff["latency_k"] == 3
    from harness.results import Efficiency

    assert set(eff) <= set(Efficiency.__annotations__)  # every figure the profiler writes is declared


def test_profile_model_uses_the_saved_folder_for_model_bytes(tiny_model, tmp_path: Path) -> None:
    model = tiny_model("inceptionxml")
    model.save(tmp_path / "m")
    eff = profile_model(model, QUERIES, saved_dir=tmp_path / "m", count_flops=False, **FAST)
    assert eff["model_bytes"] == dir_bytes(tmp_path / "m") and eff["model_bytes_source"] == "saved folder"
    assert "flops_per_query" not in eff


@dataclass
class _Cfg:
    pass


class MostFrequent(XMCModel):
    """A non-neural model: predicts the same labels for every text."""

    name = "most-frequent-test"
    Config = _Cfg

    def fit(self, train, val, *, ctx):  # pragma: no cover - not used
        raise NotImplementedError

    def predict_topk(self, texts: Sequence[str], k: int) -> TopK:
        idx = np.tile(np.arange(k, dtype=np.int64), (len(texts), 1))
        return TopK(idx, np.ones_like(idx, dtype=np.float32))

    def save(self, directory: Path) -> None:
        Path(directory).mkdir(parents=True, exist_ok=True)
        (Path(directory) / "freq.json").write_text("[0, 1, 2]")

    @classmethod
    def load(cls, directory: Path) -> MostFrequent:  # pragma: no cover - not used
        return cls()

    def card(self) -> ModelCard:
        return ModelCard(name=self.name, params={"total": 0}, config={})


def test_non_neural_model_reports_flops_not_applicable(tmp_path: Path) -> None:
    model = MostFrequent()
    model.save(tmp_path)
    eff = profile_model(model, QUERIES, saved_dir=tmp_path, **FAST)
    _check_common(eff)
    assert eff["flops_per_query"] is None and "not applicable" in eff["flops_na_reason"]
    assert eff["model_bytes"] == 9 and eff["model_bytes_estimate"] is None
    assert "forward_ms_p50_bs1" not in eff


CLI = [
    "profile",
    "--model",
    "inceptionxml",
    "--num-labels",
    "40",
    "--vocab-size",
    "60",
    "--embedding-dim",
    "16",
    "--model-args",
    "seq_len=8",
    "num_filters=4",
    "--latency-iters",
    "2",
    "--warmup",
    "1",
    "--throughput-batch",
    "8",
    "--threads",
    "1",
]


def test_cli_profile_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*CLI, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "inceptionxml" and out["setting"]["trained"] is False
    eff = out["efficiency"]
    assert eff["params"]["embedding"] == 60 * 16
    assert eff["flops_per_query"] > 0 and eff["flops_breakdown"]["unsupported_ops"] == {}
    assert eff["threads"] == 1 and out["env"]["versions"]["torch"]


def test_cli_profile_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*CLI, "--no-flops"]) == 0
    text = capsys.readouterr().out
    assert "latency bs=1 (predict_topk)" in text and "hardware:" in text and "1 torch threads" in text


def test_cli_profile_rejects_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*CLI[:-2], "--threads", "0"]) == 2
    assert main([*CLI, "--model-args", "no_such_field=1"]) == 2
    assert "no_such_field" in capsys.readouterr().err
    assert main(["profile", "--model", "inceptionxm", "--num-labels", "5", "--vocab-size", "5"]) == 2


def test_cli_profile_defaults_to_the_paper_encoder(capsys: pytest.CaptureFixture[str]) -> None:
    """Without options the profile is the paper's encoder at D=300 (methods.md §1.4: 170,354 parameters)."""
    quick = ["--no-flops", "--latency-iters", "1", "--warmup", "0", "--throughput-batch", "4", "--threads", "1"]
    base = ["profile", "--model", "inceptionxml", "--num-labels", "50", "--vocab-size", "40", *quick, "--json"]
    assert main(base) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["setting"]["configuration"] == "paper" and out["setting"]["embedding_dim"] == 300
    assert out["efficiency"]["params"]["encoder"] == 170_354
    assert main([*base, "--config", "default"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["setting"]["configuration"] == "default" and out["efficiency"]["params"]["encoder"] != 170_354
