"""What a resume may change, and the record of each start of one run folder.

`started.json` is written once, when a run's configuration and data passed their checks and training
is about to start: it marks the folder as a run (only such folders are resumed, medft/run/folders.py)
and keeps the configuration the run started with, resolved. A resume compares the configuration it
was given with that one key by key, before anything in the folder is written:

- a key that changes the model, adapter, data, objective or optimisation is refused, naming each key
  with its old and new value and the command that starts a new run with the new values instead;
- a key in SAFE_KEYS / SAFE_GROUPS (how long to train, logging, evaluation, throughput) may change;
  each resume is appended to the manifest's `resumes` list (when, from which checkpoint, which keys
  changed), and nothing already recorded (started.json, manifest, `.hydra/config.yaml`) is rewritten.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import socket
import sys
from datetime import datetime, timezone
from pathlib import Path

from medft.config.secrets import redact
from medft.run.folders import STARTED_FILE, ResumeError
from medft.run.manifest import MANIFEST_FILE, git_state
from medft.runtime.files import atomic_write_json

log = logging.getLogger(__name__)

# Keys a resume may change: none of them changes what the steps already run computed.
SAFE_KEYS = {
    "resume": "which checkpoint to continue from",
    "resume_allow_foreign_pickle": "whether a foreign checkpoint may be unpickled",
    "dry_run": "a dry run writes nothing",
    "debug": "stack traces",
    "name": "a label: the folder is given by resume=",
    "output_root": "where the folder is found",
    "cache_dir": "where the base model is cached; the model itself is checked by its checksum",
    "optimized_metric": "what a sweeper reads from metrics.json",
    "training.max_steps": "how long to train; the learning-rate schedule then ends at the new count",
    "training.logging_steps": "logging",
    "training.save_every_steps": "checkpoint frequency",
    "training.save_total_limit": "checkpoint rotation",
    "training.eval_batch_size": "evaluation throughput",
    "dataset.eval_limit": "evaluation size; the base model is scored again on the new sets",
    "benchmark.limit": "evaluation size; the base model is scored again",
    "benchmark.generative_limit": "evaluation size; the base model is scored again",
    "benchmark.batch_size": "evaluation throughput",
    "benchmark.generation_batch_size": "evaluation throughput",
    "retention.limit": "evaluation size; the base model is scored again",
    "task.generation_batch_size": "evaluation throughput",
    "hardware.num_threads": "CPU threads",
    "hardware.mmap_threshold_mb": "memory: where the C allocator puts large blocks",
    "hardware.micro_batch_size": "memory: the effective batch (training.batch_size) may not change",
}
SAFE_GROUPS = ("logger.", "hub.", "eval.")  # where to log, whether to publish, what to evaluate
# What the saved scores of the base model (eval_before.json) depend on besides the model.
EVAL_BEFORE_KEYS = ("dataset.eval_limit", "eval.formulation", "benchmark.", "retention.")
ABSENT = "<absent>"


class ConfigChangedError(ResumeError):
    """A resume was given a configuration that changes what the run trains."""


def flatten(node, prefix: str = "") -> dict:
    if not isinstance(node, dict):
        return {prefix.rstrip("."): node}
    flat = {}
    for key, value in node.items():
        flat.update(flatten(value, f"{prefix}{key}."))
    return flat


def config_snapshot(cfg) -> dict:
    """The configuration as flat `key: value` pairs, resolved, as JSON would store it."""
    from omegaconf import OmegaConf

    container = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    return json.loads(json.dumps(flatten(container), default=str))


def read_started(run_dir: Path) -> dict | None:
    path = Path(run_dir) / STARTED_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def write_started(run_dir: Path, snapshot: dict, note: str | None = None) -> None:
    record = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "command": [redact(arg) for arg in sys.argv],
        "config": snapshot,
    }
    if note:
        record["note"] = note
    atomic_write_json(Path(run_dir) / STARTED_FILE, record)


def is_safe(key: str) -> bool:
    return key in SAFE_KEYS or key.startswith(SAFE_GROUPS)


def changed_keys(old: dict, new: dict) -> dict[str, tuple]:
    return {
        key: (old.get(key, ABSENT), new.get(key, ABSENT))
        for key in sorted(set(old) | set(new))
        if old.get(key, ABSENT) != new.get(key, ABSENT)
    }


def _override(key: str, value) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return shlex.quote(f"{key}={'null' if value is None else text}")


def _task_overrides() -> list[str] | None:
    """The command line's overrides when running under Hydra (train.py), else None."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return list(HydraConfig.get().overrides.task)
    except (ImportError, ValueError):
        return None


