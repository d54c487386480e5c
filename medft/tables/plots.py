"""PNG plots of a results table: accuracy vs each numeric swept setting (rank, alpha, learning
rate) with one line per other setting, and accuracy vs memory with one point per setting,
labelled by quantization. Error bars are the cells' 95% intervals.
"""

from __future__ import annotations

from pathlib import Path

from medft.tables.aggregate import Column, Row, Table

QUANT_KEY = "quantization"


def _numeric(value: str) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _yerr(rows: list[Row], column: Column):
    lows, highs = [], []
    for row in rows:
        cell = row.cells[column.key]
        lo, hi = cell.ci if cell.ci else (cell.mean, cell.mean)
        lows.append(cell.mean - lo)
        highs.append(hi - cell.mean)
    return [lows, highs]


def _slug(key: str) -> str:
    return key.split(".")[-1].replace("_", "-")


def accuracy_vs_setting(table: Table, metric: Column, key: str, out: Path, plt) -> Path | None:
    rows = [r for r in table.rows if metric.key in r.cells and _numeric(r.settings[key]) is not None]
    if len({r.settings[key] for r in rows}) < 2:
        return None
    others = [k for k in table.setting_keys if k != key]
    lines: dict[str, list[Row]] = {}
    for row in rows:
        label = ", ".join(f"{k}={row.settings[k]}" for k in others) or metric.label
        lines.setdefault(label, []).append(row)
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, members in lines.items():
        members.sort(key=lambda r: _numeric(r.settings[key]))
        xs = [_numeric(r.settings[key]) for r in members]
        ax.errorbar(
            xs,
            [r.cells[metric.key].mean for r in members],
            yerr=_yerr(members, metric),
            marker="o",
            capsize=3,
            label=label,
        )
    xs = sorted({_numeric(r.settings[key]) for r in rows})
    if xs[0] > 0 and xs[-1] / xs[0] >= 8:
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [f"{x:g}" for x in xs])
    ax.set_xlabel(key)
    ax.set_ylabel(metric.label)
    ax.grid(alpha=0.3)
    if len(lines) > 1:
        ax.legend(fontsize=8)
    path = out / f"{metric.key}_vs_{_slug(key)}.png"
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def accuracy_vs_memory(table: Table, metric: Column, memory: Column, out: Path, plt) -> Path | None:
    rows = [r for r in table.rows if metric.key in r.cells and memory.key in r.cells]
    if len(rows) < 2:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for row in rows:
        label = row.settings.get(QUANT_KEY) or ", ".join(f"{k}={v}" for k, v in row.settings.items())
        ax.errorbar(
            [row.cells[memory.key].mean],
            [row.cells[metric.key].mean],
            yerr=_yerr([row], metric),
            marker="o",
            capsize=3,
            linestyle="none",
            label=label,
        )
    ax.set_xlabel(memory.label)
    ax.set_ylabel(metric.label)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title=QUANT_KEY if QUANT_KEY in table.setting_keys else None)
    path = out / f"{metric.key}_vs_{memory.key}.png"
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def make_plots(table: Table, out: Path, metric_key: str | None = None) -> list[Path]:
    """Every plot the table supports; `metric_key` picks the accuracy (default: the first column)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and CI
    import matplotlib.pyplot as plt

    accuracy = [c for c in table.columns if c.accuracy]
    if not accuracy:
        return []
    metric = next((c for c in accuracy if c.key == metric_key), accuracy[0])
    out.mkdir(parents=True, exist_ok=True)
    made = [accuracy_vs_setting(table, metric, key, out, plt) for key in table.setting_keys]
    by_key = {c.key: c for c in table.columns}
    for memory_key in ("peak_mem_mb", "model_mem_mb"):
        if memory_key in by_key:
            made.append(accuracy_vs_memory(table, metric, by_key[memory_key], out, plt))
    return [p for p in made if p]
