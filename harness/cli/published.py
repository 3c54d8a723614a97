"""``harness published``: the literature's numbers on the seven short-text benchmarks, with their sources.

Usage::

    harness published                                   # every dataset
    harness published LF-AmazonTitles-131K              # one dataset (registry aliases accepted)
    harness published amazontitles-670k --method lightxml-minilm    # a harness model or a published method
    harness published AmazonTitles-3M --format csv      # or json
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from typing import TYPE_CHECKING

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.published import Lookup, PublishedRow, PublishedTable

DESCRIPTION = """\
Print the published results shipped with the harness (harness/published/published.csv): one row per
(dataset, method, variant, source), numbers exactly as their source prints them (– : not given; - : the
XC repository's own "not available" dash), then the sources. Without --method, each dataset ends with the
reference `harness report` puts beside every registered model (a single model is preferred over an
ensemble), or why there is none. See docs/published.md.
"""

EPILOG = """\
examples:
  harness published LF-AmazonTitles-131K
  harness published amazontitles-670k --method inceptionxml
  harness published --method Astec --format json
"""

_METRIC_LABELS = {"p": "P", "ndcg": "N", "psp": "PSP", "psndcg": "PSN"}
_COSTS = {"model_size_gb": "Size (GB)", "train_time_hr": "Train (hr)", "predict_time_ms": "Predict (ms/pt)"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``harness published``."""
    parser = sub.add_parser(
        "published",
        help="published results on the short-text benchmarks, with sources",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("dataset", nargs="?", metavar="DATASET", help="one dataset (default: all seven)")
    parser.add_argument("--method", metavar="M", help="a harness model name (mapped) or a published method name")
    parser.add_argument("--format", choices=("md", "csv", "json"), default="md", help="default md")
    parser.set_defaults(func=run)


def _datasets(table: PublishedTable, name: str | None) -> list[str]:
    from harness.published import canonical_dataset

    if name is None:
        return table.datasets()
    dataset = canonical_dataset(name, table)
    if dataset not in table.datasets():
        raise HarnessError(
            f"no published numbers for {dataset!r}. Datasets with published numbers: {', '.join(table.datasets())}"
        )
    return [dataset]


def _methods(table: PublishedTable, method: str | None) -> tuple[set[str] | None, str | None]:
    """(published method names in lower case, harness model) for ``--method``; (None, None) without it."""
    from harness.published import MODEL_ALIASES, MODELS, mapping
    from harness.registry import did_you_mean

    if method is None:
        return None, None
    found = mapping(method)
    if found is not None:
        return {m.lower() for m in found.methods}, method.lower()
    known = {m.lower(): m for m in table.methods()}
    if method.lower() in known:
        return {method.lower()}, None
    # Harness names first: did_you_mean folds case, so "inceptionxm" would otherwise suggest "InceptionXML".
    hint = did_you_mean(method, [*MODELS, *MODEL_ALIASES]) or did_you_mean(method, table.methods())
    raise HarnessError(
        f"unknown method {method!r}.{hint} Use a harness model name "
        f"({', '.join(MODELS)}) or a published method (harness published DATASET lists them)"
    )


def _model_names() -> list[str]:
    """Registered harness models (the registry imports nothing heavy until a model is built)."""
    from harness.models import model_registry

    return model_registry.names()


def run(args: argparse.Namespace) -> int:
    """Select rows and print them in the chosen format."""
    from harness.published import default_table, lookup

    table = default_table()
    datasets = _datasets(table, args.dataset)
    methods, model = _methods(table, args.method)
    rows = [r for d in datasets for r in table.for_dataset(d) if methods is None or r.method.lower() in methods]
    models = [model] if model else ([] if methods else _model_names())
    lookups = [lookup(d, m, table) for d in datasets for m in models]
    if args.format == "csv":
        print(_csv(rows), end="")
    elif args.format == "json":
        print(json.dumps(_json(table, rows, lookups), indent=2, ensure_ascii=False))
    else:
        print(_markdown(table, datasets, rows, lookups, args.method))
    return 0


def _csv(rows: list[PublishedRow]) -> str:
    """The selected rows in the data file's own layout, so the output can be pasted back or diffed."""
    from harness.published.table import COLUMNS, METRIC_COLUMNS

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_cell(row, column, METRIC_COLUMNS) for column in COLUMNS])
    return buf.getvalue()


