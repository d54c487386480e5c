"""`hydra/sweeper=medft`: Hydra's grid sweeper, made readable and resumable.

Hydra's basic sweeper names folders by the clock and by job number and stops reporting at the
first failed job. This one (the default for `python train.py -m`):
- puts the sweep in `<output_root>/<name>/multirun/<overrides of the command>/` (or
  `hydra.sweep.dir` when given) and each job in a subfolder named by its swept values;
- skips jobs whose folder holds a finished run of the same overrides, before launching them
  (a SLURM array does not even get those), and writes `sweep.json` with the whole plan;
- launches the rest with whatever launcher is configured (basic, joblib, submitit), lets every
  job run whatever another does, and exits non-zero naming the failed jobs at the end.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobStatus
from omegaconf import OmegaConf, open_dict, read_write

from medft.runtime.files import atomic_write_text
from medft.runtime.paths import folder_name
from medft.sweep.index import SWEEP_FILE, refresh_index, write_plan
from medft.sweep.jobs import finished_metrics
from medft.sweep.naming import job_name, override_key, quote_override_value, sweep_name

log = logging.getLogger(__name__)


def sweep_dir_of(config) -> Path:
    """`hydra.sweep.dir` when the command gives it, else a folder named by the command's overrides."""
    given = any(override_key(o) == "hydra.sweep.dir" for o in config.hydra.overrides.hydra)
    if given:
        return Path(str(config.hydra.sweep.dir))
    name = folder_name("name", config.name)  # `name=../x` would leave output_root
    return Path(str(config.output_root)) / name / "multirun" / sweep_name(list(config.hydra.overrides.task))


def unique_names(names: list[str]) -> list[str]:
    """Folder-safe names can collide (`a/b` and `a_b`); number the later ones."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}~{seen[name]}")
    return out


class ResumableSweeper(BasicSweeper):
    def setup(self, *, hydra_context, task_function, config) -> None:
        self.sweep_dir = sweep_dir_of(config)
        with read_write(config), open_dict(config):
            config.hydra.sweep.dir = str(self.sweep_dir)  # launchers create and use this folder
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]):
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        parsed = parser.parse_overrides(self._parse_config() + list(arguments))
        swept = list(dict.fromkeys(o.get_key_element() for o in parsed if o.is_sweep_override()))
        all_jobs = self.split_arguments(parsed, None)[0]
        names = unique_names([job_name(job, swept) for job in all_jobs])

        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.sweep_dir / "multirun.yaml", OmegaConf.to_yaml(self.config))
        todo = [
            (job, name) for job, name in zip(all_jobs, names) if finished_metrics(self.sweep_dir / name, job) is None
        ]  # refuses a conflicting folder
        write_plan(
            self.sweep_dir,
            swept,
            [{"name": n, "overrides": j} for j, n in zip(all_jobs, names)],
            launcher=str(self.config.hydra.launcher.get("_target_", "")),
            sweeper="medft",
        )
        log.info(
            "Sweep %s: %d job(s), %d already finished and skipped, %d to run",
            self.sweep_dir,
            len(all_jobs),
            len(all_jobs) - len(todo),
            len(todo),
        )

        where = [f"hydra.sweep.dir={quote_override_value(str(self.sweep_dir))}"]
        batches = (
            [todo]
            if not self.max_batch_size
            else [todo[i : i + self.max_batch_size] for i in range(0, len(todo), self.max_batch_size)]
        )
        returns, failed, job_idx = [], [], 0
        for batch in batches:
            if not batch:
                continue
            overrides = [
                list(job) + where + [f"hydra.sweep.subdir={quote_override_value(name)}"] for job, name in batch
            ]
            self.validate_batch_is_legal(overrides)
            results = self.launcher.launch(overrides, initial_job_idx=job_idx)
            job_idx += len(batch)
            returns.append(results)
            failed += [(name, result) for (_, name), result in zip(batch, results) if result.status == JobStatus.FAILED]
        index = refresh_index(self.sweep_dir)
        counts = ", ".join(f"{n} {status}" for status, n in index["counts"].items() if n)
        log.info("Sweep done: %s. Index: %s", counts, self.sweep_dir / SWEEP_FILE)
        if failed:
            for name, result in failed:
                log.error(
                    "Job %s failed: %s: %s (details: %s)",
                    name,
                    type(result._return_value).__name__,
                    result._return_value,
                    self.sweep_dir / name / "error.txt",
                )
            log.error(
                "%d of %d job(s) failed; the others are complete. Rerun the same command to rerun "
                "only the failed and unfinished jobs.",
                len(failed),
                len(all_jobs),
            )
            raise SystemExit(1)
        return returns
