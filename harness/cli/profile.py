"""``harness profile``: what a model configuration costs (size, MACs, latency, memory) before training it.

Usage::

    harness profile --model inceptionxml --num-labels 670091 --vocab-size 66667 --json    # the paper's settings, D=300
    harness profile --model inceptionxml --num-labels 17064 --vocab-size 40000 --config default --threads 2
    harness profile --model inceptionxml --num-labels 1000 --vocab-size 5000 --model-args seq_len=16 num_filters=8
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

log = logging.getLogger(__name__)

DESCRIPTION = """\
Build a registered model's network for L labels, a vocabulary of V rows and embedding width D, with random
weights (no training, no data), and measure what it costs: parameters by part, model bytes (parameters x
dtype size), MACs per query (fvcore; 1 multiply-accumulate = 1, classifier included), batch-1 latency
p50/p95 of predict_topk (text to top-k) and of the bare network, throughput at a large batch, peak memory,
and the hardware. Timings depend on the machine and the thread count; both are printed with them.
"""

EPILOG = """\
examples:
  harness profile --model inceptionxml --num-labels 670091 --vocab-size 66667 --embedding-dim 300 --json
  harness profile --model inceptionxml --num-labels 17064 --vocab-size 40000 --threads 2
Queries are the embedded wordnet-nouns test titles unless --queries FILE (one text per line) is given.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``harness profile``."""
    p = sub.add_parser(
        "profile",
        help="parameters, MACs, latency and memory of a model configuration, without training",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True, help="registered model name (harness ls models)")
    p.add_argument("--num-labels", required=True, type=int, metavar="L", help="label-space size")
    p.add_argument("--vocab-size", required=True, type=int, metavar="V", help="embedding rows (PAD/UNK included)")
    p.add_argument(
        "--embedding-dim",
        type=int,
        metavar="D",
        help="embedding width (default: 300 with --config paper, else the model's)",
    )
    p.add_argument(
        "--config",
        choices=CONFIGS,
        default="paper",
        help="paper (default): the paper's settings where the model has them (InceptionXML family: F=32, kernels "
        "4/8/16, aggregation kernel 16, D=300); default: the model's own defaults (the CPU-demo values)",
    )
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"), help="default: cpu")
    p.add_argument("--threads", type=int, metavar="N", help="torch threads (default: torch's current count)")
    p.add_argument("--k", type=int, default=5, help="top-k of the timed predictions (default 5)")
    p.add_argument("--latency-iters", type=int, default=50, metavar="N", help="timed batch-1 calls (default 50)")
    p.add_argument("--warmup", type=int, default=5, metavar="N", help="untimed calls first (default 5)")
    p.add_argument("--throughput-batch", type=int, default=256, metavar="B", help="batch for queries/s (default 256)")
    p.add_argument("--queries", type=Path, metavar="FILE", help="texts to time, one per line")
    p.add_argument("--model-args", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides")
    p.add_argument("--no-flops", action="store_true", help="skip MAC counting (it traces the network twice)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


CONFIGS = ("paper", "default")
#: The paper's embedding width (GloVe 6B 300d, methods.md §1.1), used by ``--config paper`` unless -D is given.
PAPER_EMBEDDING_DIM = 300


def paper_settings(model: str) -> dict[str, Any] | None:
    """The fields where the model's paper configuration differs from its defaults; ``None`` if it has none.

    Why: the defaults are tuned for the CPU demo (F=64, D=50); a profile is mostly read to compare with the
    paper's size and cost (170,354 encoder parameters at D=300), so that is what ``harness profile`` shows
    unless asked otherwise, and the report says which one it is.
    """
    import dataclasses

    from harness.models import model_registry

    config_cls = getattr(model_registry.get(model), "Config", None)
    factory = getattr(config_cls, "paper_config", None)
    if config_cls is None or factory is None:
        return None
    paper, default = factory(), config_cls()
    return {
        f.name: getattr(paper, f.name)
        for f in dataclasses.fields(config_cls)
        if getattr(paper, f.name) != getattr(default, f.name)
    }


def parse_model_args(items: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; values are parsed as JSON when they can be (numbers, booleans, lists), else text."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise HarnessError(f"--model-args expects KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    return out


def _queries(path: Path | None) -> list[str]:
    if path is not None:
        try:
            texts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except OSError as exc:
            raise HarnessError(f"cannot read --queries {path}: {exc.strerror}") from None
        if not texts:
            raise HarnessError(f"--queries {path} holds no text")
        return texts
    from harness.data.embedded import verified_embedded_dir
    from harness.data.formats import read_json_lines

    return read_json_lines(verified_embedded_dir("wordnet-nouns") / "tst.json.gz", targets=False).texts[:4096]


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise HarnessError("--device cuda, but torch sees no CUDA device")
    return name


def run(args: argparse.Namespace) -> int:
    """Build untrained, profile, print."""
    from harness.profiling import profile_model
    from harness.profiling.env import collect_env
    from harness.profiling.untrained import build_untrained

    for name in ("num_labels", "vocab_size", "latency_iters", "throughput_batch", "k"):
        if getattr(args, name) < 1:
            raise HarnessError(f"--{name.replace('_', '-')} must be >= 1")
    if args.threads is not None and args.threads < 1:
        raise HarnessError("--threads must be >= 1")
    device = _device(args.device)
    paper = paper_settings(args.model) if args.config == "paper" else None
    configuration = "paper" if paper is not None else "default"
    if args.config == "paper" and paper is None:
        log.warning("%s has no paper configuration; profiling its defaults", args.model)
    overrides = {**(paper or {}), **parse_model_args(args.model_args)}
    embedding_dim = args.embedding_dim
    if embedding_dim is None and paper is not None:
        embedding_dim = PAPER_EMBEDDING_DIM
    try:
        model = build_untrained(
            args.model,
            num_labels=args.num_labels,
            vocab_size=args.vocab_size,
            embedding_dim=embedding_dim,
            device=device,
            **overrides,
        )
    except TypeError as exc:  # an unknown config key reaches the dataclass as a TypeError
        raise HarnessError(f"cannot build {args.model!r} with {overrides}: {exc}") from None
    eff = profile_model(
        model,
        _queries(args.queries),
        device=device,
        threads=args.threads,
        k=args.k,
        latency_iters=args.latency_iters,
        warmup=args.warmup,
        throughput_batch=args.throughput_batch,
        count_flops=not args.no_flops,
    )
    report = {
        "model": model.name,
        "setting": {
            "configuration": configuration,
            "num_labels": args.num_labels,
            "vocab_size": args.vocab_size,
            "embedding_dim": embedding_dim,
            "model_args": overrides,
            "trained": False,
        },
        "efficiency": eff,
        "env": collect_env(),
    }
    if args.json:
        json.dump(report, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_report(report))
    return 0


def _mib(n: float | None) -> str:
    return "n/a" if n is None else f"{n / 2**20:,.1f} MiB"


def format_report(report: dict[str, Any]) -> str:
    """A short human-readable summary of :func:`run`'s JSON."""
    eff, env, s = report["efficiency"], report["env"], report["setting"]
    lines = [
        f"{report['model']}  L={s['num_labels']:,}  V={s['vocab_size']:,}  D={s['embedding_dim'] or 'default'}"
        f"  (untrained, random weights)",
        f"configuration: {s.get('configuration', 'default')}"
        + (f" ({', '.join(f'{k}={v}' for k, v in s['model_args'].items())})" if s.get("model_args") else ""),
    ]
    lines.append("parameters: " + ", ".join(f"{k} {v:,}" for k, v in eff["params"].items()))
    lines.append(f"model bytes: {eff['model_bytes']:,} ({_mib(eff['model_bytes'])}; {eff['model_bytes_source']})")
    if eff.get("flops_per_query") is not None:
        lines.append(f"MACs per query: {eff['flops_per_query']:,} ({eff['flops_per_query'] / 1e6:,.2f} M MAC)")
        lines.append(f"  {eff['flops_note']}")
    elif "flops_na_reason" in eff:
        lines.append(f"MACs per query: n/a ({eff['flops_na_reason']})")
    lines.append(
        f"latency bs=1 (predict_topk): p50 {eff['latency_ms_p50_bs1']:.2f} ms, p95 "
        f"{eff['latency_ms_p95_bs1']:.2f} ms over {eff['latency_iters']} calls"
    )
    if "forward_ms_p50_bs1" in eff:
        lines.append(
            f"latency bs=1 (network only): p50 {eff['forward_ms_p50_bs1']:.2f} ms, "
            f"p95 {eff['forward_ms_p95_bs1']:.2f} ms"
        )
    lines.append(f"throughput: {eff['throughput_qps']:,.1f} queries/s at batch {eff['throughput_batch']}")
    lines.append(
        f"peak memory: host RSS {eff['peak_rss_mb']:,.0f} MiB"
        + (f", GPU {eff['peak_gpu_mb']:,.0f} MiB" if eff.get("peak_gpu_mb") is not None else "")
    )
    gpu = env.get("gpu")
    hw = f"{env['cpu']['model']}, {env['cpu']['usable_cores']} usable cores, {env['cpu']['ram_gib']} GiB RAM"
    if gpu:
        hw += f"; {gpu['name']} (CUDA {gpu['cuda']}, driver {gpu['driver']})"
    lines.append(f"hardware: {hw}; device {eff['device']}, {eff['threads']} torch threads")
    v = env["versions"]
    lines.append(
        f"versions: python {v['python']}, torch {v['torch']}, fvcore {v['fvcore']}, git {env['git_sha']}"
        + (" (dirty)" if env.get("git_dirty") else "")
    )
    return "\n".join(lines) + "\n"
