"""Folder names from overrides, so the same command always lands in the same folder.

A sweep is named by its command-line overrides (sorted, so argument order does not matter); a
job by the values of the swept keys only (`peft_method.r=8,quantization=nf4,seed=1`), because
the settings every job shares are already in the sweep's name.
"""

from __future__ import annotations

import hashlib
import re

# Where a sweep runs, not what it runs: kept out of its name so moving outputs keeps the name.
NOT_IN_NAME = {"resume", "output_root", "cache_dir", "name"}
MAX_NAME = 120  # characters; ext4 allows 255 bytes, and long names are unreadable anyway
_UNSAFE = re.compile(r"[^A-Za-z0-9._=,+\-@%:~]+")  # slashes, spaces, quotes, shell globs


def override_key(override: str) -> str:
    """`+peft_method.r=8` -> `peft_method.r`; `~key` -> `key`."""
    return override.lstrip("+~").split("=", 1)[0]


def folder_safe(text: str, max_len: int = MAX_NAME) -> str:
    """A single path component: unsafe runs become `_`; an over-long name keeps a hash of the whole."""
    safe = _UNSAFE.sub("_", text).strip("._") or "default"
    if len(safe) <= max_len:
        return safe
    digest = hashlib.sha1(text.encode()).hexdigest()[:8]
    return f"{safe[: max_len - 9]}~{digest}"


_SWEEP_FUNCTIONS = ("range(", "choice(", "glob(", "interval(", "tag(")


def _is_sweep(override: str) -> bool:
    value = override.split("=", 1)[-1]
    return "," in value or value.startswith(_SWEEP_FUNCTIONS)


def sweep_name(task_overrides: list[str]) -> str:
    """`seed=1,2 experiment=x training.max_steps=40` -> `experiment=x,seed=1,2,training.max_steps=40`.

    The experiment, then the swept overrides, then the fixed ones, each sorted: argument order
    does not change the name, and if a long name must be cut, the fixed settings go first.
    """
    kept = [o for o in task_overrides if override_key(o) not in NOT_IN_NAME]
    kept.sort(key=lambda o: (override_key(o) != "experiment", not _is_sweep(o), o))
    return folder_safe(",".join(kept)) if kept else "default"


def job_name(job_overrides: list[str], swept_keys: list[str]) -> str:
    """The job's values of the swept keys, sorted by key (argument order must not rename a job);
    `default` when nothing is swept."""
    by_key = {override_key(o): o for o in job_overrides}
    parts = [by_key[k] for k in sorted(swept_keys) if k in by_key]
    return folder_safe(",".join(parts)) if parts else "default"


def quote_override_value(value: str) -> str:
    """A value for Hydra's override grammar that stays one literal string (paths, commas, `=`)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
