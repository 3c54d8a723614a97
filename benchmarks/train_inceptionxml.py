"""Train standalone InceptionXML on an embedded dataset, select on validation, report test metrics.

Usage::

    python benchmarks/train_inceptionxml.py                              # wordnet-nouns, defaults, CPU, 2 threads
    python benchmarks/train_inceptionxml.py --set epochs=10 --set lr=0.01 --no-test   # a tuning run (val only)
    python benchmarks/train_inceptionxml.py --out results/benchmarks/inceptionxml-wordnet.json

Protocol: the published train split minus a validation split (``harness.data.split_train``, seed 0, 10 %) is
used for fitting; the epoch is chosen on validation; test is scored once, at the end, with propensities
from the full train labels (A=0.55, B=1.5 unless the dataset spec says otherwise). Tune with ``--no-test``.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # runnable from a checkout without installing
    sys.path.insert(0, str(REPO))

from harness.data import load_dataset, split_train  # noqa: E402
from harness.metrics import evaluate, inverse_propensity  # noqa: E402
from harness.models.contract import FitContext  # noqa: E402
from inceptionxml.config import InceptionXMLConfig  # noqa: E402
from inceptionxml.model import InceptionXMLModel  # noqa: E402

KEYS = ("p@1", "p@3", "p@5", "psp@1", "psp@3", "psp@5")


def parse_value(text: str) -> object:
    """``--set key=value`` values: JSON when it parses (numbers, null, lists), else the raw string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def run(args: argparse.Namespace) -> dict:
    """Fit, select on val, optionally score test; return the result record."""
    torch.set_num_threads(args.threads)
    overrides = dict(kv.split("=", 1) for kv in args.set)
    overrides = {k: parse_value(v) for k, v in overrides.items()}
    ds = load_dataset(args.dataset)
    train, val, manifest = split_train(ds, seed=args.split_seed, fraction=args.val_fraction)
    # Propensities from the training labels: the fit part for validation, the full train set for test.
    w_fit = inverse_propensity(train.Y, ds.A, ds.B)
    w_train = inverse_propensity(ds.train.Y, ds.A, ds.B)

    model = InceptionXMLModel(InceptionXMLConfig(**overrides))
    ctx = FitContext(
        seed=args.seed,
        num_labels=ds.num_labels,
        label_texts=ds.label_texts,
        device=args.device,
        inv_prop=w_fit,
        progress=args.progress,
    )
    report = model.fit(train, val, ctx=ctx)
    card = model.card()
    record: dict = {
        "model": model.name,
        "dataset": {"name": ds.name, "sha256": ds.sha256, "A": ds.A, "B": ds.B, "n_labels": ds.num_labels},
        "split": {"n_fit": len(train), "n_val": len(val), "manifest": manifest.manifest_hash},
        "seed": args.seed,
        "overrides": overrides,
        "config": card.config,
        "params": card.params,
        "embeddings": card.embeddings,
        "deviations": card.deviations,
        "train_seconds": report.train_seconds,
        "seconds_per_epoch": model.fit_summary["seconds_per_epoch"],
        "epochs_run": report.epochs_run,
        "selected_epoch": report.best_epoch,
        "val": report.best_val,
        "history": report.history,
        "env": {
            "device": str(model.device),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(),
        },
    }
    if not args.no_test:
        t0 = time.perf_counter()
        top = model.predict_split(ds.test, k=5)
        infer = time.perf_counter() - t0
        metrics = evaluate(top.indices, ds.test.Y, inv_prop=w_train, k=5)
        record["test"] = {k: metrics[k] for k in KEYS}
        record["test_inference_seconds"] = infer
    return record


def table(record: dict) -> str:
    """A small Markdown table of the selected epoch's val and (if run) test metrics."""
    rows = [("split", *KEYS)]
    for split in ("val", "test"):
        if split in record:
            rows.append((split, *(f"{100 * record[split][k]:.2f}" for k in KEYS)))
    lines = ["| " + " | ".join(r) + " |" for r in rows]
    lines.insert(1, "|" + "---|" * len(KEYS + ("",)))
    lines.append(
        f"\nselected epoch {record['selected_epoch']} of {record['epochs_run']}, "
        f"{record['seconds_per_epoch']:.1f} s/epoch on {record['env']['device']} "
        f"({record['env']['threads']} threads), params {record['params']['total']:,}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="wordnet-nouns")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    parser.add_argument("--seed", type=int, default=0, help="model seed")
    parser.add_argument("--split-seed", type=int, default=0, help="validation split seed")
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-test", action="store_true", help="tuning run: validation only")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON record here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    record = run(args)
    print(table(record))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
