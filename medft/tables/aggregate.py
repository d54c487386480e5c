"""Jobs -> rows of a results table: one row per swept setting, one cell per metric over seeds.

A cell holds the mean and standard deviation over the finished seeds and a 95% interval:
Student's t over seeds when there are at least two, otherwise (one seed) the run's own
interval over test items, marked as such. The best cell per column (by its direction) is
flagged; trainable-parameter counts have no direction and are never flagged. Beside each
multiple-choice accuracy sit its macro-F1 and majority-class baseline, and a cell counts the
seeds whose run collapsed onto one answer (`medft.evaluation.baselines`), for the mark.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from medft.sweep.jobs import metric_at
from medft.tables.collect import SEED_KEY, JobRecord

STATES = ("finished", "failed", "running", "interrupted", "pending")


@dataclass(frozen=True)
class Column:
    key: str  # short id, used in CSV headers
    label: str  # shown in Markdown and LaTeX headers
    path: tuple[str, ...]  # where the number is in metrics.json
    better: str = ""  # higher | lower | "" (no best marked)
    scale: float = 1.0  # accuracy fractions are shown as percentages
    ci_path: tuple[str, ...] | None = None  # a run's own interval, used when there is one seed
    digits: int = 1
    accuracy: bool = False
    collapse_path: tuple[str, ...] | None = None  # a run's collapse flag for this set or benchmark


@dataclass
class Cell:
    values: list[float]
    ci: tuple[float, float] | None = None
    interval: str = ""  # seeds (t over seeds) | items (one run's interval over test items)
    collapsed: int = 0  # seeds whose run predicted one answer for most items or lost to the majority class

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return sum(self.values) / len(self.values)

    @property
    def std(self) -> float | None:
        if self.n < 2:
            return None
        m = self.mean
        return math.sqrt(sum((v - m) ** 2 for v in self.values) / (self.n - 1))


@dataclass
class Row:
    settings: dict[str, str]
    jobs: list[JobRecord]
    cells: dict[str, Cell] = field(default_factory=dict)
    best: set[str] = field(default_factory=set)

    def count(self, state: str) -> int:
        return sum(j.status == state for j in self.jobs)

    @property
    def finished(self) -> int:
        return self.count("finished")


@dataclass
class Table:
    setting_keys: list[str]
    columns: list[Column]
    rows: list[Row]
    failures: list[JobRecord]


def discover_columns(jobs: list[JobRecord]) -> list[Column]:
    """Accuracy on every evaluated set and benchmark found in any finished job, then the costs."""
    finished = [j.metrics for j in jobs if j.metrics]
    sets = list(dict.fromkeys(k for m in finished for k in (m.get("eval_after") or {})))
    order = {"test": 0, "control": 1, "validation": 2}
    sets.sort(key=lambda s: order.get(s, 3))
    columns = [c for s in sets for c in choice_columns(("eval_after", s), s)]
    benchmarks = list(dict.fromkeys(k for m in finished for k in (m.get("benchmarks_after") or {})))
    for name in benchmarks:
        example = next(m["benchmarks_after"][name] for m in finished if name in (m.get("benchmarks_after") or {}))
        if "acc" in example:
            columns += choice_columns(("benchmarks_after", name), name)
        elif "rouge_l" in example:
            columns.append(
                Column(
                    f"{name}_rouge_l",
                    f"{name} rouge-l (%)",
                    ("benchmarks_after", name, "rouge_l"),
                    "higher",
                    100.0,
                    ("benchmarks_after", name, "rouge_l_ci95"),
                    accuracy=True,
                )
            )
    if any("retention" in (m.get("paired") or {}) for m in finished):  # the forgetting check: gain next to cost
        columns += [
            Column(
                "test_gain",
                "test gain (points)",
                ("paired", "test", "acc_delta"),
                "higher",
                100.0,
                ("paired", "test", "acc_delta_ci95"),
            ),
            Column(
                "retention_change",
                "retention change (points)",
                ("paired", "retention", "acc_delta"),
                "higher",
                100.0,
                ("paired", "retention", "acc_delta_ci95"),
            ),
        ]
    columns += [
        Column("trainable_params", "trainable params (M)", ("train", "trainable_params"), "", 1e-6, digits=2),
        Column("model_mem_mb", "weights (MB)", ("train", "model_footprint_mb"), "lower", digits=0),
        Column("peak_mem_mb", "peak memory (MB)", ("train", "peak_mem_mb"), "lower", digits=0),
        Column("train_s", "train time (s)", ("train", "wall_s"), "lower", digits=0),
        Column("tokens_per_s", "tokens/s", ("train", "tokens_per_s"), "higher", digits=0),
    ]
    return [c for c in columns if any(metric_at(m, c.path) is not None for m in finished)]


def choice_columns(prefix: tuple[str, ...], name: str) -> list[Column]:
    """Accuracy (marked where a run collapsed), macro-F1 and the majority-class baseline of one set."""
    collapse = (*prefix, "collapse")
    return [
        Column(
            f"{name}_acc",
            f"{name} acc (%)",
            (*prefix, "acc"),
            "higher",
            100.0,
            (*prefix, "acc_ci95"),
            accuracy=True,
            collapse_path=collapse,
        ),
        Column(
            f"{name}_macro_f1",
            f"{name} macro-F1 (%)",
            (*prefix, "macro_f1"),
            "higher",
            100.0,
            (*prefix, "macro_f1_ci95"),
            accuracy=True,
        ),
        # The same items give every run the same baseline: no direction, never "best".
        Column(f"{name}_majority", f"{name} majority class (%)", (*prefix, "majority", "acc"), "", 100.0),
    ]


def _t_quantile(df: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def make_cell(jobs: list[JobRecord], column: Column) -> Cell | None:
    values, own_ci, collapsed = [], None, 0
    for job in jobs:
        value = metric_at(job.metrics or {}, column.path)
        if isinstance(value, int | float) and math.isfinite(value):
            values.append(value * column.scale)
            flag = metric_at(job.metrics, column.collapse_path) if column.collapse_path else None
            collapsed += bool(isinstance(flag, dict) and flag.get("flag"))
            ci = metric_at(job.metrics, column.ci_path) if column.ci_path else None
            own_ci = (ci[0] * column.scale, ci[1] * column.scale) if ci and None not in ci else None
    if not values:
        return None
    cell = Cell(values, collapsed=collapsed)
    if cell.n >= 2:
        half = _t_quantile(cell.n - 1) * cell.std / math.sqrt(cell.n)
        low, high = cell.mean - half, cell.mean + half
        if column.accuracy:  # an accuracy's mean lies in [0, 100]%; t over 2 seeds can overshoot both ends
            low, high = max(low, 0.0), min(high, 100.0)
        cell.ci, cell.interval = (low, high), "seeds"
    elif own_ci:
        cell.ci, cell.interval = own_ci, "items"
    return cell


def build_table(swept: list[str], jobs: list[JobRecord]) -> Table:
    setting_keys = [k for k in swept if k != SEED_KEY]
    columns = discover_columns(jobs)
    rows: dict[tuple, Row] = {}
    for job in jobs:  # plan order: the first job of a setting fixes its row's place
        settings = {k: job.setting(k) for k in setting_keys}
        rows.setdefault(tuple(settings.values()), Row(settings, [])).jobs.append(job)
    for row in rows.values():
        for column in columns:
            cell = make_cell([j for j in row.jobs if j.status == "finished"], column)
            if cell:
                row.cells[column.key] = cell
    for column in columns:
        if not column.better:
            continue
        scored = [(row.cells[column.key].mean, row) for row in rows.values() if column.key in row.cells]
        if len(scored) >= 2 and len({mean for mean, _ in scored}) > 1:  # all tied: nothing is best
            pick = max if column.better == "higher" else min
            best = pick(mean for mean, _ in scored)
            for mean, row in scored:
                if mean == best:
                    row.best.add(column.key)
    failures = [j for j in jobs if j.status == "failed"]
    return Table(setting_keys, columns, list(rows.values()), failures)
