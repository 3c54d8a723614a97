"""Parameter counts by part, byte sizes, and the environment probe."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import torch
from torch import nn

from harness.profiling.env import collect_env, git_info
from harness.profiling.params import dir_bytes, module_bytes, normalize_parts, params_by_prefix


class Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(10, 4)
        self.body = nn.Linear(4, 4)
        self.classifier = nn.Linear(4, 10, bias=False)
        self.classifier.weight = self.embedding.weight  # tied: counted once, under the part seen first


def test_params_by_prefix_splits_parts_and_counts_tied_weights_once() -> None:
    counts = params_by_prefix(Tied())
    assert counts == {"embedding": 40, "encoder": 20, "head": 0, "total": 60}
    custom = params_by_prefix(Tied(), {"embedding": ("embedding",), "head": ("body",)})
    assert custom == {"embedding": 40, "encoder": 0, "head": 20, "total": 60}


def test_normalize_parts_completes_a_model_mapping() -> None:
    out = normalize_parts({"embedding": 5, "encoder": 7, "head_hidden": 2, "head_classifier": 3, "total": 17})
    assert out["head"] == 5 and out["total"] == 17 and out["head_hidden"] == 2
    assert normalize_parts({"encoder": 4}) == {"encoder": 4, "head": 0, "embedding": 0, "total": 4}


def test_module_bytes_counts_parameters_and_buffers() -> None:
    assert module_bytes(nn.Linear(3, 4)) == (12 + 4) * 4
    bn = nn.BatchNorm1d(8)  # weight, bias + running mean/var (fp32) + num_batches_tracked (int64)
    assert module_bytes(bn) == 4 * 8 * 4 + 8
    assert module_bytes(nn.Linear(3, 4).to(torch.bfloat16)) == (12 + 4) * 2


def test_dir_bytes(tmp_path) -> None:
    (tmp_path / "a.bin").write_bytes(b"x" * 100)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.json").write_bytes(b"y" * 23)
    assert dir_bytes(tmp_path) == 123
    assert dir_bytes(tmp_path / "a.bin") == 100


def test_collect_env_has_versions_hardware_and_threads() -> None:
    env = collect_env()
    assert env["versions"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert env["versions"]["torch"] == torch.__version__
    for name in ("numpy", "scipy", "fvcore", "mlflow"):
        assert name in env["versions"]
    assert env["cpu"]["logical_cores"] >= 1 and env["cpu"]["usable_cores"] >= 1
    assert env["torch_threads"] == torch.get_num_threads()
    assert ("gpu" in env) and (env["gpu"] is None) == (not torch.cuda.is_available())
    assert set(collect_env(with_torch=False)) >= {"git_sha", "git_dirty", "versions", "cpu"}


def test_git_info_in_and_outside_a_checkout(tmp_path) -> None:
    assert git_info(tmp_path) == {"git_sha": None, "git_dirty": None}
    info = git_info()
    try:
        subprocess.run(["git", "rev-parse", "HEAD"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    assert re.fullmatch(r"[0-9a-f]{40}", info["git_sha"]) and isinstance(info["git_dirty"], bool)


def test_importing_the_profiler_does_not_import_torch_or_fvcore() -> None:
    code = "import sys, harness.profiling, harness.cli.profile; print('torch' in sys.modules, 'fvcore' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
