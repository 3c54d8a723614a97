"""Batch-1 latency percentiles and large-batch throughput, with warm-up, CUDA sync and pinned threads.

Usage::

    from harness.profiling.latency import pinned_threads, time_calls, latency_bs1, throughput
    with pinned_threads(2):                                  # fixed and recorded with the result
        lat = latency_bs1(lambda q: model.predict_topk([q], 5), queries, iters=50, device="cpu")
        thr = throughput(lambda qs: model.predict_topk(qs, 5), queries, batch=256, device="cpu")
    lat["p50_ms"], lat["p95_ms"], thr["qps"], thr["batch"]

Protocol (timm ``benchmark.py`` discipline): ``warmup`` untimed calls first (lazy initialisation, allocator
growth, oneDNN kernel selection), then one wall-clock measurement per call with ``time.perf_counter``,
``torch.cuda.synchronize()`` before starting and before stopping the clock on CUDA so that queued kernels are
inside the interval. Throughput halves its batch on CUDA out-of-memory until it fits.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

log = logging.getLogger(__name__)


@contextlib.contextmanager
def pinned_threads(threads: int | None) -> Iterator[int]:
    """Set ``torch.set_num_threads`` for the block and restore it after; yields the count in force.

    On a shared 2-core machine an unpinned run with a busy neighbour took 150× longer (environment.md), so
    the count is always set explicitly, even when it equals the default (``None`` keeps the current one).
    """
    import torch

    before = torch.get_num_threads()
    wanted = before if threads is None else int(threads)
    if wanted < 1:
        raise ValueError(f"threads must be >= 1, got {wanted}")
    torch.set_num_threads(wanted)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def _sync(device: str) -> None:
    if str(device).startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def time_calls(fn: Callable[[int], Any], *, iters: int, warmup: int, device: str = "cpu") -> list[float]:
    """Milliseconds of each of ``iters`` timed calls ``fn(i)``, after ``warmup`` untimed ones."""
    for i in range(warmup):
        fn(i)
    _sync(device)
    times = []
    for i in range(iters):
        _sync(device)
        start = time.perf_counter()
        fn(warmup + i)
        _sync(device)
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def summarize_ms(times: Sequence[float]) -> dict[str, float]:
    """p50, p95, mean and min of a list of milliseconds (linear-interpolated percentiles)."""
    import numpy as np

    arr = np.asarray(times, dtype=np.float64)
    if arr.size == 0:
        raise ValueError("no timings to summarise")
    return {
        "p50_ms": float(np.percentile(arr, 50)),
        "p95_ms": float(np.percentile(arr, 95)),
        "mean_ms": float(arr.mean()),
        "min_ms": float(arr.min()),
    }


def latency_bs1(
    predict_one: Callable[[str], Any],
    queries: Sequence[str],
    *,
    iters: int = 50,
    warmup: int = 5,
    device: str = "cpu",
) -> dict[str, Any]:
    """End-to-end latency of one query at a time (text → top-k), cycling through ``queries``.

    Different queries per call keep any per-text cache from flattering the figure.
    """
    if not queries:
        raise ValueError("latency needs at least one query")
    times = time_calls(lambda i: predict_one(queries[i % len(queries)]), iters=iters, warmup=warmup, device=device)
    return {**summarize_ms(times), "iters": iters, "warmup": warmup}


def is_oom(exc: BaseException) -> bool:
    """True for a CUDA (or other accelerator) out-of-memory error, whatever torch version raised it."""
    name = type(exc).__name__
    return name == "OutOfMemoryError" or (isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


def _free_cuda(device: str) -> None:
    if str(device).startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


def throughput(
    predict_batch: Callable[[Sequence[str]], Any],
    queries: Sequence[str],
    *,
    batch: int = 256,
    device: str = "cpu",
    warmup: int = 1,
    min_seconds: float = 1.0,
    max_reps: int = 20,
) -> dict[str, Any]:
    """Queries per second of ``predict_batch`` on batches of ``batch`` texts (cycled from ``queries``).

    Repeats the batch until ``min_seconds`` have passed (at least once, at most ``max_reps`` times) and
    reports the median batch time, which one slow repetition cannot skew. On CUDA out-of-memory the batch
    is halved and retried (timm's back-off); ``oom_backoffs`` counts how often.
    """
    import numpy as np

    if not queries:
        raise ValueError("throughput needs at least one query")
    backoffs = 0
    while True:
        texts = [queries[i % len(queries)] for i in range(batch)]
        try:
            for _ in range(warmup):
                predict_batch(texts)
            times: list[float] = []
            while len(times) < max_reps and (not times or sum(times) < min_seconds * 1000.0):
                times += time_calls(lambda _i, t=texts: predict_batch(t), iters=1, warmup=0, device=device)
            break
        except Exception as exc:
            if not is_oom(exc) or batch <= 1:
                raise
            _free_cuda(device)
            log.warning("out of memory at batch %d on %s; retrying with %d", batch, device, batch // 2)
            batch //= 2
            backoffs += 1
    median_ms = float(np.median(times))
    return {
        "qps": batch / (median_ms / 1000.0),
        "batch": batch,
        "batch_ms_p50": median_ms,
        "reps": len(times),
        "oom_backoffs": backoffs,
    }
