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


def sweep_name(task_overrides: list[str]) -> str:
    """`experiment=qlora_ablation training.max_steps=40` -> `experiment=qlora_ablation,training.max_steps=40`."""
    kept = sorted(o for o in task_overrides if override_key(o) not in NOT_IN_NAME)
    return folder_safe(",".join(kept)) if kept else "default"


def job_name(job_overrides: list[str], swept_keys: list[str]) -> str:
    """The job's values of the swept keys, in sweep order; `default` when nothing is swept."""
    by_key = {override_key(o): o for o in job_overrides}
    parts = [by_key[k] for k in swept_keys if k in by_key]
    return folder_safe(",".join(parts)) if parts else "default"


def quote_override_value(value: str) -> str:
    """A value for Hydra's override grammar that stays one literal string (paths, commas, `=`)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
