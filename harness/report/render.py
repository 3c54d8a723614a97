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
import re
from collections.abc import Callable

from harness.errors import HarnessError
from harness.report.aggregate import (
    Column,
    Report,
    Row,
    Stat,
    Table,
    delta_columns,
    not_converged_reasons,
    reference_after,
    row_delta,
)
from harness.report.fields import fit_stop, humanise_count, humanise_seconds
from harness.results import printable

LEGEND = (
    "Accuracy metrics are test-set percentages; each cell is the mean ± sample standard deviation over the "
    "*n* seeds of the row (no ± with one seed). **Bold**: best per column among the comparable rows "
    "(highest accuracy, lowest cost). MACs/query: multiply-accumulates per query at batch size 1 "
    "(n/a: not a neural model). Params: all parameters. Size: model bytes on disk (MB = 10^6 bytes). "
    "Latency: median at batch size 1. Train time: wall-clock training time."
)

#: The mark of a value that is *not* significantly different from its column's best. Marking the ties
#: (rather than the differences) draws the eye to what matters: which models the data cannot tell apart.
TIE_MARK = "≈"

SIGNIFICANCE_LEGEND = (
    "{mark}: not significantly different from the best (bold) value of its column at α = {alpha:g}, by a "
    "two-sided paired approximate randomisation (sign-flip) test over the test queries of the dataset with "
    "{resamples:,} random sign flips (RNG seed {seed}), p-values Holm-corrected over the rows of each column. "
    "An accuracy value of a tested row with neither bold nor {mark} is significantly worse than the best. Rows are "
    "paired query by query only when they share dataset sha256, split and metrics version; with several seeds "
    "each query's value is first averaged over the row's seeds, so the test is over queries and the ± is the "
    "seed spread. PSP@k and PSnDCG@k are ratios of sums whose per-query normaliser depends only on the test "
    "labels, so the test flips the per-query numerator differences. Not tested: flagged (⚠) rows, and rows "
    "footnoted as having no per-query values."
)

NO_SIGNIFICANCE_LEGEND = (
    "No significance marks: no row could be compared with the best of its column, because no two comparable "
    "rows have per-query values (per_query.npz, written by cells since the paired test was added)."
)

NOT_CONVERGED_LEGEND = (
    "*not converged (budget)*: training of at least one seed was cut by a budget (time budget, epoch cap or "
    "step cap) before the validation metric plateaued; the footnote names the seeds and epochs. Rows without "
    "the mark converged or do not record convergence (older records, models without validation-based stopping)."
)


PUBLISHED_LEGEND = (
    "*Published* rows (in italics, below the model they belong to) are numbers from the literature "
    "(harness/published/published.csv; `harness published DATASET` lists them with their sources), printed as "
    "their source rounds them. They were measured on other hardware, with other code and often other "
    "preprocessing, so they give context and take no part in bold or the significance test. Δ: ours − "
    "published, in percentage points. A single-model reference is preferred; an ensemble is used only when no "
    "single model is published, and is labelled."
)


def legend_lines(report: Report) -> list[str]:
    """The legend paragraphs of a report: always the columns, then significance and convergence as they apply."""
    lines = [LEGEND]
    if report.significance is None:
        lines.append("No significance test was run (--resamples 0).")
    elif report.n_comparisons:
        settings = report.significance
        lines.append(
            SIGNIFICANCE_LEGEND.format(
                mark=TIE_MARK, alpha=settings.alpha, resamples=settings.resamples, seed=settings.seed
            )
        )
    else:
        lines.append(NO_SIGNIFICANCE_LEGEND)
    if any(row.not_converged for table in report.tables for row in table.rows):
        lines.append(NOT_CONVERGED_LEGEND)
    if any(table.published is not None for table in report.tables):
        lines.append(PUBLISHED_LEGEND)
    return lines


def format_delta(value: float | None) -> str:
    """``+1.67`` / ``-0.45`` points; empty where there is nothing to subtract."""
    return "" if value is None else f"{value:+.2f}"


def _n_accuracy(report: Report) -> int:
    """Accuracy columns come first; delta columns are spliced in right after them."""
    return sum(1 for c in report.columns if c.kind == "accuracy")


