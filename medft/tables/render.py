"""A `Table` as Markdown (README, issues), LaTeX booktabs (papers) and CSV (spreadsheets, pandas).

Markdown and LaTeX show `mean ± std [95% interval]` with the best cell in bold; CSV carries the
same numbers unformatted, one column each, plus the seed counts. An accuracy whose run collapsed
onto one answer (or lost to the majority class in macro-F1) carries COLLAPSE_MARK, and the
footnotes say each such run's collapse in words.
"""

from __future__ import annotations

import csv
import io

from medft.evaluation.baselines import COLLAPSE_MARK, COLLAPSE_RULE, describe
from medft.tables.aggregate import STATES, Cell, Column, Row, Table

ITEMS_MARK = "†"  # the interval is one run's, over test items, not over seeds


def seeds_text(row: Row) -> str:
    """`3`, or `1 of 3 (1 failed, 1 running)` while a sweep is incomplete."""
    total, done = len(row.jobs), row.finished
    others = [f"{row.count(s)} {s}" for s in STATES[1:] if row.count(s)]
    return str(done) if not others else f"{done} of {total} ({', '.join(others)})"


def setting_text(value: str) -> str:
    """Searched floats (optuna) to 4 significant digits for reading; CSV keeps them whole."""
    if any(ch in value for ch in ".e") and value.replace(".", "").replace("e-", "").replace("e+", "").isdigit():
        return f"{float(value):.4g}"
    return value


def _number(value: float, digits: int) -> str:
    return f"{value:,.{digits}f}" if digits == 0 else f"{value:.{digits}f}"


def cell_text(cell: Cell | None, column: Column, row: Row, pm: str = "±") -> str:
    if cell is None:
        if row.count("failed") and not row.finished:
            return "FAILED"
        return "…" if any(row.count(s) for s in ("running", "pending", "interrupted")) else "—"
    text = _number(cell.mean, column.digits)
    if cell.std is not None:
        text += f" {pm} {_number(cell.std, column.digits)}"
    if cell.ci and column.ci_path is not None:  # accuracies and paired changes; costs show their mean
        text += f" [{_number(cell.ci[0], column.digits)}, {_number(cell.ci[1], column.digits)}]"
        if cell.interval == "items":
            text += ITEMS_MARK
    if cell.collapsed:
        text += COLLAPSE_MARK + (f" ({cell.collapsed} of {cell.n} seeds)" if cell.collapsed < cell.n else "")
    if cell.n != row.finished:
        text += f" (n={cell.n})"
    return text


def collapse_notes(table: Table) -> list[str]:
    """One line per finished run and set that collapsed, in the words the run's log used."""
    lines = []
    for row in table.rows:
        for job in row.jobs:
            metrics = job.metrics or {}
            for prefix in ("eval_after", "benchmarks_after"):
                for name, summary in (metrics.get(prefix) or {}).items():
                    if isinstance(summary, dict) and (summary.get("collapse") or {}).get("flag"):
                        lines.append(f"- `{job.name}` {name}: {describe(summary)}")
    if not lines:
        return []
    return [
        f"{COLLAPSE_MARK} {COLLAPSE_RULE} (whose accuracy is the `majority class` column); "
        "`(k of n seeds)`: only some seeds collapsed:",
        *lines,
    ]


def footnotes(table: Table) -> list[str]:
    notes = [
        "Cells: mean ± standard deviation over seeds, [95% interval]: Student's t over seeds when a "
        "cell has 2 or more (clipped to 0-100 for accuracies); "
        f"{ITEMS_MARK} marks a single run's Wilson interval over its test items. "
        "Bold: the best mean in its column. `seeds`: finished runs in the cell."
    ]
    notes += collapse_notes(table)
    if table.failures:
        notes.append(f"{len(table.failures)} job(s) failed and are not in the numbers:")
        for job in table.failures:
            error = job.error or {}
            notes.append(
                f"- `{job.name}` ({job.sweep}): {error.get('type', 'error')}: "
                f"{str(error.get('message', '')).splitlines()[0][:300] if error.get('message') else ''}"
                + ("" if error.get("type") == "UnreadableMetrics" else f" (see {job.folder}/error.txt)")
            )
    return notes


def to_markdown(table: Table) -> str:
    header = table.setting_keys + ["seeds"] + [c.label for c in table.columns]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] * (len(table.setting_keys) + 1) + ["---:"] * len(table.columns)) + "|",
    ]
    for row in table.rows:
        cells = []
        for column in table.columns:
            text = cell_text(row.cells.get(column.key), column, row)
            cells.append(f"**{text}**" if column.key in row.best else text)
        settings = [setting_text(v) for v in row.settings.values()]
        lines.append("| " + " | ".join([*settings, seeds_text(row), *cells]) + " |")
    return "\n".join(lines) + "\n\n" + "\n".join(footnotes(table)) + "\n"


_LATEX_SPECIAL = {
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
    "†": r"$^\dagger$",
    "‡": r"$^\ddagger$",
    "…": r"\ldots{}",
    "—": "--",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def to_latex(table: Table, caption: str = "") -> str:
    n_settings = len(table.setting_keys) + 1
    spec = "l" * n_settings + "r" * len(table.columns)
    header = [latex_escape(k) for k in table.setting_keys] + ["seeds"] + [latex_escape(c.label) for c in table.columns]
    lines = [
        r"% needs \usepackage{booktabs}",
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(header) + r" \\",
        r"\midrule",
    ]
    for row in table.rows:
        cells = []
        for column in table.columns:
            text = latex_escape(cell_text(row.cells.get(column.key), column, row, pm="±")).replace("±", r"$\pm$")
            cells.append(rf"\textbf{{{text}}}" if column.key in row.best else text)
        values = [latex_escape(setting_text(v)) for v in row.settings.values()] + [latex_escape(seeds_text(row))]
        lines.append(" & ".join(values + cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    collapse = collapse_notes(table)
    note = latex_escape(footnotes(table)[0] + (f" {collapse[0]}" if collapse else ""))
    lines.append(rf"\caption{{{latex_escape(caption) + ' ' if caption else ''}{note}}}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    stats = ("mean", "std", "ci_low", "ci_high", "n")
    writer.writerow(
        table.setting_keys
        + ["seeds_finished", "jobs", *[s for s in STATES[1:]]]
        + [f"{c.key}_{s}" for c in table.columns for s in stats]
        + ["best", "collapsed"]
    )
    for row in table.rows:
        values: list = [*row.settings.values(), row.finished, len(row.jobs), *[row.count(s) for s in STATES[1:]]]
        for column in table.columns:
            cell = row.cells.get(column.key)
            if cell is None:
                values += [""] * len(stats)
            else:
                values += [cell.mean, "" if cell.std is None else cell.std, *(cell.ci if cell.ci else ("", "")), cell.n]
        values.append(";".join(sorted(row.best)))
        # `test_acc:2`: two of the row's seeds collapsed on the test set
        values.append(";".join(f"{key}:{cell.collapsed}" for key, cell in row.cells.items() if cell.collapsed))
        writer.writerow(values)
    return out.getvalue()
