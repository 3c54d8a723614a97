"""The on-disk result record of one benchmark cell: schema, atomic writing, and loading.

Results on disk are the source of truth; MLflow and the report are views of them. A cell folder holds
``result.json`` (this record), ``topk.npz`` (test-set top-k predictions), ``env.json`` and ``log.txt``.
``result.json`` is written last and atomically, so its presence means the cell finished (or failed, with
``status: "failed"`` and the error).

Usage::

    from harness.results import write_json_atomic, load_records
    write_json_atomic(cell_dir / "result.json", record)
    for rec in load_records(Path("runs")):       # every result.json under runs/, validated
        print(rec["model"], rec["dataset"]["name"], rec["metrics"].get("p@1"))
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, TypedDict

from harness import RESULT_SCHEMA_VERSION
from harness.errors import HarnessError

RESULT_FILE = "result.json"


class DatasetInfo(TypedDict):
    """Which data a record's numbers come from: the dataset's identity, its validation split and its sizes."""

    name: str
    sha256: str  # XMCDataset.sha256: hash over every file's sha256
    split_manifest_hash: str  # SplitManifest.manifest_hash of the validation split used
    n_train: int  # points the model was fitted on (train minus validation)
    n_val: int
    n_test: int
    n_labels: int
    A: float
    B: float
    # and "rehearsal": True when the folder is a synthetic stand-in written by `harness data synth` (absent
    # otherwise; typing.NotRequired needs Python 3.11)


class Efficiency(TypedDict, total=False):
    """The ``efficiency`` block of a record: what the runner (always) and the profiler (when it ran) measured.

    Written by :func:`harness.runner.measure.measure_efficiency` and :func:`harness.profiling.profile_model`; read
    by the report (:mod:`harness.report.fields`) and MLflow. Absent keys were not measured (``profiled`` False,
    no queries, or a model without a network); ``None`` values say "not applicable" with a reason beside them.
    """

    # always, from the runner
    train_s: float  # wall-clock time of fit(), measured the same way for every model
    params: dict[str, int]  # by part, from the model card ("total" at least)
    threads: int | None
    device: str
    model_bytes: int  # bytes on disk of what model.save() wrote (harness.io.dir_bytes)
    profiled: bool
    profiling_error: str  # why the profiler failed; the cell keeps its accuracy
    # from the profiler
    params_source: str
    model_bytes_source: str
    model_bytes_estimate: int | None  # parameters and buffers x dtype size
    flops_per_query: float | None  # multiply-accumulates at batch size 1 (flops_unit says so)
    flops_unit: str
    flops_note: str | None
    flops_na_reason: str | None  # why FLOPs do not apply (the model's flops_na_reason) or why counting failed
    flops_includes_classifier: bool
    flops_breakdown: dict[str, Any]
    latency_ms_p50_bs1: float  # median of timed batch-1 predict_topk calls, synchronized on CUDA
    latency_ms_p95_bs1: float
    latency_ms_mean_bs1: float
    latency_what: str  # what a timed call covers
    latency_k: int
    latency_iters: int
    latency_warmup: int
    forward_ms_p50_bs1: float  # the network alone (profiling_target), no tokenisation or top-k
    forward_ms_p95_bs1: float
    forward_what: str
    throughput_qps: float  # queries per second at throughput_batch
    throughput_batch: int
    throughput_oom_backoffs: int
    peak_rss_mb: float
    peak_gpu_mb: float | None


class ErrorInfo(TypedDict):
    """Why a cell failed, as recorded in its ``result.json``."""

    type: str  # exception class name, or "Timeout", "Killed", "OutOfMemory", "NonFiniteLoss"
    message: str
    traceback: str


class ResultRecord(TypedDict, total=False):
    """One cell's ``result.json``: everything that moves its numbers, the numbers, and how they were measured."""

    schema_version: str
    status: Literal["ok", "failed"]
    cell_key: str  # sha256 of the canonical JSON of (suite config for the cell, dataset+split hashes, seed, ...)
    suite: str
    model: str
    seed: int
    dataset: DatasetInfo
    config: dict[str, Any]  # fully resolved model config
    overrides: dict[str, Any]  # the suite's overrides of the model's defaults (part of config, kept for reading)
    k: int  # top-k predictions kept and metrics computed @1..k
    metrics_version: str
    metrics: dict[str, float]  # test-set "p@1", "ndcg@1", "psp@1", "psndcg@1", "r@1", ... (fractions)
    metrics_extra: dict[str, dict[str, float]]  # each scoring of e.g. SyncXML: {"ext": {...}, "combined": {...}}
    # how the test metrics were computed: {"filter_pairs": n} (LF reciprocal pairs removed from predictions and
    # truth, ECLARE's rule; 0 without a filter file), and any model inputs by content ({"word_vectors": {...}})
    evaluation: dict[str, Any]
    val_metrics: dict[str, float]  # best-epoch validation metrics
    fit: dict[str, Any]  # FitReport: train_seconds, epochs_run, best_epoch, history
    efficiency: Efficiency
    card: dict[str, Any]  # ModelCard as a dict
    deviations: list[str]  # from the paper (model card) and from the protocol (e.g. reduced epochs)
    env: dict[str, Any]  # versions, hardware, git sha/dirty, thread count
    harness_version: str
    git_sha: str | None
    git_dirty: bool | None
    started_at: str  # ISO 8601 UTC
    finished_at: str
    error: ErrorInfo | None


