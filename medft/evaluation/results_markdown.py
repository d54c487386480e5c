"""results.json -> the Markdown tables a paper would print (one for choices, one for free text).

The choice table puts each benchmark's majority-class and chance baselines, macro-F1 [95% CI]
and predicted-label shares beside its accuracy, and marks a collapsed row (`medft.evaluation.baselines`)
with COLLAPSE_MARK and a sentence under the table.
"""

from __future__ import annotations

from medft.evaluation.baselines import COLLAPSE_MARK, COLLAPSE_RULE, describe


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _pct_ci(value, ci) -> str:
    if value is None:
        return "-"
    low, high = ci or (None, None)
    return f"{100 * value:.1f} [{_pct(low)}, {_pct(high)}]" if low is not None else _pct(value)


def _shares(shares: dict | None) -> str:
    """`yes 98 / no 2 / maybe 0`: each answer's share of the predictions, in percent."""
    return " / ".join(f"{label} {100 * share:.0f}" for label, share in shares.items()) if shares else "-"


def _collapse_text(result: dict) -> str:
    collapse = result.get("collapse")
    return "-" if collapse is None else f"**yes**{COLLAPSE_MARK}" if collapse["flag"] else "no"


def _collapse_lines(choice: dict) -> list[str]:
    """Every benchmark in words under the table; a collapsed one carries the mark."""
    described = [(name, r) for name, r in choice.items() if r.get("collapse")]
    if not described:
        return []
    lines = [f"{COLLAPSE_MARK} {COLLAPSE_RULE}.", ""]
    lines += [f"- {name}{COLLAPSE_MARK if r['collapse']['flag'] else ''}: {describe(r)}" for name, r in described]
    return lines + [""]


def markdown_tables(results: dict) -> str:
    """Tables of every benchmark in `results["benchmarks"]`, with the model named above them."""
    benchmarks = results.get("benchmarks", {})
    lines = [f"# {results.get('model', {}).get('label', 'model')}", ""]
    choice = {k: v for k, v in benchmarks.items() if v.get("task") == "multiple_choice"}
    free = {k: v for k, v in benchmarks.items() if v.get("task") == "generative"}
    skipped = {k: v for k, v in benchmarks.items() if "skipped" in v}
    if choice:
        lines += [
            "| benchmark | split | n | prompt | shots | acc % [95% CI] | acc_norm % | majority % | chance % | "
            "macro-F1 % [95% CI] | majority macro-F1 % | predicted % | collapse | ECE % | s |",
            "|---|---|---:|---|---:|---|---:|---:|---:|---|---:|---|---|---:|---:|",
        ]
        for name, r in choice.items():
            majority, collapsed = r.get("majority") or {}, (r.get("collapse") or {}).get("flag")
            lines.append(
                f"| {name}{COLLAPSE_MARK if collapsed else ''} | {r['split']} | {r['n']} | {r['prompt_style']} | "
                f"{r['shots']} | {_pct_ci(r.get('acc'), r.get('acc_ci95'))} | {_pct(r.get('acc_norm'))} | "
                f"{_pct(majority.get('acc'))} | {_pct((r.get('chance') or {}).get('acc'))} | "
                f"{_pct_ci(r.get('macro_f1'), r.get('macro_f1_ci95'))} | {_pct(majority.get('macro_f1'))} | "
                f"{_shares(r.get('predicted'))} | {_collapse_text(r)} | {_pct(r.get('ece'))} | {r['wall_s']:.0f} |"
            )
        lines.append("")
        lines += _collapse_lines(choice)
        for name, r in choice.items():
            if r.get("per_subject"):
                lines += [f"**{name} by subject**", "", "| subject | n | acc % [95% CI] |", "|---|---:|---|"]
                lines += [
                    f"| {s} | {v['n']} | {_pct_ci(v['acc'], v['acc_ci95'])} |" for s, v in r["per_subject"].items()
                ]
                lines.append("")
    if free:
        lines += [
            "| benchmark | split | n | prompt | ROUGE-L % [95% CI] | BLEU | token F1 % | exact match % | s |",
            "|---|---|---:|---|---|---:|---:|---:|---:|",
        ]
        for name, r in free.items():
            bleu = "-" if r.get("bleu") is None else f"{r['bleu']:.2f}"
            lines.append(
                f"| {name} | {r['split']} | {r['n']} | {r['prompt_style']} | "
                f"{_pct_ci(r.get('rouge_l'), r.get('rouge_l_ci95'))} | {bleu} | "
                f"{_pct(r.get('token_f1'))} | {_pct(r.get('exact_match'))} | {r['wall_s']:.0f} |"
            )
        lines.append("")
    for name, r in skipped.items():
        lines.append(f"- {name}: skipped ({r['skipped']})")
    notes = [f"- {name}: {note}" for name, r in benchmarks.items() for note in r.get("notes", [])]
    if notes:
        lines += ["", "Notes:", *notes]
    return "\n".join(lines).rstrip() + "\n"
