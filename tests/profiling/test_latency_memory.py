"""Latency, throughput and memory helpers: shapes and sanity only (no timing thresholds in unit tests)."""

from __future__ import annotations

import pytest
import torch

from harness.profiling.latency import is_oom, latency_bs1, pinned_threads, summarize_ms, throughput, time_calls
from harness.profiling.memory import current_rss_mb, peak_gpu_mb, peak_rss_mb, reset_peak_gpu


def test_pinned_threads_sets_and_restores() -> None:
    before = torch.get_num_threads()
    with pinned_threads(1) as used:
        assert used == 1 == torch.get_num_threads()
    assert torch.get_num_threads() == before
    with pinned_threads(None) as used:
        assert used == before
    with pytest.raises(ValueError), pinned_threads(0):
        pass


def test_time_calls_runs_warmup_then_timed_calls() -> None:
    seen: list[int] = []
    times = time_calls(seen.append, iters=4, warmup=2)
    assert seen == [0, 1, 2, 3, 4, 5]
    assert len(times) == 4 and all(t >= 0 for t in times)


def test_latency_cycles_queries_and_orders_percentiles() -> None:
    calls: list[str] = []
    lat = latency_bs1(calls.append, ["a", "b", "c"], iters=5, warmup=1)
    assert calls == ["a", "b", "c", "a", "b", "c"]
    assert 0 <= lat["min_ms"] <= lat["p50_ms"] <= lat["p95_ms"]
    assert lat["iters"] == 5 and lat["warmup"] == 1
    with pytest.raises(ValueError):
        latency_bs1(calls.append, [], iters=1)


def test_summarize_ms_percentiles() -> None:
    out = summarize_ms([float(i) for i in range(1, 101)])
    assert out["p50_ms"] == pytest.approx(50.5) and out["p95_ms"] == pytest.approx(95.05) and out["min_ms"] == 1


class FakeOOM(RuntimeError):
    pass


def test_throughput_halves_the_batch_on_out_of_memory() -> None:
    sizes: list[int] = []

    def predict(texts):
        sizes.append(len(texts))
        if len(texts) > 8:
            raise FakeOOM("CUDA out of memory. Tried to allocate 2.00 GiB")

    out = throughput(predict, ["q1", "q2", "q3"], batch=32, min_seconds=0.0, max_reps=3)
    assert out["batch"] == 8 and out["oom_backoffs"] == 2 and out["qps"] > 0 and out["reps"] >= 1
    assert sizes[:3] == [32, 16, 8]


def test_throughput_reraises_other_errors() -> None:
    def predict(texts):
        raise ValueError("a real bug")

    with pytest.raises(ValueError, match="real bug"):
        throughput(predict, ["q"], batch=4)


def test_is_oom() -> None:
    assert is_oom(RuntimeError("CUDA out of memory"))
    assert is_oom(type("OutOfMemoryError", (RuntimeError,), {})("x"))
    assert not is_oom(RuntimeError("shape mismatch")) and not is_oom(ValueError("out of memory"))


def test_memory_readings_are_sane_on_cpu() -> None:
    import gc
    import mmap

    gc.collect()  # nothing else frees memory between the two readings
    peak, now = peak_rss_mb(), current_rss_mb()
    if peak is None:
        pytest.skip("no /proc/self/status (not Linux)")
    assert 0 < now <= peak
    # A fresh anonymous mapping: its pages cannot be memory the allocator already holds from earlier tests.
    blob = mmap.mmap(-1, 64 * 1024 * 1024)
    for offset in range(0, len(blob), 4096):  # touching 64 MiB must raise the RSS and its high-water mark
        blob[offset] = 1
    assert peak_rss_mb() >= current_rss_mb() >= now + 32
    blob.close()
    reset_peak_gpu("cpu")  # no-op
    assert peak_gpu_mb("cpu") is None


@pytest.mark.gpu
def test_gpu_peak_memory() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    reset_peak_gpu("cuda")
    x = torch.empty(64 * 1024 * 1024, dtype=torch.uint8, device="cuda")
    assert peak_gpu_mb("cuda") >= 64
    del x
