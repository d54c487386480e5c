"""The few lines a finished training run ends with: base -> tuned per evaluated set with 95% intervals,
McNemar's p and the tuned model against the majority class (with COLLAPSE when one answer took over), then throughput, wall clock, peak memory and the run folder. Read from metrics.json's
contents, so what the console shows is what the run folder records."""

from __future__ import annotations

from pathlib import Path

from medft.evaluation.baselines import verdict_cell

# The headline of a set's summary, by task: (metric, its 95% interval key or None). The first present wins.
HEADLINES = (
    ("acc", "acc_ci95"),
    ("exact_match", "exact_match_ci95"),
    ("rouge_l", "rouge_l_ci95"),
    ("all_entities_right", None),
    ("perplexity", None),
)
NOT_SCORED = "-"


def _headline(result: dict | None) -> tuple[str, str] | None:
    for metric, interval in HEADLINES:
        if result and isinstance(result.get(metric), (int, float)):
            return metric, interval
    return None


def _cell(result: dict | None, metric: str, interval: str | None) -> str:
    if not result or not isinstance(result.get(metric), (int, float)):
        return NOT_SCORED
    bounds = result.get(interval) if interval else None
    if bounds and None not in bounds:
        return f"{result[metric]:.3f} [{bounds[0]:.3f}, {bounds[1]:.3f}]"
    return f"{result[metric]:.3f}"


def _p_value(paired: dict | None) -> str:
    p = (paired or {}).get("p_value")
    return NOT_SCORED if p is None else (f"{p:.2g}" if p < 0.01 else f"{p:.2f}")


def set_rows(metrics: dict) -> list[list[str]]:
    """One row per set scored before or after training (the dataset's sets, then benchmarks)."""
    rows = []
    paired = metrics.get("paired", {})
    for before_key, after_key, prefix in (
        ("eval_before", "eval_after", ""),
        ("benchmarks_before", "benchmarks_after", "benchmark:"),
    ):
        before, after = metrics.get(before_key) or {}, metrics.get(after_key) or {}
        for name in [*before, *(n for n in after if n not in before)]:
            headline = _headline(after.get(name)) or _headline(before.get(name))
            if headline is None:
                continue  # a skipped benchmark or a set with no scalar to show
            n = (after.get(name) or before.get(name)).get("n", "")
            rows.append(
                [
                    f"{prefix}{name}",
                    str(n),
                    headline[0],
                    _cell(before.get(name), *headline),
                    "->",
                    _cell(after.get(name), *headline),
                    _p_value(paired.get(f"{prefix}{name}")),
                    verdict_cell(after.get(name) or before.get(name)),
                ]
            )
    return rows


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in [header, *rows]]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return NOT_SCORED
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def run_summary(metrics: dict, run_dir: Path) -> str:
    """The closing lines of a run (logged once: console and train.log)."""
    rows = set_rows(metrics)
    lines = ["Finished. Scores before -> after training:"]
    if rows:
        lines += _table(
            ["set", "n", "metric", "base [95% CI]", "", "tuned [95% CI]", "McNemar p", "vs majority class"], rows
        )
    else:
        lines.append("No set scored (eval.before=false and eval.after=false)")
    train = metrics.get("train", {})
    rate = train.get("tokens_per_s")
    peak = train.get("peak_mem_mb")
    lines.append(
        f"Training: {train.get('steps', 0)} steps, {train.get('tokens', 0)} tokens at "
        f"{f'{rate:.0f}' if rate else NOT_SCORED} tokens/s in {_duration(train.get('wall_s'))}; "
        f"wall clock {_duration(metrics.get('run_wall_s'))}; peak memory "
        f"{f'{peak:.0f} MB' if peak else NOT_SCORED}"
    )
    if train.get("resumed_from"):
        lines.append(f"Resumed from {train['resumed_from']}: tokens and times are this attempt's")
    lines.append(f"Run folder: {run_dir}")
    return "\n".join(lines)
