"""What one run's page shows, read from its folder: config, curves, scores, data checks, memory, timings.

Every part is optional: a run that failed, is still going, logged no TensorBoard events or was
scored by `medft evaluate` shows what it has and says what it lacks. Nothing here writes into the
run folder.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from medft.config.errors import ConfigError, UserError
from medft.hardware.planner import plan_training
from medft.run.folders import METRICS_FILE
from medft.run.manifest import MANIFEST_FILE
from medft.site.item_rows import run_items

log = logging.getLogger(__name__)

DATA_STATS_FILE = "data_stats.json"
JOB_FILE = "job.json"
TB_DIR = "tensorboard"
MiB = 1024**2


def read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def load_config(run_dir: Path):
    """The run's resolved config (`.hydra/config.yaml`) as OmegaConf, or None."""
    path = run_dir / ".hydra" / "config.yaml"
    if not path.is_file():
        return None
    try:
        return OmegaConf.load(path)
    except (OSError, ValueError) as err:
        log.warning("%s: not readable (%s); the run page shows no config", path, type(err).__name__)
        return None


def flatten(value, prefix: str = "") -> dict[str, str]:
    """{"peft_method.r": "16", ...}: a nested config as dotted keys, values as text."""
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): json.dumps(value) if isinstance(value, list | bool) or value is None else str(value)}


def config_diff(config: dict[str, str], baseline: dict[str, str]) -> list[tuple[str, str, str]]:
    """(key, baseline value, this run's value) for every key whose value differs, paths left out
    (output folders and caches differ between any two runs and say nothing about the setting)."""
    keys = sorted(set(config) | set(baseline))
    noise = ("output_root", "cache_dir", "hydra.")
    return [
        (k, baseline.get(k, "—"), config.get(k, "—"))
        for k in keys
        if config.get(k) != baseline.get(k) and not k.startswith(noise)
    ]


