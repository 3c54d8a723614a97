"""``harness ls datasets|models|suites``: list what the harness knows, without importing torch.

Usage::

    harness ls datasets
    harness ls datasets --json
    harness ls models --config syncxml        # every setting of a model: type, default and what it does
"""

from __future__ import annotations

import argparse
import json

from harness.registry import did_you_mean

KINDS = ("datasets", "models", "suites")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``ls`` subcommand."""
    parser = sub.add_parser(
        "ls",
        help="list datasets, models or suites",
        description="List the datasets, models or suites the harness knows.",
        epilog="examples:\n  harness ls datasets\n  harness ls models --json\n  harness ls models --config syncxml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("kind", metavar="{datasets,models,suites}", help="what to list")
    parser.add_argument("--json", action="store_true", help="print one JSON list instead of a table")
    parser.add_argument(
        "--config",
        metavar="MODEL",
        help="with 'models': the settings of MODEL (name, type, default, help), the fields a suite's models: "
        "entry or --set may give",
    )
    parser.set_defaults(func=run)


def _dataset_rows() -> list[dict[str, object]]:
    from harness.data.catalog import dataset_registry

    rows = []
    for name in dataset_registry.names():
        spec = dataset_registry.get(name)
        labels = spec.num_labels if spec.num_labels is not None else _embedded_label_count(spec.name)
        rows.append(
            {
                "name": spec.name,
                "labels": labels,
                "A": spec.A,
                "B": spec.B,
                "LF": "yes" if spec.lf else "no",
                "source": "embedded" if spec.embedded else "--data-dir",
                # Case variants of the name always work; list only the aliases a user could not guess.
                "aliases": ", ".join(a for a in spec.aliases if a.lower() != spec.name.lower()),
            }
        )
    return rows


def _embedded_label_count(name: str) -> int | None:
    """Label count of a shipped dataset whose spec leaves it to the built files (one line per label)."""
    import gzip

    from harness.data.embedded import EMBEDDED_ROOT

    path = EMBEDDED_ROOT / name / "lbl.json.gz"
    if not path.is_file():
        return None
    with gzip.open(path, "rb") as fh:
        return sum(1 for _ in fh)


def _model_rows() -> list[dict[str, object]]:
    from harness.models import model_registry

    return [{"name": name, "implementation": model_registry.target(name)} for name in model_registry.names()]


def _config_rows(model: str) -> list[dict[str, object]]:
    """One row per field of the model's config dataclass, in declaration order."""
    import dataclasses

    from harness.models import model_registry

    config_cls = model_registry.get(model).Config
    rows = []
    for f in dataclasses.fields(config_cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = "(required)"
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        # "int | None" would split a Markdown table cell; "None" would print as an empty cell.
        rows.append(
            {
                "field": f.name,
                "type": kind.replace(" | ", " or "),
                "default": repr(default),
                "help": f.metadata.get("help", ""),
            }
        )
    return rows


def _suite_rows() -> list[dict[str, object]]:
    from harness.suites import list_suites

    return [dict(row) for row in list_suites()]


def run(args: argparse.Namespace) -> int:
    """Print the requested listing as a table (or JSON)."""
    from harness.errors import HarnessError

    if args.kind not in KINDS:
        raise HarnessError(
            f"cannot list {args.kind!r}.{did_you_mean(args.kind, list(KINDS))} Choose from: {', '.join(KINDS)}"
        )
    if args.config and args.kind != "models":
        raise HarnessError(f"--config goes with 'harness ls models', not {args.kind!r}")
    if args.config:
        rows = _config_rows(args.config)  # an unknown model gets the registry's did-you-mean
    else:
        rows = {"datasets": _dataset_rows, "models": _model_rows, "suites": _suite_rows}[args.kind]()
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print(f"no {args.kind} registered yet")
    else:
        from tabulate import tabulate

        print(tabulate(rows, headers="keys", tablefmt="github"))
    return 0
