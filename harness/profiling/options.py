"""The options a suite's ``profiling:`` section may set, checked when the suite is read (no torch import).

Usage::

    from harness.profiling.options import ProfilingOptions
    opts = ProfilingOptions.from_suite({"latency_iters": 50, "queries": 2048}, where="offline.yaml: profiling")
    opts.to_dict()          # what the cell receives; opts.measured_key() what the cell key holds

A typo such as ``latency_iter: 50`` used to reach the profiler as an unknown keyword, fail in every cell and leave
"ok" cells without efficiency figures; fixing the typo then found those cells done. Now the section is checked
like a model config (unknown keys with did-you-mean, types, ranges), and the switches that decide *what* is
measured (``enabled``, ``count_flops``) are part of the cell key when they are off, so turning one back on gives
new cells. How long timing runs (iterations, batch, queries) changes timings only and stays out of the key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from harness.errors import HarnessError
from harness.registry import did_you_mean

#: Test queries the profiler times when a suite does not say.
DEFAULT_QUERIES = 2048


@dataclass(frozen=True)
class ProfilingOptions:
    """How each cell is profiled after it is scored."""

    enabled: bool = field(default=True, metadata={"help": "profile the fitted model (false: accuracy only)"})
    queries: int = field(default=DEFAULT_QUERIES, metadata={"help": "test queries timed, the first N"})
    latency_iters: int = field(default=50, metadata={"help": "timed batch-1 predictions"})
    warmup: int = field(default=5, metadata={"help": "untimed predictions before timing"})
    throughput_batch: int = field(default=256, metadata={"help": "batch size of the throughput measurement"})
    count_flops: bool = field(default=True, metadata={"help": "count MACs per query (fvcore)"})
    crosscheck: bool = field(default=True, metadata={"help": "check the MAC count against torch's FlopCounterMode"})

    @classmethod
    def from_suite(cls, data: dict[str, Any] | None, where: str = "profiling") -> ProfilingOptions:
        """Check a suite's mapping: unknown keys get the closest name; ints must be positive (warmup >= 0)."""
        data = dict(data or {})
        names = [f.name for f in dataclasses.fields(cls)]
        for key in data:
            if key not in names:
                raise HarnessError(f"{where}: unknown option {key!r}.{did_you_mean(str(key), names)}")
        for f in dataclasses.fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if f.type in ("bool", bool):
                if not isinstance(value, bool):
                    raise HarnessError(f"{where}.{f.name}: must be true or false, got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int):
                raise HarnessError(f"{where}.{f.name}: must be an integer, got {value!r}")
            elif value < (0 if f.name == "warmup" else 1):
                raise HarnessError(f"{where}.{f.name}: must be {'>= 0' if f.name == 'warmup' else '>= 1'}, got {value}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def measured_key(self) -> dict[str, bool]:
        """The switches that decide which figures exist, when any is off (``{}`` otherwise: keys stay as before)."""
        return {name: False for name in ("enabled", "count_flops") if not getattr(self, name)}
