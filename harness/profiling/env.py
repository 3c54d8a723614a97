"""The environment a figure was measured in: git state, library versions, CPU, RAM, GPU and thread count.

Usage::

    from harness.profiling.env import collect_env, git_info
    env = collect_env()          # JSON-ready dict for result records and ``harness profile``
    env["git_sha"], env["versions"]["torch"], env["cpu"]["model"], env.get("gpu")
    git_info()                   # {"git_sha": "1a2b…" | None, "git_dirty": True | False | None}

Versions come from package metadata, so collecting them imports nothing heavy; torch is imported only for the
thread count and the GPU (it is already loaded wherever a model was profiled).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

#: Distributions whose versions move numbers (kernels, metrics, counting conventions) or the tracking format.
TRACKED_PACKAGES = ("xmc-harness", "torch", "numpy", "scipy", "fvcore", "mlflow", "scikit-learn")
GIB = 1024**3


def _run(cmd: list[str], cwd: Path | None = None) -> str | None:
    """Output of a short command, or ``None`` when it is missing, fails or hangs (never raises)."""
    try:
        out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=10, check=True)  # noqa: S603
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def git_info(path: Path | None = None) -> dict[str, Any]:
    """Commit and dirty flag of the checkout rooted at ``path`` (default: this package's source tree).

    An installed (non-checkout) harness gives ``None`` for both: the version number then identifies the code.
    The dirty flag counts untracked files too, because a new untracked module can change what runs.
    """
    where = path if path is not None else Path(__file__).resolve().parents[2]
    if shutil.which("git") is None or not where.exists():
        return {"git_sha": None, "git_dirty": None}
    # Only the checkout *rooted* at ``where``: a non-editable install inside some repository's virtualenv
    # must not report that repository's commit.
    top = _run(["git", "rev-parse", "--show-toplevel"], cwd=where)
    if not top or Path(top).resolve() != where.resolve():
        return {"git_sha": None, "git_dirty": None}
    sha = _run(["git", "rev-parse", "HEAD"], cwd=where)
    if not sha:
        return {"git_sha": None, "git_dirty": None}
    status = _run(["git", "status", "--porcelain"], cwd=where)
    return {"git_sha": sha, "git_dirty": None if status is None else bool(status)}


def library_versions() -> dict[str, str | None]:
    """Python and the tracked packages' installed versions (``None`` when not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) * 1024 / GIB, 2)
    except (OSError, ValueError, IndexError):
        pass
    return None


def cpu_info() -> dict[str, Any]:
    """CPU model, logical cores, cores this process may use (affinity: what a container really grants), RAM."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    return {"model": _cpu_model(), "logical_cores": os.cpu_count(), "usable_cores": usable, "ram_gib": _ram_gib()}


def gpu_info() -> dict[str, Any] | None:
    """Name, memory, CUDA runtime and driver of the current GPU; ``None`` without a usable CUDA device."""
    import torch

    if not torch.cuda.is_available():
        return None
    index = torch.cuda.current_device()
    props = torch.cuda.get_device_properties(index)
    driver = _run(["nvidia-smi", f"--id={index}", "--query-gpu=driver_version", "--format=csv,noheader"])
    return {
        "name": props.name,
        "memory_gib": round(props.total_memory / GIB, 2),
        "count": torch.cuda.device_count(),
        "cuda": torch.version.cuda,
        "driver": driver or None,
        "capability": f"{props.major}.{props.minor}",
    }


def collect_env(*, with_torch: bool = True) -> dict[str, Any]:
    """Everything that identifies where and with what a figure was measured, as a JSON-ready dict.

    Args:
        with_torch: add torch's thread count and the GPU (imports torch); ``False`` keeps it import-free.
    """
    env: dict[str, Any] = {
        **git_info(),
        "versions": library_versions(),
        "platform": platform.platform(),
        "cpu": cpu_info(),
    }
    if with_torch:
        import torch

        env["torch_threads"] = torch.get_num_threads()
        env["torch_interop_threads"] = torch.get_num_interop_threads()
        env["gpu"] = gpu_info()
    return env
