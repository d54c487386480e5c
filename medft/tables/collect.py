"""Read every job of one or more sweep folders: what was swept, how each job ended, its metrics.

Works on a sweep that is still running: unfinished jobs come back with their status (pending,
running, interrupted, failed) and no metrics, so the table can say what is missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from medft.run.folders import METRICS_FILE
from medft.sweep.index import read_index, sweep_status
from medft.sweep.jobs import metric_at
from medft.sweep.naming import override_key

SEED_KEY = "seed"
_ABSENT = object()


class ReportInputError(ValueError):
    """A path given to the report is not a sweep folder."""


@dataclass
class JobRecord:
    sweep: str
    name: str
    folder: Path
    status: str
    overrides: dict[str, str]  # key -> value as given on the command line or by the preset
    metrics: dict | None = None
    error: dict | None = None
    choices: dict[str, str] = field(default_factory=dict)  # Hydra's group choices (quantization=nf4_no_dq)
    config: dict = field(default_factory=dict)

    @property
    def seed(self) -> str:
        return self.setting(SEED_KEY)

    def setting(self, key: str) -> str:
        """The value of a swept key: the override, else the group choice, else the resolved config."""
        if key in self.overrides:
            return self.overrides[key]
        if key in self.choices:
            return str(self.choices[key])
        value = metric_at(self.config, key, _ABSENT)
        return "" if value is _ABSENT else str(value)


def _load_yaml(path: Path) -> dict:
    import yaml

    if not path.is_file():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def _overrides(entries: list[str]) -> dict[str, str]:
    return {override_key(o): o.split("=", 1)[1] for o in entries if "=" in o}


def _varying_keys(jobs: list[JobRecord]) -> list[str]:
    """For a folder without sweep.json (another sweeper's): the keys whose values differ across jobs."""
    keys = list(dict.fromkeys(k for j in jobs for k in j.overrides))
    return [k for k in keys if len({j.overrides.get(k) for j in jobs}) > 1]


def collect_sweep(sweep_dir: Path) -> tuple[list[str], list[JobRecord]]:
    """(swept keys in sweep order, one record per job)."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise ReportInputError(f"{sweep_dir}: no such folder; give a sweep folder (outputs/<name>/multirun/<sweep>/)")
    status = sweep_status(sweep_dir)
    if not status["jobs"]:
        raise ReportInputError(f"{sweep_dir}: no jobs here (no sweep.json and no job folders with .hydra/); "
                               "give the folder that holds the job folders of a `python train.py -m` run")
    jobs = []
    for entry in status["jobs"]:
        folder = Path(entry["folder"])
        hydra_dir = folder / ".hydra"
        metrics_path = folder / METRICS_FILE
        jobs.append(JobRecord(
            sweep=sweep_dir.name, name=entry["name"], folder=folder, status=entry["status"],
            overrides=_overrides(entry.get("overrides") or []),
            metrics=json.loads(metrics_path.read_text(encoding="utf-8")) if entry["status"] == "finished" else None,
            error=entry.get("error"),
            choices=(_load_yaml(hydra_dir / "hydra.yaml").get("hydra", {}).get("runtime", {}).get("choices", {})),
            config=_load_yaml(hydra_dir / "config.yaml")))
    swept = read_index(sweep_dir).get("swept") or _varying_keys(jobs)
    return list(swept), jobs


def collect(sweep_dirs: list[Path]) -> tuple[list[str], list[JobRecord]]:
    """Several sweeps (say, two ablations run apart) merge into one table over the union of their keys."""
    swept: list[str] = []
    jobs: list[JobRecord] = []
    for sweep_dir in sweep_dirs:
        keys, found = collect_sweep(sweep_dir)
        swept += [k for k in keys if k not in swept]
        jobs += found
    return swept, jobs