def _reference_row(table: Table, index: int, report: Report, deltas: list[Column]) -> tuple[str, list[str]] | None:
    """Label and value cells (after model and n) of the published row that follows row ``index``, or ``None``.

    Values are the source's printed text; cost columns stay empty because published costs were measured on
    other machines (``harness published`` lists them).
    """
    ref = reference_after(table, index)
    if ref is None:
        return None
    cells = [(ref.text(c.key) or "—") if c.kind == "accuracy" else "" for c in report.columns]
    cells[_n_accuracy(report) : _n_accuracy(report)] = [""] * len(deltas)
    return ref.label, cells


def published_lines(table: Table) -> list[str]:
    """One line per model of a table with published numbers: its reference and caveats, or why there is none."""
    refs = table.published
    if refs is None:
        return []
    models = dict.fromkeys(row.model for row in table.rows)
    return [f"{m}: {refs.references[m].message if m in refs.references else refs.missing[m]}" for m in models]


def tie_mark(row: Row, col: Column) -> bool:
    """Whether this value gets the "not significantly different from the best" mark."""
    comparison = row.significance.get(col.key)
    return comparison is not None and not comparison.different


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
    return ("suite " if len(suites) == 1 else "suites ") + ", ".join(_md_code(s) for s in suites)


def _section(table: Table, report: Report) -> str:
    many = len({t.suite for t in report.tables}) > 1
    name = f"{table.suite} / {table.dataset}" if many else table.dataset
    # A rehearsal carries the real dataset's name (and so its published rows): the title must say it is not.
    return f"{name} (synthetic rehearsal data, not the real dataset)" if table.rehearsal else name


def _failure_line(rec: dict) -> tuple[str, str, str]:
    error = rec.get("error") or {}
    message = str(error.get("message") or "").strip().splitlines()
    first = message[0] if message else ""
    if len(first) > 120:
        first = first[:117] + "..."
    return str(error.get("type") or "unknown error"), first, str(rec.get("cell_key", ""))[:12]


def _markdown(report: Report, command: str) -> str:
    out = [f"# Benchmark results: {_title(report)}", ""]
    out.append(f"- Command: {_md_code(command)}")
    out.append(f"- Cells: {report.n_ok} finished, {report.n_failed} failed")
    for hw in report.hardware:
        out.append(f"- Hardware: {_md_escape(hw)}")
    for version in report.versions:
        out.append(f"- Versions: {_md_escape(version)}")
    out.append("")
    for paragraph in legend_lines(report):
        out += [paragraph, ""]
    for warning in report.warnings:
        out += [f"> **Warning:** {_md_escape(warning)}", ""]
    for table in report.tables:
        out += [f"## {_md_text(_section(table, report))}", ""]
        deltas, at = delta_columns(report, table), 2 + _n_accuracy(report)
        head = ["Model", "n", *(c.label for c in report.columns)]
        head[at:at] = [f"Δ {c.label}" for c in deltas]
        out.append("| " + " | ".join(head) + " |")
        out.append("|:--|--:|" + "--:|" * (len(head) - 2))
        for i, row in enumerate(table.rows):
            cells = [_md_text(row.label) + _markers(row, "md"), str(len(row.records))]
            for col in report.columns:
                text = format_stat(row.stats.get(col.key), col)
                text = f"**{text}**" if i in table.best.get(col.key, ()) else text
                cells.append(f"{text} {TIE_MARK}" if tie_mark(row, col) else text)
            cells[at:at] = [format_delta(row_delta(table, row, c)) for c in deltas]
            out.append("| " + " | ".join(cells) + " |")
            published = _reference_row(table, i, report, deltas)
            if published is not None:
                label, ref_cells = published
                out.append("| " + " | ".join([f"↳ *{_md_escape(label)}*", "", *ref_cells]) + " |")
        if not table.rows:
            out.append("| (no finished cell) | 0 |" + " |" * len(report.columns))
        lines = published_lines(table)
        if lines and table.published is not None:
            out += ["", f"Published references (`harness published {table.published.dataset}`):", ""]
            out += [f"- {_md_escape(line)}" for line in lines]
        if table.failed:
            out += ["", "Failed cells:", ""]
            for rec in table.failed:
                kind, message, key = _failure_line(rec)
                model, seed = _md_text(rec["model"]), _md_escape(rec["seed"])
                out.append(f"- {model}, seed {seed}: {_md_code(kind)} (cell {_md_code(key)}) {_md_escape(message)}")
        out.append("")
    if report.footnotes:
        out += ["## Notes", ""]
        out += [f"{n}. {_md_escape(text)}" for n, text in enumerate(report.footnotes, start=1)]
        out.append("")
    return "\n".join(out)


