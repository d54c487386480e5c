"""One job of a sweep, around the training recipe: skip it if finished, resume it if cut off,
start it afresh if it failed, and record what happened in its folder's `job.json`.

The job folder is the source of truth (the sweep index is rebuilt from it), so a job killed
with SIGKILL still reads as interrupted, and any launcher (local, joblib, SLURM) works.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
import traceback
from pathlib import Path

from medft.config.errors import UserError
from medft.config.secrets import redact
from medft.run.faults import Preempted
from medft.run.folders import METRICS_FILE, STARTED_FILE, is_finished, latest_checkpoint
from medft.run.lock import holding
from medft.run.requeue import Requeued
from medft.runtime.distributed import is_main_process
from medft.runtime.files import atomic_write_json, atomic_write_text
from medft.sweep.index import refresh_index
from medft.sweep.job_file import JOB_FILE, read_job

log = logging.getLogger(__name__)

ERROR_FILE = "error.txt"
ATTEMPTS = "attempts"
# What a failed attempt leaves that a fresh attempt would overwrite or trip over.
ATTEMPT_ARTIFACTS = (
    "checkpoints",
    "eval_before.json",
    "benchmarks",
    "tensorboard",
    "adapter",
    "model",
    "manifest.json",
    STARTED_FILE,
    JOB_FILE,
    ERROR_FILE,
)


class JobFolderConflict(UserError):
    """A job folder already holds a finished run of different overrides."""


def _recorded_overrides(run_dir: Path) -> list[str] | None:
    job = read_job(run_dir)
    return list(job["overrides"]) if job and "overrides" in job else None


def finished_metrics(run_dir: Path, overrides: list[str]) -> dict | None:
    """The metrics of a finished run of exactly these overrides, or None if it must (re)run."""
    run_dir = Path(run_dir)
    if not is_finished(run_dir):
        return None
    recorded = _recorded_overrides(run_dir)
    if recorded is not None and sorted(recorded) != sorted(overrides):
        raise JobFolderConflict(
            f"{run_dir} holds a finished run of {recorded}, not of {list(overrides)}: the sweep's settings "
            "changed since it ran (an edited preset?). Give the new sweep its own folder with "
            "hydra.sweep.dir=<path>, or move the old folder away"
        )
    return json.loads((run_dir / METRICS_FILE).read_text(encoding="utf-8"))


def metric_at(metrics: dict, path: str | tuple[str, ...], default=None):
    """`eval_after.validation.acc` (or its parts as a tuple) -> metrics['eval_after']['validation']['acc'],
    `default` if absent."""
    node = metrics
    for part in path.split(".") if isinstance(path, str) else path:
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def _archive_failed_attempt(run_dir: Path, previous: dict) -> Path:
    """Move a failed attempt's files aside (kept, not deleted) so the rerun starts clean."""
    target = run_dir / ATTEMPTS / f"{previous.get('attempt', 1)}-failed"
    target.mkdir(parents=True, exist_ok=True)
    for name in ATTEMPT_ARTIFACTS:
        if (run_dir / name).exists():
            shutil.move(str(run_dir / name), str(target / name))
    return target


def _threads_for_parallel_jobs(launcher_cfg) -> int | None:
    """With joblib running N jobs at once, give each core count / N torch threads, not all of them."""
    target = str((launcher_cfg or {}).get("_target_", ""))
    if "joblib" not in target.lower():
        return None
    cores = os.cpu_count() or 1
    n_jobs = int(launcher_cfg.get("n_jobs") or -1)
    n_jobs = cores if n_jobs < 0 else n_jobs
    return max(1, cores // max(1, n_jobs))


def run_sweep_job(
    cfg, run_dir: str | Path, overrides: list[str], run_fn, launcher_cfg=None, sweep_dir: str | Path | None = None
) -> dict:
    """Run (or skip, or resume) one sweep job; `run_fn(cfg, run_dir)` is the training recipe.

    The job folder's lock is held throughout (the recipe takes it again), so the same job started twice
    (one sweep launched twice) is refused before it overwrites the running job's job.json."""
    run_dir = Path(run_dir)
    if not is_main_process():
        return _run_sweep_job(cfg, run_dir, overrides, run_fn, launcher_cfg, sweep_dir)
    with holding(run_dir, "this sweep job"):
        return _run_sweep_job(cfg, run_dir, overrides, run_fn, launcher_cfg, sweep_dir)


def _run_sweep_job(cfg, run_dir: Path, overrides: list[str], run_fn, launcher_cfg, sweep_dir) -> dict:
    from omegaconf import open_dict

    done = finished_metrics(run_dir, overrides)
    if done is not None:
        log.info("Already finished (metrics.json present): %s; skipped", run_dir)
        return done

    previous = read_job(run_dir)
    attempt = (previous or {}).get("attempt", 0) + 1
    if previous and previous.get("status") == "failed":
        kept = _archive_failed_attempt(run_dir, previous)
        log.info("Rerunning a failed job from scratch; the failed attempt's files are kept in %s", kept)
    elif latest_checkpoint(run_dir) is not None:
        with open_dict(cfg):
            cfg.resume = True
        log.info("Resuming an interrupted job from %s", latest_checkpoint(run_dir))
    threads = _threads_for_parallel_jobs(launcher_cfg)
    if threads and cfg.hardware.num_threads is None:
        with open_dict(cfg):
            cfg.hardware.num_threads = threads
        log.info("Parallel launcher: %d torch thread(s) per job (hardware.num_threads overrides)", threads)

    state = {
        "status": "running",
        "overrides": list(overrides),
        "name": run_dir.name,
        "attempt": attempt,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": time.time(),
        "resumed": bool(cfg.resume),
        "requeues": (previous or {}).get("requeues", 0),  # times submitit requeued it after a checkpoint
    }
    atomic_write_json(run_dir / JOB_FILE, state)
    _refresh(sweep_dir, refresh_index)
    started = time.time()
    try:
        metrics = run_fn(cfg, run_dir)
    except BaseException as err:
        interrupted = isinstance(err, KeyboardInterrupt | SystemExit | Preempted)  # a kill, not a fault: resume it
        requeued = isinstance(err, Requeued)  # checkpoint saved, submitit starts the job again: it resumes
        atomic_write_text(run_dir / ERROR_FILE, redact(traceback.format_exc()))
        message = "preempted; requeued by submitit after a checkpoint" if requeued else redact(str(err))[:2000]
        state.update(
            status="interrupted" if interrupted else "failed",
            ended=time.time(),
            wall_s=time.time() - started,
            requeues=state["requeues"] + requeued,
            error={"type": type(err).__name__, "message": message, "traceback": ERROR_FILE},
        )
        atomic_write_json(run_dir / JOB_FILE, state)
        _refresh(sweep_dir, refresh_index)
        raise
    state.update(status="finished", ended=time.time(), wall_s=time.time() - started)
    atomic_write_json(run_dir / JOB_FILE, state)
    _refresh(sweep_dir, refresh_index)
    return metrics


def _refresh(sweep_dir, refresh_index) -> None:
    if sweep_dir is None:
        return
    try:
        refresh_index(Path(sweep_dir))
    except OSError as err:  # the index is derived; a job must not fail because of it
        log.warning("Could not update %s/sweep.json: %s", sweep_dir, err)


def in_sweep(hydra_cfg) -> bool:
    """True inside a `-m` job (any sweeper or launcher), False for a single run."""
    from hydra.types import RunMode

    return hydra_cfg.mode == RunMode.MULTIRUN
