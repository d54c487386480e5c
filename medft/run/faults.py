"""Faults during training, each stopped with a message that says what happened and what to try.

- `NonFiniteGuard`: a NaN or infinite loss shows as non-finite gradients; it stops the run before
  the optimizer step applies them, so every saved checkpoint holds finite weights.
- `PreemptionCheckpoint`: SIGTERM (a cluster scheduler's notice) sets a flag; at the next step
  boundary the trainer saves a checkpoint and stops, and the recipe raises `Preempted`, which
  train.py turns into exit code 75 so a requeue with `resume=true` continues. The first Ctrl-C
  (SIGINT) does the same with exit code 130 and the resume command; a second stops at once. In a
  submitit job, submitit's preemption signal (SIGUSR2) does the same, then submitit requeues the job
  (medft.run.requeue).
- `out_of_memory_error`: the message for torch.OutOfMemoryError / MemoryError, with the
  overrides the memory planner picks (medft.hardware.fit).
- `train_with_fault_messages`: `trainer.train()` with the three above turned into those messages,
  and a full disk (an OSError, or safetensors' own error) into one that says which checkpoint is
  kept (`discard_unsealed`); a resume from a checkpoint at the last step trains nothing (steps.py).
"""

from __future__ import annotations

import logging
import signal
import threading
from contextlib import contextmanager
from pathlib import Path

from medft.config.errors import UserError
from medft.hardware.fit import overrides_after_oom
from medft.run.checkpoints import SEAL_FILE
from medft.run.folders import checkpoints
from medft.run.interrupt import INTERRUPTED_EXIT_CODE, resume_command
from medft.run.requeue import hand_back, submitit_preempt_signal
from medft.run.steps import checkpoint_step, finish_from_checkpoint
from medft.runtime.distributed import any_rank
from medft.runtime.files import DiskFullError, disk_full_error, is_disk_full
from medft.runtime.trainer_callback import TrainerCallback

log = logging.getLogger(__name__)

PREEMPTED_EXIT_CODE = 75  # EX_TEMPFAIL (sysexits.h): "try again later"; not 1 (a bug) or 2 (bad input)
FP16_SKIPS_TOLERATED = 5  # fp16's loss scaler skips overflowing steps itself; this many in a row is not that


class NonFiniteLossError(UserError, FloatingPointError):
    """The loss (or its gradients) became NaN or infinite."""


class TrainingOutOfMemory(UserError, MemoryError):
    """The device ran out of memory during training."""


class Preempted(Exception):
    """SIGTERM (or Ctrl-C) arrived; a checkpoint was saved. Not a UserError: nothing needs fixing, only
    a requeue (exit 75) or the resume command (Ctrl-C: exit 130)."""

    def __init__(self, message: str, exit_code: int = PREEMPTED_EXIT_CODE):
        super().__init__(message)
        self.exit_code = exit_code


def last_sealed_checkpoint(checkpoint_root: Path) -> Path | None:
    sealed = [p for p in checkpoints(checkpoint_root.parent) if (p / SEAL_FILE).is_file()]
    return sealed[-1] if sealed else None


def _resume_hint(checkpoint_root: Path) -> str:
    last = last_sealed_checkpoint(checkpoint_root)
    if last is None:
        return "No checkpoint was saved before it; a rerun starts from step 0."
    return f"The last good checkpoint is {last}; after the fix, resume=true continues from it."


class NonFiniteGuard(TrainerCallback):
    """Before each optimizer step: are the trainable weights' gradients finite?"""

    def __init__(self, cfg):
        self.cfg = cfg
        self.skipped_in_a_row = 0

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        import torch

        grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
        if not grads or torch.isfinite(torch.stack([g.detach().float().norm() for g in grads]).sum()):
            self.skipped_in_a_row = 0
            return
        self.skipped_in_a_row += 1
        if args.fp16 and self.skipped_in_a_row < FP16_SKIPS_TOLERATED:
            return  # the grad scaler skips this step and lowers its scale
        raise NonFiniteLossError(self.message(state.global_step + 1, state.max_steps, Path(args.output_dir)))

    def message(self, step: int, max_steps: int, checkpoint_root: Path) -> str:
        optimizer, hardware = self.cfg.optimizer, self.cfg.hardware
        causes = [
            f"a learning rate too high for this model (optimizer.lr={optimizer.lr:g}: try "
            f"optimizer.lr={optimizer.lr / 10:g})"
        ]
        if not optimizer.max_grad_norm:
            causes.append("no gradient clipping (optimizer.max_grad_norm=0: try optimizer.max_grad_norm=1.0)")
        if hardware.precision == "fp16":
            causes.append("fp16 overflow (try hardware.precision=bf16 where the device has it, or fp32)")
        causes.append(
            "a training example with no answer tokens or absurd values (check the data with "
            "`python -m medft data check`)"
        )
        return (
            f"Training stopped at step {step} of {max_steps}: the loss became NaN or infinite (its gradients "
            f"are not finite), so the step was not applied. {_resume_hint(checkpoint_root)} Likely causes: "
            + "; ".join(causes)
            + "."
        )


