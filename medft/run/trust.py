"""Which checkpoints may be resumed: the pickled trainer state is trusted only from medft's runs.

A Hugging Face checkpoint keeps the optimizer, scheduler and RNG state as pickles (optimizer.pt,
scheduler.pt, rng_state.pth). transformers 5 loads them with `torch.load(weights_only=True)`
(Trainer._load_optimizer_and_scheduler and _load_rng_state, behind check_torch_load_is_safe),
which refuses arbitrary classes; medft additionally resumes only a checkpoint inside a run folder
that medft itself made (its manifest.json names the medft version that wrote it), so a foreign
checkpoint folder is refused unless `resume_allow_foreign_pickle=true` says the user trusts it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from medft.config.errors import UserError
from medft.models.weights import PICKLE_SUFFIXES

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"


class ForeignCheckpointError(UserError, PermissionError):
    """resume= points at a checkpoint medft did not write."""


def made_by_medft(run_dir: Path) -> bool:
    try:
        manifest = json.loads((run_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and bool((manifest.get("packages") or {}).get("medft"))


def check_checkpoint_origin(checkpoint: Path, allow_foreign: bool) -> None:
    """Refuse to unpickle the trainer state of a checkpoint from outside medft's run folders."""
    run_dir = checkpoint.parent.parent
    if made_by_medft(run_dir):
        return
    pickles = sorted(p.name for p in checkpoint.iterdir() if p.is_file() and p.suffix in PICKLE_SUFFIXES)
    if not allow_foreign:
        raise ForeignCheckpointError(
            f"resume={checkpoint}: not in a medft run folder ({run_dir / MANIFEST} is missing or not medft's), "
            f"and resuming unpickles its trainer state {pickles or '(optimizer, scheduler, RNG)'}, which can run "
            "code from the file. Resume a medft run instead, or, if you trust where the checkpoint came from, "
            "add resume_allow_foreign_pickle=true"
        )
    log.warning(
        "resume_allow_foreign_pickle=true: loading the pickled trainer state %s of %s, a checkpoint "
        "medft did not write (torch.load with weights_only=True)",
        pickles,
        checkpoint,
    )
