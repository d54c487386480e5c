"""The folders a site is built from: sweep folders (their jobs, as the tables read them) and run
folders given alone (`outputs/<name>/<time>/`), which join as jobs of their own."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from omegaconf import OmegaConf

from medft.config.compose import compose_train
from medft.run.folders import METRICS_FILE
from medft.site.run_data import flatten, load_config, read_json
from medft.sweep.naming import override_key
from medft.tables.collect import JobRecord, ReportInputError, collect

SWEEP_INDEX = "sweep.json"


def is_run_folder(path: Path) -> bool:
    return not (path / SWEEP_INDEX).is_file() and ((path / METRICS_FILE).is_file() or (path / ".hydra").is_dir())


def run_record(folder: Path) -> JobRecord:
    """A lone run as a job: its overrides from `.hydra/overrides.yaml`, its status from its files."""
    overrides_file = folder / ".hydra" / "overrides.yaml"
    try:
        entries = yaml.safe_load(overrides_file.read_text(encoding="utf-8")) if overrides_file.is_file() else []
    except yaml.YAMLError:
        entries = []
    overrides = {override_key(o): o.split("=", 1)[1] for o in entries or [] if isinstance(o, str) and "=" in o}
    metrics = read_json(folder / METRICS_FILE) or None
    cfg = load_config(folder)
    return JobRecord(
        sweep=folder.parent.name,
        name=folder.name,
        folder=folder,
        status="finished" if metrics else "unfinished",
        overrides=overrides,
        metrics=metrics,
        config=OmegaConf.to_container(cfg, resolve=False) if cfg is not None else {},
    )


def varying_keys(jobs: list[JobRecord]) -> list[str]:
    """Keys whose overrides differ between the runs given: the columns a table of lone runs needs."""
    keys = list(dict.fromkeys(k for j in jobs for k in j.overrides))
    skip = ("output_root", "cache_dir")
    return [k for k in keys if len({j.overrides.get(k) for j in jobs}) > 1 and not k.startswith(skip)]


@dataclass
class Source:
    swept: list[str]
    jobs: list[JobRecord]
    title: str
    paths: list[Path] = field(default_factory=list)

    def defaults(self) -> dict[str, str]:
        """The composed default config, flat: what a lone run's config is read against."""
        return flatten(OmegaConf.to_container(compose_train([]), resolve=False))


def gather(paths: list[Path], skipped: list[str] | None = None) -> Source:
    for path in paths:
        if not path.is_dir():
            raise ReportInputError(f"{path}: no such folder; give a sweep folder or a run folder (outputs/<name>/...)")
    sweeps = [p for p in paths if not is_run_folder(p)]
    lone = [run_record(p) for p in paths if is_run_folder(p)]
    swept, jobs = collect(sweeps, skipped) if sweeps else ([], [])
    swept += [k for k in varying_keys(lone) if k not in swept]
    title = ", ".join(p.name for p in paths) if len(paths) <= 3 else f"{len(paths)} folders"
    return Source(swept, jobs + lone, title, list(paths))
