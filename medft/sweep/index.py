"""`sweep.json`: one line per job (overrides, status, wall time, folder), rebuilt from the job folders.

The sweeper writes the plan (every job it will launch) at the start; each job refreshes the
index when it starts and ends, under a file lock because parallel launchers run jobs at once.
A job's status is read from its folder, so the index is right even after a SIGKILL.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from pathlib import Path

from medft.config.errors import UserError
from medft.run.folders import is_finished
from medft.runtime.files import atomic_write_json
from medft.sweep.job_file import JOB_FILE, read_job

log = logging.getLogger(__name__)

SWEEP_FILE = "sweep.json"
LOCK_FILE = ".sweep.lock"
STATUSES = ("finished", "failed", "running", "interrupted", "pending")


class UnreadableIndexError(UserError, ValueError):
    """sweep.json is not valid JSON (cut short, or edited by hand)."""


def _alive(job: dict) -> bool:
    if job.get("host") != socket.gethostname():
        return True  # another machine (a SLURM node): trust what it wrote
    try:
        os.kill(int(job["pid"]), 0)
    except (OSError, KeyError, ValueError, TypeError):
        return False
    return True


def job_status(run_dir: Path, overrides: list[str] | None = None) -> dict:
    """What one job folder says about its job (the folder need not exist yet)."""
    job = read_job(run_dir) or {}
    status = job.get("status", "pending")
    if is_finished(run_dir):
        status = "finished"
    elif status == "running" and not _alive(job):
        status = "interrupted"  # killed without a chance to say so (SIGKILL, power, OOM killer)
    elif status == "finished":
        status = "interrupted"  # job.json says done but metrics.json is missing: rerun it
    elif status == "pending" and (run_dir / ".hydra").is_dir():
        status = "interrupted"  # started before job.json was written
    entry = {
        "name": run_dir.name,
        "folder": str(run_dir),
        "status": status,
        "overrides": job.get("overrides", overrides or []),
        "wall_s": job.get("wall_s"),
        "attempt": job.get("attempt"),
        "requeues": job.get("requeues", 0),  # preempted, checkpointed and requeued by submitit
    }
    if status == "failed":
        entry["error"] = job.get("error")
    return entry


def _job_folders(sweep_dir: Path) -> list[Path]:
    return sorted(
        p
        for p in sweep_dir.iterdir()
        if p.is_dir() and not p.name.startswith(".") and ((p / JOB_FILE).is_file() or (p / ".hydra").is_dir())
    )


def read_index(sweep_dir: Path) -> dict:
    path = Path(sweep_dir) / SWEEP_FILE
    if not path.is_file():
        return {}
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as err:  # JSONDecodeError, UnicodeDecodeError
        raise UnreadableIndexError(
            f"{path}: not readable JSON ({json_problem(err)}), cut short or edited; delete "
            "it: the next job and `python -m medft report` rebuild it from the job folders"
        ) from None
    if not isinstance(index, dict):
        raise UnreadableIndexError(
            f"{path}: holds a JSON {type(index).__name__}, not sweep.json's object; delete it "
            "(it is rebuilt from the job folders)"
        )
    return index


def json_problem(err: Exception) -> str:
    """What is wrong with a JSON file, by place (never its text)."""
    if isinstance(err, json.JSONDecodeError):
        return f"line {err.lineno} column {err.colno}: {err.msg}"
    return type(err).__name__


def sweep_status(sweep_dir: Path, index: dict | None = None) -> dict:
    """The planned jobs (`index`, else sweep.json) merged with every job folder found, in plan order."""
    sweep_dir = Path(sweep_dir)
    index = read_index(sweep_dir) if index is None else index
    planned = {job["name"]: job.get("overrides", []) for job in index.get("jobs", [])}
    names = list(planned) + [p.name for p in _job_folders(sweep_dir) if p.name not in planned]
    jobs = [job_status(sweep_dir / name, planned.get(name)) for name in names]
    counts = {status: sum(j["status"] == status for j in jobs) for status in STATUSES}
    return {
        **{k: v for k, v in index.items() if k not in {"jobs", "counts", "updated"}},
        "sweep_dir": str(sweep_dir),
        "updated": time.strftime("%Y-%m-%d %H:%M:%S"),
        "counts": counts,
        "jobs": jobs,
    }


def _locked(sweep_dir: Path):
    from filelock import FileLock

    return FileLock(str(sweep_dir / LOCK_FILE), timeout=60)


def refresh_index(sweep_dir: Path) -> dict:
    sweep_dir = Path(sweep_dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    with _locked(sweep_dir):
        try:
            status = sweep_status(sweep_dir)
        except UnreadableIndexError as err:  # the index is derived: rebuild it from the job folders
            log.warning("%s (rebuilt from the job folders; jobs planned but not started are not listed)", err)
            status = sweep_status(sweep_dir, {})
        atomic_write_json(sweep_dir / SWEEP_FILE, status)
    return status


def write_plan(sweep_dir: Path, swept: list[str], jobs: list[dict], launcher: str, sweeper: str) -> dict:
    """Start (or restart) the index with the full list of jobs, before any is launched."""
    sweep_dir = Path(sweep_dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    plan = {
        "command": " ".join(sys.argv),
        "swept": swept,
        "launcher": launcher,
        "sweeper": sweeper,
        "jobs": [{"name": j["name"], "overrides": j["overrides"]} for j in jobs],
    }
    with _locked(sweep_dir):
        status = sweep_status(sweep_dir, plan)
        atomic_write_json(sweep_dir / SWEEP_FILE, status)
    return status
