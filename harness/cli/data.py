"""``harness data info|validate|build|synth``: inspect, check, (re)build datasets and write rehearsal data.

Usage::

    harness data info wordnet-nouns                       # statistics + sha256 of every file
    harness data info LF-AmazonTitles-131K --data-dir ~/xc --json
    harness data validate ~/xc/LF-AmazonTitles-131K       # exit 1 with the one clear error if invalid
    harness data build wordnet-nouns --out /tmp/wn
    harness data synth LF-AmazonTitles-131K --out /tmp/rh --glove   # synthetic data in the real layout
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.errors import HarnessError

EPILOG = """\
examples:
  harness data info wordnet-nouns
  harness data info LF-AmazonTitles-131K --data-dir ~/xc      # or set HARNESS_DATA=~/xc
  harness data info ./my-dataset --json
  harness data validate ~/xc/AmazonTitles-670K
  harness data build wordnet-nouns --out /tmp/wordnet-nouns
  harness data synth LF-AmazonTitles-131K --out /tmp/rh --glove   # rehearsal data, no download

A dataset is a registered name (see `harness ls datasets`) or a folder in any XC-repository layout:
  json      trn.json.gz + tst.json.gz [+ lbl.json.gz, trn_X_Y.txt/tst_X_Y.txt, filter_labels_*.txt]
  sparse    trn_X_Y.txt + tst_X_Y.txt [+ trn_X_Xf.txt/tst_X_Xf.txt]
  combined  train.txt + test.txt [+ features.txt, labels.txt]
  rawtext   train_raw_texts.txt + train_labels.txt (+ test_*), or trn_X.txt + trn_X_Y.txt (+ tst_*)
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``data`` and its ``info``, ``validate``, ``build`` and ``synth`` sub-subcommands."""
    parser = sub.add_parser(
        "data",
        help="inspect, validate, build or synthesise datasets",
        description="Inspect, validate or build XMC datasets, or write synthetic rehearsal data.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION")
    actions.required = True
    raw = argparse.RawDescriptionHelpFormatter

    info = actions.add_parser(
        "info",
        help="statistics and file checksums of a dataset",
        description="Print XC-repository statistics and the sha256 of every file of a dataset.",
        epilog="examples:\n  harness data info wordnet-nouns\n  harness data info Bibtex --data-dir ~/xc --json",
        formatter_class=raw,
    )
    info.add_argument("dataset", metavar="NAME|DIR", help="registered dataset name or a dataset folder")
    info.add_argument("--data-dir", help="parent folder of downloaded datasets (default: $HARNESS_DATA)")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(func=run, data_command="info")

    validate = actions.add_parser(
        "validate",
        help="check that a dataset folder loads cleanly",
        description="Load every file of a dataset folder; print OK with counts, or the first problem (exit 1).",
        epilog="examples:\n  harness data validate ~/xc/LF-AmazonTitles-131K\n  harness data validate ./my-set --json",
        formatter_class=raw,
    )
    validate.add_argument("dataset", metavar="DIR", help="dataset folder (a registered name also works)")
    validate.add_argument("--data-dir", help="parent folder of downloaded datasets (default: $HARNESS_DATA)")
    validate.add_argument("--json", action="store_true", help="print one JSON object")
    validate.set_defaults(func=run, data_command="validate")

    build = actions.add_parser(
        "build",
        help="build a derived dataset (e.g. wordnet-nouns) from its source",
        description="Build one of the harness's own datasets from its real source into a new folder.",
        epilog="examples:\n  harness data build wordnet-nouns --out /tmp/wn\n"
        "  harness data build wordnet-nouns --source /usr/share/wordnet --out /tmp/wn",
        formatter_class=raw,
    )
    build.add_argument("dataset", metavar="NAME", help="dataset with a builder (e.g. wordnet-nouns)")
    build.add_argument("--out", type=Path, help="output folder (default: ./NAME-build, which must not exist)")
    build.add_argument("--source", type=Path, help="source data (default: the builder's usual location)")
    build.add_argument("--force", action="store_true", help="allow writing into an existing or shipped folder")
    build.set_defaults(func=run, data_command="build")

    synth = actions.add_parser(
        "synth",
        help="write synthetic rehearsal data in a benchmark's exact file layout",
        description="Write learnable synthetic data in the exact file layout of one of the paper's seven "
        "short-text benchmarks (DIR/NAME/), to rehearse a run without the real download. Labels default to "
        "2^b + 2^(b-2), b the paper's cluster exponent for that dataset. The data is NOT the real dataset.",
        epilog="examples:\n  harness data synth LF-AmazonTitles-131K --out /tmp/rh --glove\n"
        "  harness data synth AmazonTitles-670K --out /tmp/rh --labels 5000 --train 20000 --test 4000",
        formatter_class=raw,
    )
    synth.add_argument("dataset", metavar="DATASET", help="one of the seven short-text benchmarks")
    synth.add_argument("--out", type=Path, required=True, help="parent folder (later --data-dir); writes DIR/NAME/")
    synth.add_argument("--labels", type=int, metavar="N", help="label count (default 2^b + 2^(b-2))")
    synth.add_argument("--train", type=int, metavar="N", help="training points (default 3000)")
    synth.add_argument("--test", type=int, metavar="N", help="test points (default 600)")
    synth.add_argument("--seed", type=int, default=0, metavar="S", help="generator seed (default 0)")
    synth.add_argument(
        "--glove", action="store_true", help="also write DIR/glove.synthetic.300d.txt for most of the words"
    )
    synth.set_defaults(func=run, data_command="synth")


def run(args: argparse.Namespace) -> int:
    """Dispatch to the chosen action; returns the exit status."""
    actions = {"info": _info, "validate": _validate, "build": _build, "synth": _synth}
    return actions[args.data_command](args)


def _info(args: argparse.Namespace) -> int:
    from harness.data.layout import load_dataset
    from harness.data.stats import dataset_stats, format_stats

    ds = load_dataset(args.dataset, args.data_dir)
    stats = dataset_stats(ds)
    if args.json:
        print(json.dumps({**stats, "root": str(ds.root), "files": ds.files}, indent=2))
        return 0
    print(format_stats(stats))
    print(f"\nfiles under {ds.root}:")
    print(ds.sha256sums(), end="")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from harness.data.layout import load_dataset

    try:
        ds = load_dataset(args.dataset, args.data_dir)
    except HarnessError as exc:  # invalid data is this command's answer, not a usage error
        if args.json:
            print(json.dumps({"ok": False, "dataset": str(args.dataset), "error": str(exc)}, indent=2))
        else:
            print(f"INVALID {args.dataset}: {exc}", file=sys.stderr)
        return 1
    summary = {
        "ok": True,
        "dataset": ds.name,
        "root": str(ds.root),
        "layout": ds.layout,
        "train": len(ds.train),
        "test": len(ds.test),
        "labels": ds.num_labels,
        "features": ds.num_features,
        "texts": ds.has_texts,
        "label_texts": ds.label_texts is not None,
        "filter_test_pairs": None if ds.filter_test is None else len(ds.filter_test),
        "sha256": ds.sha256,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"OK {ds.name} ({ds.layout} layout): {len(ds.train):,} train, {len(ds.test):,} test, "
            f"{ds.num_labels:,} labels, features {ds.num_features if ds.num_features is not None else '-'}, "
            f"texts {'yes' if ds.has_texts else 'no'}; sha256 {ds.sha256}"
        )
    return 0


def _shipped_root() -> Path:
    # The package's embedded datasets live here; a rebuild must not clobber them by accident.
    import harness.data

    return Path(harness.data.__file__).resolve().parent / "embedded"


def _build(args: argparse.Namespace) -> int:
    from harness.data.builders import builder_registry

    name = builder_registry.canonical(args.dataset)
    out = (args.out or Path.cwd() / f"{name}-build").expanduser().resolve()
    if not args.force:
        if out == _shipped_root() or _shipped_root() in out.parents:
            raise HarnessError(f"{out} is the shipped embedded data; pass --force to overwrite it")
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise HarnessError(f"{out} already exists and is not empty; choose a new --out or pass --force")
    build = builder_registry.get(name)
    folder = Path(build(out, source=args.source))
    from harness.data.layout import load_dataset

    ds = load_dataset(folder)  # a build that does not load is a failed build
    print(
        f"built {name} in {folder}: {len(ds.train):,} train, {len(ds.test):,} test, "
        f"{ds.num_labels:,} labels; sha256 {ds.sha256}"
    )
    return 0


def _synth(args: argparse.Namespace) -> int:
    from harness.data import rehearsal as rh

    name = rh.rehearsal_name(args.dataset)
    sizes = {"n_train": args.train, "n_test": args.test}
    folder = rh.write_rehearsal_dataset(
        name,
        args.out,
        num_labels=args.labels,
        seed=args.seed,
        **{k: v for k, v in sizes.items() if v is not None},
    )
    info = rh.read_marker(folder) or {}
    b = info["paper_cluster_bits"]
    how = f"2^{b} + 2^{b - 2}" if info["num_labels"] == rh.default_num_labels(name) else "--labels"
    print(f"wrote {name} rehearsal data (synthetic, NOT the real dataset) to {folder}")
    print(
        f"  {info['num_labels']:,} labels ({how}; paper clusters 2^{b}), {info['learnable_labels']:,} of them "
        f"with training points; {info['n_train']:,} train, {info['n_test']:,} test; "
        f"BoW {info['bow_vocabulary']:,} words in {info['bow_dim']:,} columns"
    )
    if info.get("filter_test_pairs") is not None:
        print(f"  filter pairs: {info['filter_test_pairs']:,} test, {info['filter_train_pairs']:,} train")
    for path in sorted(folder.iterdir()):
        print(f"  {path.name:<24} {path.stat().st_size:>12,} bytes")
    glove_opt = ""
    if args.glove:
        glove = rh.write_glove_file(folder.parent / rh.GLOVE_NAME, rh.rehearsal_vocabulary(folder))
        total = len(glove.written) + len(glove.left_out)
        print(
            f"wrote {glove.path}: {len(glove.written):,} of the {total:,} title words x 300 "
            f"({len(glove.left_out):,} left out on purpose, to exercise the out-of-vocabulary path)"
        )
        glove_opt = f" --glove {glove.path}"
    # Own HARNESS_HOME and runs dir, no MLflow: the rehearsal's split manifest, cells and metrics carry the
    # real dataset's name, and must not meet (or be reported as) the real dataset's.
    base = folder.parent
    print("next (a separate HARNESS_HOME, runs dir and no MLflow keep rehearsal results apart from real ones):")
    print(f"  harness data validate {folder}")
    print(
        f"  HARNESS_HOME={base / 'home'} harness run --suite short-text --data-dir {base} --datasets {name}"
        f" --runs-dir {base / 'runs'} --no-mlflow{glove_opt}"
    )
    return 0