class PreemptionCheckpoint(TrainerCallback):
    """SIGTERM or Ctrl-C -> save at the next step boundary, stop; `requested` tells the recipe to exit
    75 (SIGTERM) or 130 (Ctrl-C)."""

    def __init__(self):
        self.requested = False
        self.by_ctrl_c = False
        self.requeue_signal = None  # submitit's preemption signal, once it arrived (medft.run.requeue)
        self._submitit_handler = None

    def _on_signal(self, signum, frame):
        self.requested = True
        log.warning(
            "SIGTERM received: saving a checkpoint at the end of this step, then exiting with code %d "
            "(requeue the same command with resume=true to continue)",
            PREEMPTED_EXIT_CODE,
        )

    def _on_ctrl_c(self, signum, frame):
        self.requested = self.by_ctrl_c = True
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C stops at once
        log.warning(
            "Ctrl-C: saving a checkpoint at the end of this step, then stopping (Ctrl-C again to stop now, without it)"
        )

    def _on_requeue_notice(self, signum, frame):
        self.requested, self.requeue_signal = True, signum
        log.warning(
            "%s received (submitit's preemption notice): saving a checkpoint at the end of this step, "
            "then submitit requeues the job",
            signal.Signals(signum).name,
        )

    @contextmanager
    def armed(self):
        """Handle SIGTERM and SIGINT (and submitit's preemption signal in a submitit job) while the block
        (training) runs; the previous handlers are restored after."""
        if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
            yield self
            return
        previous = signal.signal(signal.SIGTERM, self._on_signal)
        previous_int = signal.signal(signal.SIGINT, self._on_ctrl_c)
        notice = submitit_preempt_signal()
        if notice is not None:
            self._submitit_handler = signal.signal(notice, self._on_requeue_notice)
        try:
            yield self
        finally:
            signal.signal(signal.SIGTERM, previous)
            signal.signal(signal.SIGINT, previous_int)
            if notice is not None:
                signal.signal(notice, self._submitit_handler)

    def hand_back_to_submitit(self, step: int, checkpoint_root: Path) -> None:
        """After the checkpoint: submitit's handler requeues the job (raises `Requeued`)."""
        if self.requeue_signal is not None:
            hand_back(self._submitit_handler, self.requeue_signal, step, last_sealed_checkpoint(checkpoint_root))

    def on_step_end(self, args, state, control, **kwargs):
        # Distributed: every rank stops at the same step (a sharded save is a collective), even when the
        # signal reached the ranks a step apart.
        self.requested = any_rank(self.requested)
        if self.requested:
            control.should_save = True
            control.should_training_stop = True


def preempted(step: int, checkpoint_root: Path, by_ctrl_c: bool = False) -> Preempted:
    last = last_sealed_checkpoint(checkpoint_root)
    if by_ctrl_c:
        return Preempted(
            f"Stopped by Ctrl-C after step {step}; checkpoint {last} saved. Continue with: {resume_command()}",
            INTERRUPTED_EXIT_CODE,
        )
    return Preempted(
        f"Stopped by SIGTERM after step {step}; checkpoint {last} saved. "
        f"Exit code {PREEMPTED_EXIT_CODE}: requeue the same command with resume=true to continue."
    )


def out_of_memory_error(cfg, step: int, checkpoint_root: Path, err: BaseException) -> TrainingOutOfMemory:
    planned_gb, fix = overrides_after_oom(cfg)
    if fix:
        advice = f"The memory planner's choice for less memory than it planned: {' '.join(fix)}."
    elif fix == []:
        advice = "The planner finds no override that lowers the peak; use a profile with more memory."
    else:
        advice = "No override of this profile fits in less memory; use a profile with more memory (hardware=...)."
    return TrainingOutOfMemory(
        f"Out of memory at step {step + 1} of hardware={cfg.hardware.name} ({type(err).__name__}: "
        f"{str(err).splitlines()[0] if str(err) else 'no details'}). The planner estimated a peak of "
        f"{planned_gb:.2f} GiB within the {cfg.hardware.memory_budget_gb:g} GiB budget, so the device has less "
        f"free than the profile says. {advice} Setting hardware.memory_budget_gb to what the device really "
        f"has lets the planner check before loading. {_resume_hint(checkpoint_root)}"
    )


def train_with_fault_messages(trainer, cfg, checkpoint, preemption, checkpoint_root: Path):
    """`trainer.train()`, with SIGTERM turned into a checkpoint and an exit, and a full disk or an
    out-of-memory into a message that says what was kept and what to change."""
    import torch

    if checkpoint and trainer.args.max_steps > 0 and checkpoint_step(checkpoint) >= trainer.args.max_steps:
        log.info(
            "%s is at the last step (training.max_steps=%d): nothing left to train",
            checkpoint.name,
            trainer.args.max_steps,
        )
        return finish_from_checkpoint(trainer, checkpoint)
    try:
        with preemption.armed():
            output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    except (torch.OutOfMemoryError, MemoryError) as err:
        if cfg.hardware.device == "cuda":
            torch.cuda.empty_cache()
        raise out_of_memory_error(cfg, trainer.state.global_step, checkpoint_root, err) from None
    except Exception as err:  # a full disk: OSError, torch.save's RuntimeError, safetensors' SafetensorError
        if isinstance(err, DiskFullError) and err.__cause__ is not None:  # the seal's own atomic write
            err = err.__cause__
        elif isinstance(err, UserError) or not is_disk_full(err, checkpoint_root):
            raise
        raise disk_full_error(err, checkpoint_root, discard_unsealed(checkpoint_root)) from None
    if preemption.requested:
        preemption.hand_back_to_submitit(trainer.state.global_step, checkpoint_root)
        raise preempted(trainer.state.global_step, checkpoint_root, preemption.by_ctrl_c)
    return output


def discard_unsealed(checkpoint_root: Path) -> str:
    """After a failed checkpoint save: remove the half-written folder; say which checkpoint is kept."""
    import shutil

    for folder in checkpoints(checkpoint_root.parent):
        if not (folder / SEAL_FILE).is_file():
            shutil.rmtree(folder, ignore_errors=True)
    last = last_sealed_checkpoint(checkpoint_root)
    return f"the last complete checkpoint, {last}, is intact" if last else "no complete checkpoint was saved yet"
