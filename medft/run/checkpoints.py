"""Checkpoints that are either whole or ignored: a hash seal per checkpoint, checked on resume.

The trainer writes `checkpoint-N/` itself, file by file (adapter, optimizer, scheduler, RNG,
trainer_state.json), so a kill or a full disk can leave half a folder. Instead of re-implementing
the trainer's save into a temporary folder, medft seals what the trainer wrote: after each save
`CheckpointSeal` writes `medft_seal.json` (size and sha256 of every file) atomically, and only
then deletes older checkpoints (the trainer's own rotation is switched off in
builders.training_arguments, because it runs before any hook could seal the new folder and would
otherwise delete the last sound checkpoint while the new one is still unproven). A checkpoint
without a seal, or whose files no longer match it (truncated, corrupted), is not resumed from:
resume takes the newest sound one, says which ones it skipped and why, and moves those aside.
"""

from __future__ import annotations

import logging
from pathlib import Path

from medft.runtime.files import atomic_write_json, changed_file, sha256_file
from medft.runtime.trainer_callback import TrainerCallback

log = logging.getLogger(__name__)

SEAL_FILE = "medft_seal.json"
REJECTED_PREFIX = "rejected-"  # outside the trainer's `checkpoint-*` glob, kept for inspection


def seal(checkpoint: Path) -> Path:
    """Record every file of a finished checkpoint save; the seal's presence marks it complete."""
    files = sorted(p for p in checkpoint.rglob("*") if p.is_file() and p.name != SEAL_FILE)
    entries = {str(p.relative_to(checkpoint)): {"bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in files}
    return atomic_write_json(checkpoint / SEAL_FILE, {"files": entries})


def seal_problem(checkpoint: Path, required: tuple[str, ...] = ("trainer_state.json",)) -> str | None:
    """Why `checkpoint` cannot be resumed from, or None when every sealed file is intact (and the seal lists
    the `required` files: a checkpoint's trainer state; nothing for a final adapter/ folder)."""
    import json

    seal_path = checkpoint / SEAL_FILE
    if not seal_path.is_file():
        return f"no {SEAL_FILE}: the save did not finish (killed or failed while writing)"
    try:
        entries = json.loads(seal_path.read_text(encoding="utf-8"))["files"]
    except (ValueError, KeyError) as err:
        return f"{SEAL_FILE} is unreadable ({err})"
    changed = changed_file(checkpoint, entries, "saved")
    if changed is not None:
        return changed
    for name in required:
        if name not in entries:
            return f"no {name}"
    return None


def reject(checkpoint: Path, reason: str) -> Path:
    """Move an unusable checkpoint out of the trainer's sight (it would otherwise count in rotation)."""
    target = checkpoint.with_name(f"{REJECTED_PREFIX}{checkpoint.name}")
    if target.exists():
        import shutil

        shutil.rmtree(target)
    checkpoint.rename(target)
    log.warning(
        "Not resuming from %s: %s. Moved aside to %s; falling back to the previous checkpoint",
        checkpoint.name,
        reason,
        target.name,
    )
    return target


def newest_sound(candidates: list[Path]) -> Path | None:
    """The newest of `candidates` (oldest first) whose seal holds; newer broken ones are rejected."""
    for checkpoint in reversed(candidates):
        problem = seal_problem(checkpoint)
        if problem is None:
            return checkpoint
        reject(checkpoint, problem)
    if candidates:
        log.warning("No sound checkpoint left: training starts again from step 0")
    return None


class CheckpointSeal(TrainerCallback):
    """After the trainer saves checkpoint-N: seal it, then rotate (keep `save_total_limit`)."""

    def __init__(self, save_total_limit: int | None):
        self.save_total_limit = save_total_limit

    def on_save(self, args, state, control, **kwargs):
        if not args.should_save:  # distributed: rank 0 writes the checkpoint
            return
        from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, rotate_checkpoints

        checkpoint = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
        if checkpoint.is_dir():
            seal(checkpoint)  # resume re-hashes, so a file a crash garbled later is still caught
        rotate_checkpoints(
            output_dir=args.output_dir,
            save_total_limit=self.save_total_limit,
            best_model_checkpoint=state.best_model_checkpoint,
            use_mtime=False,
        )
