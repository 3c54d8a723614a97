"""Benchmark: inference cost of InceptionXML, LightXML-style and SyncXML heads on one fixed encoder, vs L.

Usage::

    python benchmarks/bench_scaling.py                                   # L = 10^4, 10^5, 10^6; all three models
    python benchmarks/bench_scaling.py --labels 10000,100000 --threads 1 --out /tmp/scaling.json
    python benchmarks/bench_scaling.py --syncxml-top-k 800 --lightxml-top-k 75 --set syncxml:max_leaf=8

Every model gets the same encoder: the paper's InceptionXML (random embeddings, D = 300, F = 32, aggregation
kernel 16, so h = 480; seq_len 32, a vocabulary of ``--vocab-size`` rows), built untrained
(``build_untrained``: random weights, random balanced clusters of the configured size; cost does not depend on
the weights or on which labels share a cluster). Each (model, L) cell runs in its own subprocess (this script
with ``--cell``), pinned to ``--threads`` torch threads, fp32, eval mode, ``torch.no_grad``, on CPU, under a
memory cap (``--mem-limit-gb``, RLIMIT_DATA) so that an allocation that does not fit fails inside the cell
instead of waking the OOM killer; a failed cell is recorded with its error and the run goes on.

What is timed is the network from pre-encoded token ids to the top-k label ids, nothing else (no text cleaning,
no copy to numpy): for ``inceptionxml`` the module of ``profiling_target`` (ids → logits over all L labels) +
``torch.topk``; for the shortlist models ``profiling_target``'s network (``net.shortlist``: ids → meta logits
over C clusters → top-K clusters → member gather → candidate products), the model's reported scoring (σ(ext)
for syncxml, σ(ext)·σ(meta) for lightxml; padded slots masked), ``torch.topk`` and the gather of the label ids.
The cell checks that these top-k ids equal the model's own ``_topk_ids`` on a few queries (``topk_matches``).

Per cell: parameters and fp32 weight MiB; RSS after the imports, after the build (weights resident), the peak
during inference (``VmHWM``, reset after the build through ``/proc/self/clear_refs``), the difference
(``working_mb``: inference working memory, dominated by the batch-``--throughput-batch`` activations) and the
process peak; MACs per query (``measure_flops``: 1 multiply-accumulate = 1, classifier / candidate scoring
included, the marginal cost of one more query, see docs/profiling.md) split into encoder, head hidden layers,
meta head (C clusters) and label scoring (OvA over L, or K·M candidates); batch-1 latency p50/p95 over
``--latency-iters`` calls cycling through a pool of random queries; queries/s at ``--throughput-batch`` (the
median of repeated batches, at least 1 s; halved on CPU out-of-memory, the batch used is recorded).

**What the numbers mean.** The paper says SyncXML halves LightXML's inference time. Its LightXML runs BERT
(≈ 2.7 G MACs per query, methods.md §1.4); here all three models share the 12.76 M-MAC InceptionXML encoder, so
any difference comes from the heads alone. With H = 480 (the encoder width) the head terms per query are:
one-vs-all L·H (+ H² for its hidden layer); LightXML-style C·H for the meta head (C = 2^⌈log2(L/100)⌉
clusters), H·300 for the query bottleneck and K·M·300 for the candidates (K = 10 clusters of M ≤ 100 labels);
SyncXML H² + C·H for the meta head (C = 2^⌈log2(L/16)⌉), H² for the extreme hidden layer and K·M·H for the
candidates (K = 800 clusters of M ≤ 16; K·M counts padded member slots). Measured MACs per query, encoder
excluded (``macs_terms``; equal to these formulas, checked per cell in ``macs_formula``):

    L      one-vs-all   lightxml: meta + bottleneck + cands (C×M)    syncxml: meta + hidden + cands (C×M)
    10^4     5.03 M     0.06 + 0.14 + 0.24 =  0.44 M  (128×79)       0.72 + 0.23 + 3.84 =  4.79 M  (1,024×10)
    10^5    48.23 M     0.49 + 0.14 + 0.29 =  0.93 M  (1,024×98)     4.16 + 0.23 + 4.99 =  9.38 M  (8,192×13)
    10^6   480.23 M     7.86 + 0.14 + 0.19 =  8.19 M  (16,384×62)   31.69 + 0.23 + 6.14 = 38.06 M  (65,536×16)

So: the one-vs-all classifier L·H
dominates everything from 10^5 on (3.8× the encoder there, 38× at 10^6). LightXML's heads are < 10% of the
encoder up to 10^5 and 64% at 10^6, where its meta head C·H is 96% of them. SyncXML's candidate product K·M·H is
its largest head term up to 10^5; at 10^6 its meta head (4× LightXML's clusters) is 83% of them. At a fixed
encoder SyncXML's heads cost *more* than LightXML's (4.6× the MACs at 10^6; 10× at 10^5), so a "halving" against
LightXML can only come from replacing LightXML's transformer encoder, not from the synchronized heads. MACs
understate the gap: at batch 1 the heads are bound by memory traffic, i.e. the weights read per query, C·H·4
bytes of meta head plus K·M gathered label rows (SyncXML at 10^5: 15.7 MB + 20.0 MB; LightXML: 2.0 MB + 1.2 MB;
one-vs-all: L·H·4 = 192 MB). At the throughput batch the shortlist models materialise the gathered candidate
rows, B·K·M·H·4 bytes (SyncXML, B = 256: 3.7 GiB at 10^4, 4.8 GiB at 10^5, 5.9 GiB at 10^6), which is their
``working_mb``; on the 2-core development machine it made their queries/s at batch 256 lower than 1 / (batch-1
latency), i.e. batching did not help them (it does help one-vs-all). At L = 10^4 SyncXML's default K = 800 of
1,024 clusters shortlists 80% of the labels (``candidate_fraction``). Timings depend on the machine, the thread
count and the neighbours: read p95 with care on a shared machine.

Results go to results/benchmarks/scaling.json (every setting, the machine, each cell's figures or error).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # runnable from a checkout without installing
    sys.path.insert(0, str(REPO))

from harness.results import write_json_atomic  # noqa: E402

MODELS = ("inceptionxml", "lightxml", "syncxml")
SHORTLIST = ("lightxml", "syncxml")
#: The paper's encoder (methods.md §1.2): D = 300, F = 32, aggregation kernel 16 → h = 480; S = 32.
ENCODER = {"embeddings": "random", "num_filters": 32, "agg_kernel": 16, "seq_len": 32}
EMBEDDING_DIM = 300
MIB = 1024 * 1024


def parse_value(text: str) -> object:
    """``--set`` values: JSON when it parses (numbers, null, booleans), else the raw string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def mem_available_bytes() -> int | None:
    """``MemAvailable`` of /proc/meminfo in bytes (``None`` off Linux)."""
    try:
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