def _markers(row: Row, fmt: str) -> str:
    """What follows the model name: "not converged (budget)", a warning sign if flagged, footnote numbers."""
    numbers = _ranges(row.notes)
    cut = f"(not converged: {not_converged_reasons(row)})" if row.not_converged else ""
    if fmt == "latex":
        flag = r"\textsuperscript{(!)}" if row.flagged else ""
        cut = r" \textit{" + _tex(cut) + "}" if cut else ""
        return cut + flag + (r"\textsuperscript{" + numbers.replace("-", "--") + "}" if numbers else "")
    cut = _md_escape(cut)  # a stop reason the harness does not know is shown as recorded
    return (f" *{cut}*" if cut else "") + (" ⚠" if row.flagged else "") + (f" [{numbers}]" if numbers else "")


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


def _md_escape(text: object) -> str:
    """Prose from data (warnings, notes, messages): control characters escaped, ``|`` kept out of table syntax."""
    return printable(text).replace("|", r"\|")


#: Characters with a meaning in (GitHub) Markdown: emphasis, code, links, HTML, headings, tables, strikethrough.
_MD_SPECIAL = frozenset("\\`*_[]<>#|&~!")


def _md_text(text: object) -> str:
    """A name from data in a heading or a table cell (dataset, suite, model): shown literally, never as markup.

    Control characters are escaped, and every Markdown-special character gets a backslash (CommonMark shows an
    escaped ASCII punctuation character as itself), so a name such as ``# x | *y*`` cannot start a heading,
    split a cell or turn into emphasis.
    """
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in printable(text))


def _md_code(text: object) -> str:
    """``text`` as an inline code span, fenced with more backticks than it contains (no escapes work inside)."""
    text = printable(text)
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    if longest == 0:
        return f"`{text}`"
    fence = "`" * (longest + 1)
    return f"{fence} {text} {fence}"


def _csv(report: Report, command: str) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    stat_cols = [c.key for c in report.columns]
    header = ["suite", "dataset", "model", "config", "comparable", "n_seeds", "seeds"]
    for key in stat_cols:
        header += [f"{key}_mean", f"{key}_std"]
    accuracy = [c for c in report.columns if c.kind == "accuracy"]
    for col in accuracy:
        header += [f"{col.key}_vs_best", f"{col.key}_p_holm"]
    header += ["converged", "stop_reasons"]
    header += ["n_failed", "dataset_sha256", "split_hash", "metrics_version", "notes"]
    # Published columns only when some table has published numbers, so other reports keep their layout.
    published = any(t.published is not None for t in report.tables)
    if published:
        header += ["published_reference"]
        for col in accuracy:
            header += [f"{col.key}_published", f"{col.key}_delta"]
    writer.writerow(header)
    for table in report.tables:
        for i, row in enumerate(table.rows):
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
            for col in accuracy:
                comparison = row.significance.get(col.key)
                if i in table.best.get(col.key, ()):
                    line += ["best", ""]
                elif comparison is None:
                    line += ["", ""]  # not tested: flagged, no per-query values, or testing off
                else:
                    verdict = "significant" if comparison.different else "not significant"
                    line += [verdict, repr(comparison.p_holm)]
            converged = row.converged
            line += ["" if converged is None else converged, _stop_reasons(row)]
            n_failed = sum(1 for r in table.failed if r["model"] == row.model)
            notes = " | ".join(f"[{n}] {report.footnotes[n - 1]}" for n in row.notes)
            line += [n_failed, *row.compat, notes]
            if published:
                line += _csv_published(table, row, accuracy)
            # The csv module quotes separators and line breaks; control characters from data are escaped too.
            writer.writerow([printable(v) if isinstance(v, str) else v for v in line])
    return buf.getvalue()


