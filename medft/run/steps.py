"""The steps of one run across its starts: what a resume continues from, and what it reports.

- `LossLedger` keeps the loss of every optimizer step and saves it into each checkpoint (before the
  seal, so the seal covers it). The trainer's own `training_loss` averages only the steps of the last
  `train()` call, so a resumed run would report the mean of its last few steps; the ledger's mean is
  over every step of the run, the same number an uninterrupted run reports (math.fsum: exact, whatever
  the split into starts).
- `checkpoint_step` / `finish_from_checkpoint`: a run killed after its last step (during the final
  save or evaluation) resumes from a checkpoint at `max_steps`. The trainer would still run one more
  step before it checks the step count, so that case loads the checkpoint and trains nothing.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

from medft.runtime.files import atomic_write_json
from medft.runtime.trainer_callback import TrainerCallback

LOSSES_FILE = "medft_losses.json"
TRAINER_STATE = "trainer_state.json"


def checkpoint_step(checkpoint: Path) -> int:
    return int(json.loads((Path(checkpoint) / TRAINER_STATE).read_text(encoding="utf-8"))["global_step"])


def across_ranks(loss: float) -> float:
    """The step's loss over every rank: each rank's loss is its own micro-batches' share (the trainer scales it
    by the world size so that the averaged gradient is the global one); the mean over ranks is the step's loss."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return loss
    import torch

    total = torch.tensor(loss, dtype=torch.float64)
    dist.all_reduce(total)  # one scalar per optimizer step
    return float(total) / dist.get_world_size()


class LossLedger(TrainerCallback):
    """Every optimizer step's loss (the sum of its micro-batches' losses, as the trainer adds them up)."""

    def __init__(self):
        self.losses: list[float] = []
        self._micro: list = []

    def attach(self, trainer) -> LossLedger:
        """Record each micro-batch loss `trainer.training_step` returns (any trainer class: TRL's override it)."""
        inner = trainer.training_step

        def training_step(*args, **kwargs):
            loss = inner(*args, **kwargs)
            self._micro.append(loss.detach())
            return loss

        trainer.training_step = training_step
        return self

    def restore(self, checkpoint: Path | None) -> None:
        """The losses of the steps before `checkpoint` (none if it has no ledger: an older medft wrote it)."""
        if checkpoint is None:
            return
        path = Path(checkpoint) / LOSSES_FILE
        if path.is_file():
            self.losses = json.loads(path.read_text(encoding="utf-8"))["losses"][: checkpoint_step(checkpoint)]

    def on_step_end(self, args, state, control, **kwargs):
        # One host sync per optimizer step; the trainer's own logging syncs every logging_steps.
        self.losses.append(across_ranks(math.fsum(float(loss) for loss in self._micro)))
        self._micro = []

    def on_save(self, args, state, control, **kwargs):
        checkpoint = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if args.should_save and checkpoint.is_dir():
            atomic_write_json(checkpoint / LOSSES_FILE, {"losses": self.losses})

    def mean(self, steps: int) -> float | None:
        """Mean loss over the run's `steps` steps, or None when the ledger lacks some of them."""
        if steps <= 0 or len(self.losses) != steps:
            return None
        return math.fsum(self.losses) / steps


def finish_from_checkpoint(trainer, checkpoint: Path):
    """Train nothing: load the final checkpoint's weights and state (and the best checkpoint when the run
    finishes on it), as `trainer.train` would have left them; returns what `trainer.train` returns."""
    from transformers.trainer_callback import TrainerState

    # The trainer's own loader (what train(resume_from_checkpoint=...) calls first): adapters, full
    # weights and sharded checkpoints alike. A private method: transformers is pinned in pyproject.toml.
    trainer._load_from_checkpoint(str(checkpoint))
    trainer.state = TrainerState.load_from_json(str(Path(checkpoint) / TRAINER_STATE))
    if trainer.args.load_best_model_at_end and trainer.state.best_model_checkpoint:
        trainer._load_best_model()
    trainer._initial_num_input_tokens_seen = trainer.state.num_input_tokens_seen
    return SimpleNamespace(global_step=trainer.state.global_step, training_loss=None, metrics={})