# ---------------------------------------------------------------------------------------------------------------
# one cell (runs in its own process)
# ---------------------------------------------------------------------------------------------------------------
def reset_peak_rss() -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux ≥ 4.0: ``echo 5 > /proc/self/clear_refs``); False if refused."""
    try:
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
    except OSError:
        return False
    return True


def topk_fn(model: Any, k: int) -> Any:
    """``ids (B, S) → top-k label ids (B, k)``: the timed network, from the model's profiling target.

    One-vs-all: the target is the whole network (ids → logits over all labels); top-k over them. Shortlist:
    the target is the ``ShortlistNet``; ``net.shortlist(ids)`` gives (candidates, ext logits, cluster prob);
    rank the candidates by the model's reported scoring, mask the padding slots, top-k, gather the label ids.
    """
    import torch

    net, _ = model.profiling_target(1)
    if not hasattr(net, "shortlist"):

        def ova(ids: torch.Tensor) -> torch.Tensor:
            return torch.topk(net(ids), k, dim=1).indices

        return ova

    pad = int(net.num_labels)
    combined = model.config.score == "combined"

    def shortlist(ids: torch.Tensor) -> torch.Tensor:
        cand, logits, cand_prob = net.shortlist(ids)
        scores = torch.sigmoid(logits)
        if combined:
            scores = scores * cand_prob
        scores = scores.masked_fill(cand == pad, -math.inf)
        pos = torch.topk(scores, k, dim=1).indices
        return torch.gather(cand, 1, pos)

    return shortlist


def _reference_topk(model: Any, ids: Any, k: int) -> Any:
    """The model's own batched prediction on ids (its reported scoring), for the agreement check."""
    out = model._topk_ids(ids, k)
    return (out[model.config.score] if isinstance(out, dict) else out).indices