def _csv_published(table: Table, row: Row, accuracy: list[Column]) -> list[object]:
    """Reference sentence (or why none), then published value (as printed) and delta per accuracy column."""
    refs = table.published
    ref = refs.references.get(row.model) if refs else None
    if ref is None:
        return [refs.missing.get(row.model, "") if refs else "", *[""] * (2 * len(accuracy))]
    out: list[object] = [ref.message]
    for col in accuracy:
        delta = row_delta(table, row, col)
        out += [ref.text(col.key) or "", "" if delta is None else repr(delta)]
    return out


def _stop_reasons(row: Row) -> str:
    """Each seed's ``fit.stop_reason`` in seed order (``-`` where unrecorded); empty when none is recorded."""
    reasons = [fit_stop(r)[0] for r in sorted(row.records, key=lambda r: int(r["seed"]))]
    return "" if all(r is None for r in reasons) else " ".join(r or "-" for r in reasons)


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
    # Not special to LaTeX, but the default OT1 font encoding prints them as other glyphs (¡, ¿, —).
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "⚠": "(!)",
    "≈": r"$\approx$",
    "α": r"$\alpha$",
    "±": r"$\pm$",
    # Published references: the XC repository's marks and the delta columns.
    "♦": r"$\diamond$",
    "†": r"$\dagger$",
    "‡": r"$\ddagger$",
    "Δ": r"$\Delta$",
    "−": "$-$",
}


def _tex(text: str) -> str:
    r"""Text for the LaTeX body: control characters escaped (as ``\x1b``), then every special character."""
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in printable(text))


def _tex_comment(text: object) -> str:
    """Text after ``%``: only a line break could end the comment early, so control characters are escaped."""
    return printable(text)


def _latex(report: Report, command: str) -> str:
    out = [
        "% Generated by `" + _tex_comment(command) + "` (needs \\usepackage{booktabs}).",
        *[f"% Hardware: {_tex_comment(h)}" for h in report.hardware],
        *[f"% Versions: {_tex_comment(v)}" for v in report.versions],
        *[f"% WARNING: {_tex_comment(w)}" for w in report.warnings],
        "",
    ]
    for table in report.tables:
        deltas, at = delta_columns(report, table), 2 + _n_accuracy(report)
        head = ["Model", "$n$", *(_tex(c.label) for c in report.columns)]
        head[at:at] = [r"$\Delta$ " + _tex(c.label) for c in deltas]
        out += [
            r"\begin{table}[t]",
            r"\centering",
            r"\caption{" + _tex(_section(table, report)) + r": mean $\pm$ std over seeds; accuracy in \%.}",
            r"\begin{tabular}{lr" + "r" * (len(head) - 2) + "}",
            r"\toprule",
            " & ".join(head) + r" \\",
            r"\midrule",
        ]
        for i, row in enumerate(table.rows):
            cells = [_tex(row.label) + _markers(row, "latex"), str(len(row.records))]
            for col in report.columns:
                text = _tex(format_stat(row.stats.get(col.key), col))
                text = r"\textbf{" + text + "}" if i in table.best.get(col.key, ()) else text
                cells.append(text + r"$^{\approx}$" if tie_mark(row, col) else text)
            cells[at:at] = [_tex(format_delta(row_delta(table, row, c))) for c in deltas]
            out.append(" & ".join(cells) + r" \\")
            published = _reference_row(table, i, report, deltas)
            if published is not None:
                label, ref_cells = published
                out.append(" & ".join([r"\textit{" + _tex(label) + "}", "", *map(_tex, ref_cells)]) + r" \\")
        out += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
        out += [r"% published: " + _tex_comment(line) for line in published_lines(table)]
        for rec in table.failed:
            kind, message, key = _failure_line(rec)
            out.append(_tex_comment(f"% failed: {rec['model']} seed {rec['seed']}: {kind} (cell {key}) {message}"))
        out.append("")
    for paragraph in legend_lines(report)[1:]:  # the first is the caption's business
        out.append(r"\noindent " + _tex(paragraph.replace("*", "")) + r"\\")
    for n, text in enumerate(report.footnotes, start=1):
        out.append(r"\noindent\textsuperscript{" + str(n) + "}~" + _tex(text) + r"\\")
    return "\n".join(out) + "\n"
