"""Render a :class:`~harness.report.aggregate.Report` as Markdown, CSV or LaTeX.

Markdown is the committed artifact (``results/table.md``); CSV gives raw means and stds for other tools;
LaTeX gives booktabs tables for a paper. All three are pure functions of the report, so a snapshot test
pins them.

Usage::

    from harness.report.render import render
    text = render(report, "md", command="harness report --suite smoke")
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

from harness.errors import HarnessError
from harness.report.aggregate import Column, Report, Row, Stat, Table
from harness.report.fields import humanise_count, humanise_seconds

LEGEND = (
    "Accuracy metrics are test-set percentages; each cell is the mean ± sample standard deviation over the "
    "*n* seeds of the row (no ± with one seed). **Bold**: best per column among the comparable rows "
    "(highest accuracy, lowest cost). MACs/query: multiply-accumulates per query at batch size 1 "
    "(n/a: not a neural model). Params: all parameters. Size: model bytes on disk (MB = 10^6 bytes). "
    "Latency: median at batch size 1. Train time: wall-clock training time."
)


def render(report: Report, fmt: str, *, command: str = "harness report") -> str:
    """Render ``report`` as ``fmt`` ("md", "csv" or "latex")."""
    renderers: dict[str, Callable[[Report, str], str]] = {"md": _markdown, "csv": _csv, "latex": _latex}
    if fmt not in renderers:
        raise HarnessError(f"unknown format {fmt!r}; choose md, csv or latex")
    return renderers[fmt](report, command)


def format_stat(stat: Stat | None, col: Column, *, pm: str = "±") -> str:
    """One cell's text: the mean (with ``± std`` for accuracy, latency and train time), humanised by kind."""
    if stat is None:
        return "n/a" if col.kind == "flops" else "—"
    mean, std = stat.mean, stat.std
    if col.kind == "accuracy":
        return f"{mean * 100:.2f}" + (f" {pm} {std * 100:.2f}" if std is not None else "")
    if col.kind == "ms":
        digits = 2 if mean < 10 else 1 if mean < 100 else 0
        return f"{mean:.{digits}f}" + (f" {pm} {std:.{digits}f}" if std is not None else "")
    if col.kind == "seconds":
        return humanise_seconds(mean, std).replace("±", pm)
    if col.kind == "mb":
        return f"{mean:.2f}" if mean < 1 else f"{mean:.1f}"
    return humanise_count(mean)  # flops, count: constant over seeds, a std would be noise


def _title(report: Report) -> str:
    suites = sorted({t.suite for t in report.tables})
    return ("suite " if len(suites) == 1 else "suites ") + ", ".join(f"`{s}`" for s in suites)


def _section(table: Table, report: Report) -> str:
    many = len({t.suite for t in report.tables}) > 1
    return f"{table.suite} / {table.dataset}" if many else table.dataset


def _failure_line(rec: dict) -> tuple[str, str, str]:
    error = rec.get("error") or {}
    message = str(error.get("message") or "").strip().splitlines()
    first = message[0] if message else ""
    if len(first) > 120:
        first = first[:117] + "..."
    return str(error.get("type") or "unknown error"), first, str(rec.get("cell_key", ""))[:12]


def _markdown(report: Report, command: str) -> str:
    out = [f"# Benchmark results: {_title(report)}", ""]
    out.append(f"- Command: `{command}`")
    out.append(f"- Cells: {report.n_ok} finished, {report.n_failed} failed")
    for hw in report.hardware:
        out.append(f"- Hardware: {hw}")
    for version in report.versions:
        out.append(f"- Versions: {version}")
    out += ["", LEGEND, ""]
    for warning in report.warnings:
        out += [f"> **Warning:** {_md_escape(warning)}", ""]
    for table in report.tables:
        out += [f"## {_section(table, report)}", ""]
        out.append("| Model | n | " + " | ".join(c.label for c in report.columns) + " |")
        out.append("|:--|--:|" + "--:|" * len(report.columns))
        for i, row in enumerate(table.rows):
            cells = [_md_escape(row.label) + _markers(row, "md"), str(len(row.records))]
            for col in report.columns:
                text = format_stat(row.stats.get(col.key), col)
                cells.append(f"**{text}**" if i in table.best.get(col.key, ()) else text)
            out.append("| " + " | ".join(cells) + " |")
        if not table.rows:
            out.append("| (no finished cell) | 0 |" + " |" * len(report.columns))
        if table.failed:
            out += ["", "Failed cells:", ""]
            for rec in table.failed:
                kind, message, key = _failure_line(rec)
                out.append(f"- {_md_escape(rec['model'])}, seed {rec['seed']}: `{kind}` (cell `{key}`) {message}")
        out.append("")
    if report.footnotes:
        out += ["## Notes", ""]
        out += [f"{n}. {_md_escape(text)}" for n, text in enumerate(report.footnotes, start=1)]
        out.append("")
    return "\n".join(out)