def _is_cpu_oom(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, MemoryError) or (
        isinstance(exc, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text)
    )


def _mac_terms(model: Any, flops: dict[str, Any]) -> dict[str, int]:
    """The measured per-query MACs split into encoder / head hidden layers / meta head / label scoring."""
    mods = flops.get("by_module", {})
    if model.name in SHORTLIST:
        return {
            "encoder": mods.get("text", 0),
            "hidden": mods.get("extreme_head", 0),
            "meta": mods.get("meta_head", 0),
            "scoring": mods.get("label_embedding", 0),  # the gathered candidate product
        }
    return {
        "encoder": mods.get("encoder", 0),
        "hidden": mods.get("head.hidden", 0),
        "meta": 0,
        "scoring": mods.get("head.classifier", 0),
    }


def _formula_terms(model: Any, shape: dict[str, Any]) -> dict[str, int]:
    """The head terms from the sizes alone (what _mac_terms should measure); H = the encoder width."""
    h = shape["text_dim"]
    if model.name == "inceptionxml":
        return {"hidden": h * h, "meta": 0, "scoring": shape["num_labels"] * h}
    c, cand = shape["num_clusters"], shape["candidates_per_query"]
    if model.name == "syncxml":
        width = model.config.hidden_dims or h
        return {"hidden": h * width, "meta": h * width + c * width, "scoring": cand * width}
    q = model.config.bottleneck_dim
    return {"hidden": h * q, "meta": c * h, "scoring": cand * q}


