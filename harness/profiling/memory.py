"""Peak memory of this process: host RSS from ``/proc/self/status`` and GPU memory from the CUDA allocator.

Usage::

    from harness.profiling.memory import peak_rss_mb, reset_peak_gpu, peak_gpu_mb
    reset_peak_gpu("cuda")              # start a fresh GPU high-water mark (no-op on CPU)
    ...                                 # the work to measure
    peak_rss_mb(), peak_gpu_mb("cuda")  # MiB; ``None`` where not measurable

``peak_rss_mb`` reads ``VmHWM`` rather than ``resource.getrusage(...).ru_maxrss``: ``ru_maxrss`` of a process
started with ``exec`` keeps the high-water mark of the process it replaced (and of waited-for children with
``RUSAGE_CHILDREN``), whereas ``VmHWM`` belongs to this address space alone. The runner profiles each cell in its
own subprocess, so the figure is the peak of that cell (training included when it trained in that process).
"""

from __future__ import annotations

import sys
from pathlib import Path

MIB = 1024 * 1024
_STATUS = Path("/proc/self/status")


def _status_kib(field: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` (Linux only; ``None`` elsewhere or if the field is absent)."""
    try:
        text = _STATUS.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1])
    return None


def peak_rss_mb() -> float | None:
    """Peak resident set size of this process so far (``VmHWM``), in MiB; ``None`` off Linux."""
    kib = _status_kib("VmHWM")
    return None if kib is None else kib / 1024


def current_rss_mb() -> float | None:
    """Current resident set size (``VmRSS``), in MiB; ``None`` off Linux."""
    kib = _status_kib("VmRSS")
    return None if kib is None else kib / 1024


def _is_cuda(device: object) -> bool:
    return str(device).startswith("cuda")


def reset_peak_gpu(device: object) -> None:
    """Reset the CUDA allocator's high-water mark so that :func:`peak_gpu_mb` covers only what follows."""
    if not _is_cuda(device) or "torch" not in sys.modules:
        return
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats(device)


def peak_gpu_mb(device: object) -> float | None:
    """``torch.cuda.max_memory_allocated`` in MiB since the last reset; ``None`` for a CPU device.

    Allocated (tensors), not reserved (the caching allocator's pool): it is the figure that does not depend on
    what else ran before in the process, and the one timm's benchmark reports.
    """
    if not _is_cuda(device):
        return None
    import torch

    if not torch.cuda.is_available():
        return None
    return torch.cuda.max_memory_allocated(device) / MIB
