"""Read every job of one or more sweep folders: what was swept, how each job ended, its metrics.

Works on a sweep that is still running: unfinished jobs come back with their status (pending,
running, interrupted, failed) and no metrics, so the table can say what is missing. A file that
is not readable (a metrics.json or sweep.json cut short, a .hydra yaml edited into invalid YAML)
is skipped and said so in `skipped`: a job with unreadable metrics counts as failed, with the
file named as its error; an unreadable sweep.json gives way to the job folders themselves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from medft.config.errors import UserError
from medft.run.folders import METRICS_FILE
from medft.sweep.index import UnreadableIndexError, json_problem, read_index, sweep_status
from medft.sweep.jobs import metric_at
from medft.sweep.naming import override_key

SEED_KEY = "seed"
_ABSENT = object()


class ReportInputError(UserError, ValueError):
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


def _load_yaml(path: Path, skipped: list[str]) -> dict:
    import yaml

    if not path.is_file():
        return {}
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, ValueError) as err:
        mark = getattr(err, "problem_mark", None)
        skipped.append(
            f"{path}: not readable YAML{f' (line {mark.line + 1})' if mark else ''}; the job's settings "
            "from it are left out"
        )
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _read_metrics(path: Path, skipped: list[str]) -> tuple[dict | None, dict | None]:
    """(metrics, None), or (None, the error the table shows) when metrics.json cannot be read."""
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(metrics, dict):
            return metrics, None
        problem = f"holds a JSON {type(metrics).__name__}, not an object"
    except (OSError, ValueError, RecursionError) as err:
        problem = f"not readable JSON ({json_problem(err)})"
    message = (
        f"{path}: {problem}, so this job's numbers are left out. To run the job again: mv {path} "
        f"{path}.broken, then rerun the sweep's command (it reruns jobs without metrics.json)"
    )
    skipped.append(message)
    return None, {"type": "UnreadableMetrics", "message": message}


def _overrides(entries: list[str]) -> dict[str, str]:
    return {override_key(o): o.split("=", 1)[1] for o in entries if "=" in o}


def _varying_keys(jobs: list[JobRecord]) -> list[str]:
    """For a folder without sweep.json (another sweeper's): the keys whose values differ across jobs."""
    keys = list(dict.fromkeys(k for j in jobs for k in j.overrides))
    return [k for k in keys if len({j.overrides.get(k) for j in jobs}) > 1]


def collect_sweep(sweep_dir: Path, skipped: list[str] | None = None) -> tuple[list[str], list[JobRecord]]:
    """(swept keys in sweep order, one record per job); unreadable files are listed in `skipped`."""
    skipped = [] if skipped is None else skipped
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise ReportInputError(f"{sweep_dir}: no such folder; give a sweep folder (outputs/<name>/multirun/<sweep>/)")
    try:
        index = read_index(sweep_dir)
    except UnreadableIndexError as err:
        skipped.append(f"{err} (this report read the job folders instead; planned jobs not yet started are not listed)")
        index = {}
    status = sweep_status(sweep_dir, index)
    if not status["jobs"]:
        raise ReportInputError(
            f"{sweep_dir}: no jobs here (no sweep.json and no job folders with .hydra/); "
            "give the folder that holds the job folders of a `python train.py -m` run"
        )
    jobs = []
    for entry in status["jobs"]:
        folder = Path(entry["folder"])
        hydra_dir = folder / ".hydra"
        state, metrics, error = entry["status"], None, entry.get("error")
        if state == "finished":
            metrics, unreadable = _read_metrics(folder / METRICS_FILE, skipped)
            if unreadable:
                state, error = "failed", unreadable
        hydra = _load_yaml(hydra_dir / "hydra.yaml", skipped)
        jobs.append(
            JobRecord(
                sweep=sweep_dir.name,
                name=entry["name"],
                folder=folder,
                status=state,
                overrides=_overrides(entry.get("overrides") or []),
                metrics=metrics,
                error=error,
                choices=(((hydra.get("hydra") or {}).get("runtime") or {}).get("choices") or {}),
                config=_load_yaml(hydra_dir / "config.yaml", skipped),
            )
        )
    swept = index.get("swept") or _varying_keys(jobs)
    return list(swept), jobs


def collect(sweep_dirs: list[Path], skipped: list[str] | None = None) -> tuple[list[str], list[JobRecord]]:
    """Several sweeps (say, two ablations run apart) merge into one table over the union of their keys."""
    swept: list[str] = []
    jobs: list[JobRecord] = []
    for sweep_dir in sweep_dirs:
        keys, found = collect_sweep(sweep_dir, skipped)
        swept += [k for k in keys if k not in swept]
        jobs += found
    return swept, jobs