def run_cell(spec: dict[str, Any]) -> dict[str, Any]:
    """Build one model for one L and measure it; every figure of the cell (see the module docstring)."""
    import resource

    if spec.get("mem_limit_bytes"):
        limit = int(spec["mem_limit_bytes"])
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))

    import torch

    from harness.profiling.flops import measure_flops
    from harness.profiling.latency import summarize_ms, time_calls
    from harness.profiling.memory import current_rss_mb, peak_rss_mb
    from harness.profiling.untrained import build_untrained

    threads = int(spec["threads"])
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(spec["seed"])
    k, vocab, seq_len = spec["k"], spec["vocab_size"], ENCODER["seq_len"]
    out: dict[str, Any] = {"threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads()}
    out["rss_imports_mb"] = current_rss_mb()

    t0 = time.perf_counter()
    model = build_untrained(
        spec["model"],
        num_labels=spec["num_labels"],
        vocab_size=vocab,
        embedding_dim=EMBEDDING_DIM,
        **spec["overrides"],
    )
    gc.collect()
    out["build_s"] = time.perf_counter() - t0
    out["rss_built_mb"] = current_rss_mb()
    out["peak_rss_build_mb"] = peak_rss_mb()
    out["config"] = model.config.to_dict()

    module, _ = model.profiling_target(1)
    params = list(module.parameters())
    dtypes = sorted({str(p.dtype) for p in params})
    out["dtype"] = dtypes[0] if len(dtypes) == 1 else dtypes
    out["params"] = model.card().params
    out["weights_mb"] = sum(p.numel() * p.element_size() for p in params) / MIB
    out["buffers_mb"] = sum(b.numel() * b.element_size() for b in module.buffers()) / MIB
    enc = model.net.text.encoder if model.name in SHORTLIST else model.net.encoder
    shape: dict[str, Any] = {"num_labels": spec["num_labels"], "text_dim": int(enc.out_dim)}
    if model.name in SHORTLIST:
        index = model.net.index
        top = min(model.config.top_k_clusters, index.num_clusters)
        shape.update(
            num_clusters=index.num_clusters,
            cluster_size=index.max_size,
            top_k_clusters=top,
            candidates_per_query=top * index.max_size,
            candidate_fraction=top * index.max_size / spec["num_labels"],
            scoring=model.config.score,
        )
    out["shape"] = shape

    gen = torch.Generator().manual_seed(spec["seed"])
    pool = torch.randint(2, vocab, (spec["pool"], seq_len), generator=gen)  # no PAD (0) or UNK (1)
    batch = pool[torch.arange(spec["throughput_batch"]) % spec["pool"]].contiguous()
    predict = topk_fn(model, k)
    out["inference_peak_reset"] = reset_peak_rss()

    with torch.no_grad():
        check = pool[: min(8, spec["pool"])]
        ours = predict(check).numpy()
        ref = _reference_topk(model, check, k)
        out["topk_matches"] = bool((ours == ref).all())

        rows = [pool[i : i + 1] for i in range(spec["pool"])]
        times = time_calls(lambda i: predict(rows[i % len(rows)]), iters=spec["latency_iters"], warmup=spec["warmup"])
        out["latency"] = {**summarize_ms(times), "iters": spec["latency_iters"], "warmup": spec["warmup"]}

        size, backoffs, tp = spec["throughput_batch"], 0, None
        while tp is None:
            x = batch[:size]
            try:
                predict(x)  # warm-up
                reps: list[float] = []
                while len(reps) < spec["max_reps"] and (not reps or sum(reps) < 1000.0 * spec["min_seconds"]):
                    reps += time_calls(lambda _i, x=x: predict(x), iters=1, warmup=0)
                median = statistics.median(reps)
                tp = {"qps": size / (median / 1000.0), "batch": size, "batch_ms_p50": median, "reps": len(reps)}
            except Exception as exc:
                if not _is_cpu_oom(exc) or size <= 1:
                    raise
                size, backoffs = size // 2, backoffs + 1
                gc.collect()
        out["throughput"] = {**tp, "oom_backoffs": backoffs}
    out["peak_rss_inference_mb"] = peak_rss_mb()
    out["working_mb"] = out["peak_rss_inference_mb"] - out["rss_built_mb"]

    if spec["flops"]:
        flops = measure_flops(lambda b: model.profiling_target(b))
        out["macs_per_query"] = flops["macs_per_query"]
        out["macs_unit"] = flops["unit"]
        out["macs_terms"] = _mac_terms(model, flops)
        out["macs_formula"] = _formula_terms(model, shape)
        out["flops"] = {
            key: flops.get(key)
            for key in (
                "unit",
                "tool",
                "classifier_included",
                "macs_batch1",
                "per_batch_overhead_macs",
                "elementwise_per_query",
                "by_op",
                "by_module",
                "unsupported_ops",
            )
        }
        out["flops"]["crosscheck_rel_diff"] = flops.get("crosscheck", {}).get("rel_diff")
    out["peak_rss_mb"] = max(out["peak_rss_build_mb"] or 0.0, peak_rss_mb() or 0.0)
    return out


def cell_main(spec_json: str, out_path: Path) -> int:
    """``--cell`` entry point: run one cell and write its record (or its error) to ``out_path``."""
    spec = json.loads(spec_json)
    try:
        record = {"status": "ok", **run_cell(spec)}
    except BaseException as exc:  # the parent records it; a Ctrl-C still ends the run
        record = {
            "status": "failed",
            "error": f"{type(exc).__name__}: {exc}"[:2000],
            "traceback": traceback.format_exc()[-4000:],
        }
        write_json_atomic(out_path, record)
        if isinstance(exc, KeyboardInterrupt):
            raise
        return 1
    write_json_atomic(out_path, record)
    return 0


# ---------------------------------------------------------------------------------------------------------------
# the driver
# ---------------------------------------------------------------------------------------------------------------
def model_overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Per-model config overrides: the fixed encoder, then the dedicated flags, then ``--set model:key=value``."""
    out: dict[str, dict[str, Any]] = {m: dict(ENCODER) for m in MODELS}
    for m in SHORTLIST:
        for flag, key in (("top_k", "top_k_clusters"), ("max_leaf", "max_leaf"), ("score", "score")):
            value = getattr(args, f"{m}_{flag}")
            if value is not None:
                out[m][key] = value
    for item in args.set:
        name, _, kv = item.partition(":")
        key, eq, value = kv.partition("=")
        if name not in out or not eq or not key:
            raise SystemExit(f"--set wants MODEL:KEY=VALUE with MODEL in {MODELS}, got {item!r}")
        out[name][key] = parse_value(value)
    return out


def run_one(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one cell in a fresh interpreter; a crash, kill or timeout becomes a failed record."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(spec["threads"])
    with tempfile.TemporaryDirectory(prefix="bench_scaling_") as tmp:
        out_path = Path(tmp) / "cell.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--cell", json.dumps(spec), "--cell-out", str(out_path)]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)  # noqa: S603
        except subprocess.TimeoutExpired:
            return {"status": "failed", "error": f"timed out after {timeout:.0f} s", "wall_s": timeout}
        wall = time.perf_counter() - t0
        if out_path.exists():
            record = json.loads(out_path.read_text(encoding="utf-8"))
        else:
            why = f"exit status {proc.returncode}"
            if proc.returncode < 0:
                why = f"killed by signal {-proc.returncode}" + (" (out of memory?)" if proc.returncode == -9 else "")
            record = {"status": "failed", "error": f"cell process died: {why}", "stderr_tail": proc.stderr[-4000:]}
    record["wall_s"] = wall
    return record


def _fmt(value: Any, spec: str = ",.1f") -> str:
    return "–" if value is None else format(value, spec)


def tables(cells: list[dict[str, Any]], models: list[str], labels: list[int]) -> str:
    """The per-cell table, the MAC split and the per-L latency ratios, as github-format tables."""
    from tabulate import tabulate

    main_rows, mac_rows = [], []
    for c in cells:
        key = [c["model"], f"{c['num_labels']:,}"]
        if c["status"] != "ok":
            main_rows.append([*key, f"FAILED: {c['error'][:80]}"] + [""] * 11)
            continue
        s, lat, tp = c["shape"], c["latency"], c["throughput"]
        clusters = f"{s['num_clusters']:,}×{s['cluster_size']}" if "num_clusters" in s else "–"
        cand = f"{s['top_k_clusters']}·{s['cluster_size']} = {s['candidates_per_query']:,}" if clusters != "–" else "–"
        qps = f"{tp['qps']:,.0f}" + (f" (b={tp['batch']})" if tp["oom_backoffs"] else "")
        main_rows.append(
            [
                *key,
                clusters,
                cand,
                _fmt(c["params"]["total"] / 1e6, ",.2f"),
                _fmt(c["weights_mb"]),
                _fmt(c["rss_built_mb"]),
                _fmt(c["peak_rss_mb"]),
                _fmt(c["working_mb"]),
                _fmt(c.get("macs_per_query", 0) / 1e6 if "macs_per_query" in c else None, ",.2f"),
                _fmt(lat["p50_ms"], ",.2f"),
                _fmt(lat["p95_ms"], ",.2f"),
                qps,
                "yes" if c["topk_matches"] else "NO",
            ]
        )
        if "macs_terms" in c:
            t = c["macs_terms"]
            formula_ok = all(t[k] == c["macs_formula"][k] for k in c["macs_formula"])
            mac_rows.append(
                [*key]
                + [f"{t[k] / 1e6:,.3f}" for k in ("encoder", "hidden", "meta", "scoring")]
                + [f"{c['macs_per_query'] / 1e6:,.3f}", "yes" if formula_ok else "NO"]
            )
    headers = [
        "model",
        "L",
        "clusters C×M",
        "cands K·M",
        "params (M)",
        "fp32 weights MiB",
        "RSS built MiB",
        "peak RSS MiB",
        "working MiB",
        "MACs/query (M)",
        "bs1 p50 ms",
        "bs1 p95 ms",
        "q/s (batch)",
        "top-k = predict",
    ]
    out = [tabulate(main_rows, headers=headers, tablefmt="github", disable_numparse=True)]
    if mac_rows:
        mac_headers = [
            "model",
            "L",
            "encoder",
            "head hidden",
            "meta C·H",
            "scoring (L·H or K·M·H)",
            "total",
            "= formula",
        ]
        out.append("MACs per query (millions; 1 MAC = 1 multiply-accumulate, classifier included)")
        out.append(tabulate(mac_rows, headers=mac_headers, tablefmt="github", disable_numparse=True))
    ratio_rows = ratios(cells, labels)
    if ratio_rows:
        out.append("Ratios per L (p50 latency at batch 1, q/s at the throughput batch, MACs per query)")
        heads = ["L", "pair", "p50 latency ratio", "q/s ratio", "MACs ratio"]
        rows = [
            [
                f"{r['num_labels']:,}",
                r["pair"],
                _fmt(r["p50_ratio"], ".2f"),
                _fmt(r["qps_ratio"], ".2f"),
                _fmt(r["macs_ratio"], ".3f"),
            ]
            for r in ratio_rows
        ]
        out.append(tabulate(rows, headers=heads, tablefmt="github", disable_numparse=True))
    return "\n\n".join(out)


def ratios(cells: list[dict[str, Any]], labels: list[int]) -> list[dict[str, Any]]:
    """syncxml / lightxml and each shortlist model / inceptionxml, per L (cells that ran only)."""
    ok = {(c["model"], c["num_labels"]): c for c in cells if c["status"] == "ok"}
    out = []
    for num in labels:
        for a, b in (("syncxml", "lightxml"), ("lightxml", "inceptionxml"), ("syncxml", "inceptionxml")):
            ca, cb = ok.get((a, num)), ok.get((b, num))
            if ca is None or cb is None:
                continue
            macs = None
            if "macs_per_query" in ca and "macs_per_query" in cb:
                macs = ca["macs_per_query"] / cb["macs_per_query"]
            out.append(
                {
                    "num_labels": num,
                    "pair": f"{a} / {b}",
                    "p50_ratio": ca["latency"]["p50_ms"] / cb["latency"]["p50_ms"],
                    "p95_ratio": ca["latency"]["p95_ms"] / cb["latency"]["p95_ms"],
                    "qps_ratio": ca["throughput"]["qps"] / cb["throughput"]["qps"],
                    "macs_ratio": macs,
                }
            )
    return out


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if "--cell" in argv:  # internal: one cell in this (fresh) process
        cell = argparse.ArgumentParser()
        cell.add_argument("--cell", required=True)
        cell.add_argument("--cell-out", type=Path, required=True)
        ns = cell.parse_args(argv)
        return cell_main(ns.cell, ns.cell_out)

    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--labels", default="10000,100000,1000000", help="comma-separated label counts L")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from {MODELS}")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads in every cell")
    parser.add_argument("--vocab-size", type=int, default=20_000, help="rows of the word table (PAD, UNK included)")
    parser.add_argument("--k", type=int, default=5, help="top-k of the timed predictions")
    parser.add_argument("--latency-iters", type=int, default=200, help="timed batch-1 calls")
    parser.add_argument("--warmup", type=int, default=10, help="untimed batch-1 calls first")
    parser.add_argument("--pool", type=int, default=256, help="random queries cycled through by the timings")
    parser.add_argument("--throughput-batch", type=int, default=256)
    parser.add_argument("--min-seconds", type=float, default=1.0, help="throughput: repeat the batch this long")
    parser.add_argument("--max-reps", type=int, default=20, help="throughput: at most this many batches")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-flops", action="store_true", help="skip MAC counting")
    parser.add_argument(
        "--mem-limit-gb",
        type=float,
        default=None,
        help="RLIMIT_DATA of each cell (default: 80%% of MemAvailable at start; 0: none)",
    )
    parser.add_argument("--cell-timeout", type=float, default=3600.0, help="seconds before a cell is killed")
    for m, k, leaf in (("lightxml", 10, 100), ("syncxml", 800, 16)):
        parser.add_argument(f"--{m}-top-k", type=int, default=None, help=f"top_k_clusters (default {k})")
        parser.add_argument(f"--{m}-max-leaf", type=int, default=None, help=f"max_leaf (default {leaf})")
        parser.add_argument(f"--{m}-score", choices=("ext", "combined"), default=None, help="reported scoring")
    parser.add_argument(
        "--set", action="append", default=[], metavar="MODEL:KEY=VALUE", help="any config override of one model"
    )
    parser.add_argument("--out", type=Path, default=REPO / "results/benchmarks/scaling.json")
    args = parser.parse_args(argv)

    labels = [int(x) for x in args.labels.split(",") if x.strip()]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {MODELS}")
    overrides = model_overrides(args)
    if args.mem_limit_gb is None:
        avail = mem_available_bytes()
        mem_limit = int(0.8 * avail) if avail else None
    else:
        mem_limit = int(args.mem_limit_gb * 1024**3) or None

    import torch

    from harness.profiling.env import collect_env

    settings = {
        "labels": labels,
        "models": models,
        "threads": args.threads,
        "device": "cpu",
        "dtype": "float32",
        "vocab_size": args.vocab_size,
        "embedding_dim": EMBEDDING_DIM,
        "encoder": ENCODER,
        "k": args.k,
        "latency_iters": args.latency_iters,
        "warmup": args.warmup,
        "pool": args.pool,
        "throughput_batch": args.throughput_batch,
        "min_seconds": args.min_seconds,
        "max_reps": args.max_reps,
        "seed": args.seed,
        "flops": not args.no_flops,
        "mem_limit_bytes": mem_limit,
        "cell_timeout_s": args.cell_timeout,
        "overrides": {m: overrides[m] for m in models},
        "timed": "ids -> top-k label ids (network + torch.topk [+ candidate gather]); torch.no_grad, eval, fp32",
        "macs_unit": "MAC (1 multiply-accumulate = 1; FLOPs ~ 2 x MACs); classifier/candidate scoring included",
    }
    env = collect_env()
    env["torch_version"] = torch.__version__
    env["mem_available_bytes_at_start"] = mem_available_bytes()
    env["load_avg_at_start"] = os.getloadavg()

    cells: list[dict[str, Any]] = []
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for num in labels:
        for name in models:
            spec = {
                "model": name,
                "num_labels": num,
                "vocab_size": args.vocab_size,
                "overrides": overrides[name],
                "threads": args.threads,
                "k": args.k,
                "latency_iters": args.latency_iters,
                "warmup": args.warmup,
                "pool": args.pool,
                "throughput_batch": args.throughput_batch,
                "min_seconds": args.min_seconds,
                "max_reps": args.max_reps,
                "seed": args.seed,
                "flops": not args.no_flops,
                "mem_limit_bytes": mem_limit,
            }
            print(f"[{time.strftime('%H:%M:%S')}] {name} L={num:,} ...", file=sys.stderr, flush=True)
            record = run_one(spec, args.cell_timeout)
            cells.append({"model": name, "num_labels": num, **record})
            status = record["status"] if record["status"] == "ok" else f"FAILED ({record['error'][:200]})"
            print(f"    {status} in {record.get('wall_s', 0):.1f} s", file=sys.stderr, flush=True)

    text = tables(cells, models, labels)
    print(text)
    result = {
        "benchmark": "scaling",
        "started_at": started,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": settings,
        "env": env,
        "cells": cells,
        "ratios": ratios(cells, labels),
    }
    write_json_atomic(args.out, result)
    print(f"wrote {args.out}")
    return 0 if all(c["status"] == "ok" for c in cells) else 1


if __name__ == "__main__":
    sys.exit(main())