def scalar_curves(run_dir: Path) -> dict[str, tuple[list[int], list[float]]]:
    """{tag: (steps, values)} from the run's TensorBoard event files (loss, lr, eval, system/*)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    folder = run_dir / TB_DIR
    if not folder.is_dir():
        return {}
    curves: dict[str, tuple[list[int], list[float]]] = {}
    for events in sorted({p.parent for p in folder.rglob("events.out.tfevents.*")}):
        accumulator = EventAccumulator(str(events), size_guidance={"scalars": 0})  # 0: keep every point
        accumulator.Reload()
        for tag in accumulator.Tags().get("scalars", []):
            points = accumulator.Scalars(tag)
            steps, values = curves.setdefault(tag, ([], []))
            steps += [p.step for p in points]
            values += [p.value for p in points]
    return curves


def score_rows(metrics: dict) -> list[dict]:
    """One row per evaluated set or benchmark: before, after (value and interval), the paired test."""
    rows = []
    for prefix, kind in (("eval", "set"), ("benchmarks", "benchmark")):
        before, after = metrics.get(f"{prefix}_before") or {}, metrics.get(f"{prefix}_after") or {}
        paired = metrics.get("paired") or {}
        for name in dict.fromkeys([*after, *before]):
            b, a = before.get(name) or {}, after.get(name) or {}
            key = "acc" if "acc" in (a or b) else "rouge_l"
            test = paired.get(name if kind == "set" else f"benchmark:{name}") or {}
            rows.append(
                {
                    "name": name,
                    "kind": kind,
                    "metric": key,
                    "n": a.get("n", b.get("n")),
                    "before": b.get(key),
                    "before_ci": b.get(f"{key}_ci95"),
                    "after": a.get(key),
                    "after_ci": a.get(f"{key}_ci95"),
                    "delta_ci": test.get("acc_delta_ci95"),
                    "p_value": test.get("p_value"),
                    "improved": test.get("improved"),
                    "worsened": test.get("worsened"),
                }
            )
    return rows


def subject_accuracy(items: list[dict]) -> list[dict]:
    """Accuracy per (set, subject), base and tuned, from the item rows; largest groups first."""
    groups: dict[tuple[str, str], dict] = {}
    for row in items:
        if row["kind"] != "choice" or not row["subject"]:
            continue
        group = groups.setdefault((row["set"], row["subject"]), {"n": 0, "before": [], "after": []})
        group["n"] += 1
        for tag in ("before", "after"):
            if tag in row:
                group[tag].append(row[tag]["ok"])
    out = [
        {
            "set": s,
            "subject": subject,
            "n": g["n"],
            "before": sum(g["before"]) / len(g["before"]) if g["before"] else None,
            "after": sum(g["after"]) / len(g["after"]) if g["after"] else None,
        }
        for (s, subject), g in groups.items()
    ]
    return sorted(out, key=lambda r: (r["set"], -r["n"], r["subject"]))


def memory_plan(cfg) -> dict | None:
    """The planner's estimate for the run's config (MB per part), to set beside the measured peak."""
    if cfg is None:
        return None
    try:
        plan = plan_training(cfg)
    except (ConfigError, UserError, KeyError, ValueError, AttributeError, TypeError) as err:
        log.info("no memory plan for this run (%s)", type(err).__name__)
        return None
    return {"parts_mb": plan.parts_mb(), "total_mb": round(plan.total_bytes / MiB, 1), "device": plan.device}


def timings(metrics: dict, job: dict) -> dict[str, float]:
    train = metrics.get("train") or {}
    out = {
        "train_s": train.get("wall_s"),
        "run_s": metrics.get("run_wall_s") or job.get("wall_s"),
        "tokens_per_s": train.get("tokens_per_s"),
    }
    for name, bench in (metrics.get("benchmarks_after") or {}).items():
        if isinstance(bench, dict) and bench.get("wall_s") is not None:
            out[f"{name}_s"] = bench["wall_s"]
    return {k: v for k, v in out.items() if v is not None}


@dataclass
class RunData:
    name: str
    slug: str  # file-safe id: runs/<slug>.html, data/items_<slug>.js
    folder: Path
    status: str
    settings: dict[str, str] = field(default_factory=dict)
    config: dict[str, str] = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    manifest: dict = field(default_factory=dict)
    data_stats: dict = field(default_factory=dict)
    job: dict = field(default_factory=dict)
    curves: dict = field(default_factory=dict)
    items: list[dict] = field(default_factory=list)
    item_notes: list[str] = field(default_factory=list)
    plan: dict | None = None
    error: dict | None = None

    @property
    def scores(self) -> list[dict]:
        return score_rows(self.metrics)

    @property
    def subjects(self) -> list[dict]:
        return subject_accuracy(self.items)

    @property
    def timings(self) -> dict[str, float]:
        return timings(self.metrics, self.job)


def read_run(folder: Path, name: str, slug: str, status: str = "", settings: dict | None = None) -> RunData:
    cfg = load_config(folder)
    metrics = read_json(folder / METRICS_FILE)
    job = read_json(folder / JOB_FILE)
    bench_splits = {
        k: v.get("split", "") for k, v in (metrics.get("benchmarks_after") or {}).items() if isinstance(v, dict)
    }
    items, notes = run_items(folder, cfg, bench_splits)
    return RunData(
        name=name,
        slug=slug,
        folder=folder,
        status=status or job.get("status") or ("finished" if metrics else "unfinished"),
        settings=settings or {},
        config=flatten(OmegaConf.to_container(cfg, resolve=False)) if cfg is not None else {},
        metrics=metrics,
        manifest=read_json(folder / MANIFEST_FILE),
        data_stats=read_json(folder / DATA_STATS_FILE),
        job=job,
        curves=scalar_curves(folder),
        items=items,
        item_notes=notes,
        plan=memory_plan(cfg),
        error=job.get("error"),
    )
