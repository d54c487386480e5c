"""manifest.json: everything needed to tell two runs apart or to reproduce one."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from medft.config.secrets import redact
from medft.data.fingerprint import fingerprint_records
from medft.data.mixture import by_component
from medft.run.folders import ResumeError

MANIFEST_FILE = "manifest.json"

PACKAGES = (
    "medft",
    "torch",
    "transformers",
    "peft",
    "trl",
    "bitsandbytes",
    "accelerate",
    "datasets",
    "hydra-core",
    "omegaconf",
    "gguf",
    "statsmodels",
    "tensorboard",
    "wandb",
)


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], capture_output=True, text=True, timeout=10, cwd=Path(__file__).resolve().parents[2]
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_state() -> dict:
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def package_versions() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def hardware_info() -> dict:
    import torch

    info = {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
    }
    try:
        info["ram_gb"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    if torch.cuda.is_available():
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def component_fingerprints(splits: dict) -> dict:
    """A mixture's records grouped by component: each component's fingerprint and split sizes."""

    grouped: dict[str, dict] = {}
    for name, records in splits.items():
        for label, positions in by_component(records).items():
            grouped.setdefault(label, {})[name] = [records[i] for i in positions]
    return {
        label: {"fingerprint": fingerprint_records(parts), "sizes": {k: len(v) for k, v in parts.items()}}
        for label, parts in grouped.items()
    }


def build_manifest(
    cfg, resolved_model, data_fingerprint: str, split_sizes: dict, world_size: int = 1, components: dict | None = None
) -> dict:
    data = {"dataset": cfg.dataset.name, "fingerprint": data_fingerprint, "sizes": split_sizes}
    if components:
        data["components"] = components
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": [redact(arg) for arg in sys.argv],  # no secret value, should one be on the command line
        "git": git_state(),
        "packages": package_versions(),
        "hardware": hardware_info(),
        "hardware_profile": cfg.hardware.name,
        "world_size": world_size,  # processes that trained (distributed runs)
        "seed": cfg.seed,
        "data": data,
        "model": {
            "name": cfg.model.name,
            "source": resolved_model.source,
            "path": resolved_model.path,
            "origin": resolved_model.origin,
            "checksum": resolved_model.checksum,
        },
    }


class DataChangedError(ResumeError):
    """Resuming a run whose training data is no longer what it started with."""


def check_same_data(run_dir: Path, fingerprint: str, dataset_cfg) -> None:
    """Refuse to continue a run (its manifest.json exists) on data other than the data it started on."""
    manifest = Path(run_dir) / MANIFEST_FILE
    if not manifest.is_file():
        return  # a new run folder
    before = json.loads(manifest.read_text(encoding="utf-8")).get("data", {}).get("fingerprint")
    if before in (None, fingerprint):
        return
    where = f" ({dataset_cfg.path})" if dataset_cfg.get("path") else ""
    raise DataChangedError(
        f"resume: the training data of dataset={dataset_cfg.name}{where} changed since this run started. "
        f"{manifest} records data fingerprint {before}; the data now gives {fingerprint}. Continuing would "
        "train one run on two datasets. Restore the original data to resume, or start a new run folder with "
        "resume=false (or give another name=)."
    )