def new_run_command(refused: dict[str, tuple]) -> str:
    overrides = _task_overrides()
    if overrides is None:  # called from Python: the changed keys are what is known
        args = [_override(key, new) for key, (_, new) in refused.items() if new != ABSENT]
    else:
        args = [shlex.quote(o) for o in overrides if not o.split("=")[0].lstrip("+~") == "resume"]
    return " ".join(["python train.py", *args, "resume=false"])


def check_resume_config(run_dir: Path, snapshot: dict) -> dict[str, tuple]:
    """The safe keys this resume changes ({key: (old, new)}); ConfigChangedError for any other change."""
    started = read_started(run_dir)
    if started is None:
        return {}
    changed = changed_keys(started["config"], snapshot)
    changed.pop("resume", None)  # false when the run started, true now: not a change worth recording
    refused = {key: values for key, values in changed.items() if not is_safe(key)}
    if refused:
        lines = "\n".join(f"  {key}: {_show(old)} -> {_show(new)}" for key, (old, new) in refused.items())
        raise ConfigChangedError(
            f"resume: {run_dir} started with other values for {len(refused)} key(s) that change the model, adapter, "
            f"data, objective or optimisation:\n{lines}\nContinuing would train one run on two configurations. "
            "Resume with the values it started with (drop these overrides; "
            f"{Path(run_dir) / STARTED_FILE} has them all), or start a new run with the new values instead:\n"
            f"  {new_run_command(refused)}\nKeys a resume may change: {', '.join(sorted(SAFE_KEYS))}, "
            f"{', '.join(g + '*' for g in SAFE_GROUPS)}."
        )
    for key, (old, new) in changed.items():
        log.info("resume: %s changed from %s to %s (%s)", key, _show(old), _show(new), SAFE_KEYS.get(key, "safe"))
    return changed


def _show(value) -> str:
    return value if value == ABSENT else json.dumps(value)


def eval_before_settings(snapshot: dict, sets: dict) -> dict:
    """What the saved scores of the base model depend on: if a resume changes it, they are scored again."""
    keys = {key: value for key, value in snapshot.items() if key.startswith(EVAL_BEFORE_KEYS)}
    return {"keys": keys, "sets": {name: len(records) for name, records in sets.items()}}


def record_resume(run_dir: Path, manifest: dict, checkpoint: Path | None, step: int, changed: dict) -> dict:
    """Append this resume to `manifest['resumes']` and write it; the rest of the manifest stays as it was."""
    entry = {
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "from_checkpoint": str(checkpoint) if checkpoint else None,
        "from_step": step,
        "changed": {key: {"old": old, "new": new} for key, (old, new) in changed.items()},
        "command": [redact(arg) for arg in sys.argv],
        "git": git_state(),
        "host": socket.gethostname(),
    }
    manifest = {**manifest, "resumes": [*manifest.get("resumes", []), entry]}
    atomic_write_json(Path(run_dir) / MANIFEST_FILE, manifest)
    return manifest


def check_resume_start(
    run_dir: Path, checkpoint: Path | None, step: int, cfg, manifest: dict | None, resolved_model
) -> None:
    """Name the folder and checkpoint a resume continues; refuse one past max_steps or on another base model."""
    max_steps = int(cfg.training.max_steps)
    if checkpoint is not None and 0 < max_steps < step:
        raise ResumeError(
            f"resume: {checkpoint} is at step {step}, past training.max_steps={max_steps}: continuing cannot give a "
            f"{max_steps}-step run. Resume with training.max_steps={step} or more, or from an earlier checkpoint "
            f"(resume=<{Path(checkpoint).parent}/checkpoint-N> with N <= {max_steps})"
        )
    recorded = (manifest or {}).get("model", {}).get("checksum")
    if recorded not in (None, resolved_model.checksum):
        raise ResumeError(
            f"resume: the base model {cfg.model.name} is not the one this run started on ({Path(run_dir) / MANIFEST_FILE} "
            f"records checksum {recorded}; {resolved_model.origin} now gives {resolved_model.checksum}). Restore that "
            "model to resume, or start a new run with resume=false"
        )
    if checkpoint is None:
        log.warning(
            "Resuming %s: no sound checkpoint was saved before it stopped, so training starts again from "
            "step 0 in this folder",
            run_dir,
        )
    else:
        log.info(
            "Resuming from %s (step %d of %s) in %s",
            checkpoint.name,
            step,
            max_steps if max_steps > 0 else "the epochs",
            run_dir,
        )


def read_manifest(run_dir: Path) -> dict | None:
    path = Path(run_dir) / MANIFEST_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