def _cell(row: PublishedRow, column: str, metric_columns: dict[str, str]) -> str:
    if column in metric_columns:
        return row.values.get(metric_columns[column], "")
    if column == "flags":
        return ";".join(row.flags)
    value = row.values.get(column, "") if column in _COSTS else getattr(row, column)
    return str(value)


def _json(table: PublishedTable, rows: list[PublishedRow], lookups: list[Lookup]) -> dict[str, object]:
    cited = {key for row in rows for key in row.source_keys}
    return {
        "rows": [
            {
                "dataset": r.dataset,
                "method": r.method,
                "variant": r.variant,
                "label": r.label,
                "mark": r.mark,
                "values": {k: r.number(k) for k in r.values if r.number(k) is not None},
                "printed": dict(r.values),
                "source": r.source,
                "machine": r.machine,
                "flags": list(r.flags),
                "note": r.note,
            }
            for r in rows
        ],
        "references": [
            {"dataset": f.dataset, "model": f.model, "found": f.found, "message": f.message} for f in lookups
        ],
        "sources": {k: vars(s) for k, s in table.sources.items() if k in cited},
    }


def _markdown(
    table: PublishedTable, datasets: list[str], rows: list[PublishedRow], lookups: list[Lookup], method: str | None
) -> str:
    from harness.published import FLAGS, MARKS
    from harness.published.table import METRIC_COLUMNS

    out = ["# Published results" + (f": {datasets[0]}" if len(datasets) == 1 else ""), ""]
    out += [f"Numbers as printed by each source (– : not given; - : the XC repository's own dash). {_SOURCE_NOTE}", ""]
    metrics = [k for k in METRIC_COLUMNS.values() if k.startswith(("p@", "psp@")) or any(k in r.values for r in rows)]
    costs = [k for k in _COSTS if any(k in r.values for r in rows)]
    head = ["Method (as printed)", "Variant", *(_metric_label(k) for k in metrics), *(_COSTS[k] for k in costs)]
    head += ["Source", "Flags", "Note"]
    for dataset in datasets:
        out += [f"## {dataset}", ""]
        mine = [r for r in rows if r.dataset == dataset]
        if mine:
            out += ["| " + " | ".join(head) + " |", "|:--|:--|" + "--:|" * (len(metrics) + len(costs)) + ":--|" * 3]
            for r in mine:
                name = f"{r.label} {r.mark}".strip()
                values = [r.values.get(k, "–") for k in (*metrics, *costs)]
                note = "; ".join(t for t in (r.note, "" if r.mark else r.machine) if t)  # XCR: the mark says it
                cells = [name, r.variant, *values, r.source, ", ".join(r.flags), note]
                out.append("| " + " | ".join(c.replace("|", r"\|") for c in cells) + " |")
            out.append("")
        found = [f for f in lookups if f.dataset == dataset]
        if not mine and not found:
            out += [f"No published row for {method!r} on {dataset}.", ""]
        if found:
            out += ["Reference used by `harness report` (single model preferred):", ""]
            out += [f"- {f.model}: {f.message}" for f in found] + [""]
    cited = list(dict.fromkeys(key for r in rows for key in r.source_keys))
    if cited:
        out += ["Sources:", ""]
        for key in cited:
            s = table.sources[key]
            out.append(f"- **{key}**: {s.citation}. {s.location}. Read: {s.tables}.")
        out.append("")
    marks = sorted({r.mark for r in rows if r.mark}, key=list(MARKS).index)
    if marks:
        out += ["XC repository marks: " + "; ".join(f"{m} {MARKS[m]}" for m in marks) + ".", ""]
    flags = [f for f in FLAGS if any(f in r.flags for r in rows)]
    if flags:
        out += ["Flags: " + "; ".join(f"{f}: {FLAGS[f]}" for f in flags) + ".", ""]
    return "\n".join(out).rstrip("\n")


_SOURCE_NOTE = "Table: harness/published/published.csv; columns, variants and flags: docs/published.md."


def _metric_label(key: str) -> str:
    name, k = key.split("@")
    return f"{_METRIC_LABELS[name]}@{k}"