#: Invisible characters that reorder or hide text on a terminal or a rendered page (bidi overrides and marks,
#: zero-width characters, line and paragraph separators); escaped like control characters.
_HIDDEN = frozenset(
    map(chr, [*range(0x200B, 0x2010), 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0xFEFF])
)


def printable(text: object, *, newlines: bool = False) -> str:
    r"""``text`` with control characters (and invisible reordering ones) written as visible escapes.

    A dataset folder, model name or error message is data: printed raw, ``"\x1b[31m"`` would recolour the
    terminal and a newline would forge a line. Each such character becomes ``\xNN`` / ``\uNNNN``, as
    Python's ``repr`` writes it; ``newlines=True`` keeps line breaks (and tabs) of multi-line text.
    """
    text = str(text)
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if newlines and ch in "\n\t":
            out.append(ch)
        elif ch in "\n\t\r":
            out.append(repr(ch)[1:-1])
        elif ch in _HIDDEN or unicodedata.category(ch) == "Cc":
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write a record's JSON atomically (:func:`harness.io.write_json_atomic`); numpy scalars become numbers."""
    from harness import io

    io.write_json_atomic(path, data, default=_json_default)


def _json_default(obj: Any) -> Any:
    # numpy scalars and paths show up in configs and metrics; anything else is a bug worth failing on.
    if hasattr(obj, "item") and callable(obj.item):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


REQUIRED = ("schema_version", "status", "cell_key", "model", "seed", "dataset", "metrics_version")
#: Optional fields that readers treat as mappings when present (``null`` is accepted as "absent").
OBJECT_FIELDS = ("config", "metrics", "val_metrics", "fit", "efficiency", "card", "env", "error")


def read_record(path: Path) -> ResultRecord:
    """Read and validate one ``result.json``; a malformed file is a HarnessError naming it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HarnessError(f"{path}: unreadable result record ({exc})") from None
    if not isinstance(data, dict):  # `null`, a list, a number: valid JSON, but no record
        raise HarnessError(f"{path}: not a result record (a JSON {_json_kind(data)}, not an object)")
    missing = [key for key in REQUIRED if key not in data]
    if missing:
        raise HarnessError(f"{path}: result record lacks {', '.join(missing)}")
    # Readers index these without further checks (rec["dataset"]["name"], int(rec["seed"]), rec["model"]).
    dataset = data["dataset"]
    if not isinstance(dataset, dict) or not isinstance(dataset.get("name"), str):
        raise HarnessError(f"{path}: result record's dataset must be an object with a name, got {dataset!r:.80}")
    if not isinstance(data["model"], str) or not isinstance(data["cell_key"], str):
        raise HarnessError(f"{path}: result record's model and cell_key must be strings")
    if isinstance(data["seed"], bool) or not isinstance(data["seed"], int):
        raise HarnessError(f"{path}: result record's seed must be an integer, got {data['seed']!r:.40}")
    for key in OBJECT_FIELDS:
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise HarnessError(f"{path}: result record's {key} must be an object, got {data[key]!r:.80}")
    if not isinstance(data["status"], str) or data["status"] not in ("ok", "failed"):
        raise HarnessError(f"{path}: unknown status {data['status']!r}")
    if str(data["schema_version"]) != RESULT_SCHEMA_VERSION:
        # Only one schema version exists so far; an upgrade path goes here when it changes.
        raise HarnessError(f"{path}: result schema {data['schema_version']} is not {RESULT_SCHEMA_VERSION}")
    return data  # type: ignore[return-value]


def _json_kind(data: Any) -> str:
    names = {type(None): "null", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return names.get(type(data), type(data).__name__)


def load_records(runs_dir: Path) -> Iterator[ResultRecord]:
    """Yield every result record under ``runs_dir`` in a stable (path) order."""
    for path in sorted(runs_dir.rglob(RESULT_FILE)):
        yield read_record(path)