def _markers(row: Row, fmt: str) -> str:
    """Footnote numbers after the model name (runs compressed: 1-12); a flagged row also gets a warning sign."""
    numbers = _ranges(row.notes)
    if fmt == "latex":
        flag = r"\textsuperscript{(!)}" if row.flagged else ""
        return flag + (r"\textsuperscript{" + numbers.replace("-", "--") + "}" if numbers else "")
    return (" ⚠" if row.flagged else "") + (f" [{numbers}]" if numbers else "")


def _ranges(numbers: list[int]) -> str:
    """``[1, 2, 3, 5]`` -> ``"1-3,5"``: a model with a dozen documented deviations stays readable."""
    parts: list[str] = []
    for n in sorted(set(numbers)):
        if parts and parts[-1].split("-")[-1] == str(n - 1):
            parts[-1] = f"{parts[-1].split('-')[0]}-{n}"
        else:
            parts.append(str(n))
    # Two neighbours read better as "1,2" than as a range.
    parts = [p.replace("-", ",") if "-" in p and int(p.split("-")[1]) == int(p.split("-")[0]) + 1 else p for p in parts]
    return ",".join(parts)


def _md_escape(text: str) -> str:
    return text.replace("|", r"\|")


def _csv(report: Report, command: str) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    stat_cols = [c.key for c in report.columns]
    header = ["suite", "dataset", "model", "config", "comparable", "n_seeds", "seeds"]
    for key in stat_cols:
        header += [f"{key}_mean", f"{key}_std"]
    header += ["n_failed", "dataset_sha256", "split_hash", "metrics_version", "notes"]
    writer.writerow(header)
    for table in report.tables:
        for row in table.rows:
            line: list[object] = [
                table.suite,
                table.dataset,
                row.model,
                row.config,
                not row.flagged,
                len(row.records),
                " ".join(map(str, row.seeds)),
            ]
            for key in stat_cols:
                stat = row.stats.get(key)
                line += [
                    "" if stat is None else repr(stat.mean),
                    "" if stat is None or stat.std is None else repr(stat.std),
                ]
            n_failed = sum(1 for r in table.failed if r["model"] == row.model)
            notes = " | ".join(f"[{n}] {report.footnotes[n - 1]}" for n in row.notes)
            line += [n_failed, *row.compat, notes]
            writer.writerow(line)
    return buf.getvalue()


_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "⚠": "(!)",
}


def _tex(text: str) -> str:
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in text)


def _latex(report: Report, command: str) -> str:
    out = [
        "% Generated by `" + command + "` (needs \\usepackage{booktabs}).",
        *[f"% Hardware: {h}" for h in report.hardware],
        *[f"% Versions: {v}" for v in report.versions],
        *[f"% WARNING: {w}" for w in report.warnings],
        "",
    ]
    for table in report.tables:
        out += [
            r"\begin{table}[t]",
            r"\centering",
            r"\caption{" + _tex(_section(table, report)) + r": mean $\pm$ std over seeds; accuracy in \%.}",
            r"\begin{tabular}{lr" + "r" * len(report.columns) + "}",
            r"\toprule",
            "Model & $n$ & " + " & ".join(_tex(c.label) for c in report.columns) + r" \\",
            r"\midrule",
        ]
        for i, row in enumerate(table.rows):
            cells = [_tex(row.label) + _markers(row, "latex"), str(len(row.records))]
            for col in report.columns:
                text = _tex(format_stat(row.stats.get(col.key), col, pm="PLUSMINUS")).replace("PLUSMINUS", r"$\pm$")
                cells.append(r"\textbf{" + text + "}" if i in table.best.get(col.key, ()) else text)
            out.append(" & ".join(cells) + r" \\")
        out += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
        for rec in table.failed:
            kind, message, key = _failure_line(rec)
            out.append(f"% failed: {rec['model']} seed {rec['seed']}: {kind} (cell {key}) {message}")
        out.append("")
    for n, text in enumerate(report.footnotes, start=1):
        out.append(r"\noindent\textsuperscript{" + str(n) + "}~" + _tex(text) + r"\\")
    return "\n".join(out) + "\n"
