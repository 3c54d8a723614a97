"""benchmarks/gpu_validation.py on the CPU: the plan, a tiny end-to-end run, failures and timeouts recorded.

The script exists to run once on a lent GPU machine, where a broken script would waste scarce device time; these
tests prove its plumbing here (every step listed, files written atomically, a failing or hanging step costing
that step only). The CUDA figures themselves can only be checked on a GPU.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "benchmarks" / "gpu_validation.py"


def load_script() -> ModuleType:
    """The script as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("gpu_validation", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gpu_validation", module)  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


GV = load_script()
STEP_NAMES = [step.name for step in GV.all_steps()]


def run_script(out: Path, *args: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess, dict]:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert (out / GV.SUMMARY_JSON).is_file(), proc.stdout + proc.stderr
    return proc, json.loads((out / GV.SUMMARY_JSON).read_text(encoding="utf-8"))


def check_files(out: Path, summary: dict) -> dict[str, dict]:
    """Both summaries written, no temp file left, every step listed once in each; returns the steps by name."""
    assert sorted(p.name for p in out.iterdir()) == sorted([GV.SUMMARY_JSON, GV.SUMMARY_MD, GV.LOG_FILE])
    assert [s["name"] for s in summary["steps"]] == STEP_NAMES
    markdown = (out / GV.SUMMARY_MD).read_text(encoding="utf-8")
    for name in STEP_NAMES:
        assert markdown.count(f"| {name} |") == 1, name
    return {s["name"]: s for s in summary["steps"]}


def test_the_steps_are_the_five_of_the_brief() -> None:
    assert STEP_NAMES == [
        "env",
        "gpu_tests",
        "train_inceptionxml_bf16",
        "train_syncxml_bf16",
        "train_inceptionxml_fp16",
        "train_syncxml_fp16",
        "latency_syncxml",
        "profile_syncxml",
    ]


def test_dry_run_lists_every_step_as_skipped(tmp_path: Path) -> None:
    proc, summary = run_script(tmp_path, "--dry-run", timeout=30)
    assert proc.returncode == 0, proc.stderr
    steps = check_files(tmp_path, summary)
    assert summary["complete"] is True
    assert {s["status"] for s in steps.values()} == {"skipped"}
    # The plan names the real-size profile even when nothing runs.
    assert "--num-labels 2812281 --vocab-size 165432 --embedding-dim 300" in summary["options"]["profile_command"]


def test_cpu_mode_runs_every_step_end_to_end(tmp_path: Path) -> None:
    """``--device cpu`` (tiny sizes): what a GPU run does, on the CPU, in about 20 seconds (pytest -m gpu is the
    next test's)."""
    proc, summary = run_script(
        tmp_path, "--device", "cpu", "--threads", "1", "--budget-s", "110", "--skip", "gpu_tests"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    steps = check_files(tmp_path, summary)
    assert summary["complete"] is True
    status = {name: s["status"] for name, s in steps.items()}
    assert status == {
        "env": "ok",
        "gpu_tests": "skipped",
        "train_inceptionxml_bf16": "ok",
        "train_syncxml_bf16": "ok",
        "train_inceptionxml_fp16": "skipped",  # fp16 autocast is CUDA-only
        "train_syncxml_fp16": "skipped",
        "latency_syncxml": "ok",
        "profile_syncxml": "ok",
    }, {n: s["error"] for n, s in steps.items()}

    env = steps["env"]["figures"]
    assert env["cuda_available"] is False and env["torch"]
    assert "GradScaler" in env["static_checks"]["fp16_grad_scaler"]
    assert env["static_checks"]["latency_synchronize"]["in_source"] is True

    for model in ("inceptionxml", "syncxml"):
        train = steps[f"train_{model}_bf16"]["figures"]
        assert train["device"] == "cpu" and train["autocast_dtype"] == "off (fp32)"
        assert train["grad_scaler_used"] is False and train["peak_gpu_mib_train"] is None
        assert 1 <= train["steps"] <= 5 and train["steps_per_s"] > 0
        assert 0 <= train["test_p@1"] <= 100 and train["test_scores_finite"]

    latency = steps["latency_syncxml"]["figures"]
    assert latency["bs1"]["p50_ms"] > 0 and latency["bs32"]["p50_ms"] > 0
    assert latency["synchronize"]["calls"] is None  # counted on CUDA only

    profile = steps["profile_syncxml"]["figures"]
    assert profile["params"]["total"] > 0 and profile["model_bytes"] > 0
    assert profile["command"].startswith("harness profile --model syncxml")


def test_no_cuda_skips_the_cuda_steps(tmp_path: Path) -> None:
    """The default ``--device cuda`` on a machine without a GPU: ``pytest -m gpu`` runs (its tests skip
    themselves), the CUDA steps say why they did not run."""
    proc, summary = run_script(tmp_path, "--threads", "1", timeout=90)
    steps = check_files(tmp_path, summary)
    if steps["env"]["figures"].get("cuda_available"):
        pytest.skip("this machine has CUDA")
    assert proc.returncode == 0, proc.stderr
    gpu_tests = steps["gpu_tests"]
    assert gpu_tests["status"] == "ok", gpu_tests["error"]
    counts = gpu_tests["figures"]["counts"]
    assert counts.get("skipped", 0) >= 1 and not counts.get("passed") and not counts.get("failed")
    assert gpu_tests["figures"]["files"]  # found by grepping the tests for pytest.mark.gpu
    for name in STEP_NAMES[2:]:
        assert steps[name]["status"] == "skipped" and steps[name]["headline"] == "skipped: no CUDA", name


def test_a_failing_or_hanging_step_costs_that_step_only(tmp_path: Path) -> None:
    """A worker that raises is recorded as failed with its error; one past its cap is killed as a timeout; the
    steps after both still run, and the exit code says something went wrong."""
    skip = "gpu_tests,train_syncxml_bf16,latency_syncxml"
    proc, summary = run_script(
        tmp_path, "--device", "cpu", "--threads", "1", "--dataset", "no-such-dataset", "--skip", skip, timeout=90
    )
    steps = check_files(tmp_path, summary)
    assert proc.returncode == 1
    assert steps["env"]["status"] == "ok"
    failed = steps["train_inceptionxml_bf16"]
    assert failed["status"] == "failed" and "unknown dataset 'no-such-dataset'" in failed["error"]
    assert steps["profile_syncxml"]["status"] == "ok"  # ran after the failure

    out = tmp_path / "timeout"
    proc, summary = run_script(out, "--device", "cpu", "--step-cap-s", "0.5", "--skip", skip, timeout=60)
    steps = check_files(out, summary)
    assert proc.returncode == 1
    assert steps["env"]["status"] == "timeout" and steps["profile_syncxml"]["status"] == "timeout"
    assert summary["complete"] is True


def test_parse_pytest_counts() -> None:
    text = "....\n===== 3 passed, 1 skipped, 49 deselected, 2 errors in 9.10s =====\n"
    assert GV.parse_pytest_counts(text) == {"passed": 3, "skipped": 1, "deselected": 49, "error": 2}
    assert GV.parse_pytest_counts("4 skipped, 49 deselected in 2.70s") == {"skipped": 4, "deselected": 49}
    assert GV.parse_pytest_counts("no summary line") == {}
