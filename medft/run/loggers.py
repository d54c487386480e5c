"""Where a run's scalars go besides metrics.json: TensorBoard in the run folder, or Weights & Biases
(one group per sweep, one run per job, files in the run folder).

A resumed run continues the same logger run on one step axis: TensorBoard's new event file purges what
the interrupted attempt logged after its checkpoint, W&B reuses the run id saved in the run folder, and
TRL's `num_tokens` counter starts from the checkpoint's count instead of 0.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

from medft.runtime.files import atomic_write_json

WANDB_RUN_FILE = "wandb_run.json"  # the W&B run id of this run folder: a resume logs to the same W&B run
BEFORE_PHASES = ("eval_before", "benchmark_before")  # the starting model: plotted at step 0


def checkpoint_step(checkpoint: Path | None) -> int | None:
    """The global step a checkpoint was saved at (its trainer_state.json), None without one."""
    return None if checkpoint is None else int(_trainer_state(checkpoint).get("global_step", 0))


def _trainer_state(checkpoint: Path) -> dict:
    path = Path(checkpoint) / "trainer_state.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def tensorboard_writer(cfg, run_dir: Path, resume_step: int | None = None):
    """One event folder per run. On a resume, events the interrupted attempt logged after its
    checkpoint (step > resume_step) are purged: those steps are trained and logged again."""
    if cfg.logger.name != "tensorboard":
        return None
    from torch.utils.tensorboard import SummaryWriter

    purge_step = None if resume_step is None else resume_step + 1
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"), purge_step=purge_step)


def tensorboard_callback(writer):
    """transformers' TensorBoardCallback on `writer`, left open at the end of training: the
    evaluation after training goes into the same event file (a closed writer would open another)."""
    from transformers.integrations import TensorBoardCallback

    class KeepWriterOpen(TensorBoardCallback):
        def on_train_end(self, args, state, control, **kwargs):
            if self.tb_writer:
                self.tb_writer.flush()

    return KeepWriterOpen(tb_writer=writer)


def continue_token_count(trainer, checkpoint: Path | None) -> None:
    """TRL logs `num_tokens` from a counter its trainer starts at 0; the checkpoint's trainer state
    holds the tokens already trained (num_input_tokens_seen, the same non-padding count), so a
    resumed run's curve continues instead of restarting."""
    if checkpoint is None or not hasattr(trainer, "_total_train_tokens"):
        return
    trainer._total_train_tokens = int(_trainer_state(checkpoint).get("num_input_tokens_seen", 0))


def wandb_environment(cfg, run_dir: Path, sweep_dir: Path | None, run_id: str | None = None) -> dict[str, str]:
    """The WANDB_* settings of this run: one group per sweep, one run per job, files in the run folder;
    with `run_id`, W&B resumes that run if it exists (WANDB_RESUME=allow) instead of starting another."""
    mode = cfg.logger.mode
    if mode == "auto":
        mode = "online" if os.environ.get("WANDB_API_KEY") else "offline"
    env = {
        "WANDB_MODE": os.environ.get("WANDB_MODE", mode),
        "WANDB_PROJECT": os.environ.get("WANDB_PROJECT", cfg.logger.project),
        "WANDB_DIR": str(run_dir),
        "WANDB_NAME": f"{cfg.name}/{run_dir.name}",
    }
    if run_id is not None:
        env.update({"WANDB_RUN_ID": run_id, "WANDB_RESUME": "allow"})
    if sweep_dir is not None:
        env["WANDB_RUN_GROUP"] = f"{cfg.name}/{Path(sweep_dir).name}"
        env["WANDB_NAME"] = f"{cfg.name}/{Path(sweep_dir).name}/{run_dir.name}"
    return env


def wandb_run_id(run_dir: Path) -> str:
    """This run folder's W&B run id: the saved one, or a new one saved before W&B starts."""
    saved = run_dir / WANDB_RUN_FILE
    if saved.is_file():
        return json.loads(saved.read_text())["id"]
    run_id = secrets.token_hex(6)  # W&B ids are letters and digits, unique within a project
    atomic_write_json(saved, {"id": run_id})
    return run_id


def setup_wandb(cfg, run_dir: Path) -> None:
    if cfg.logger.name != "wandb":
        return
    run_id = wandb_run_id(run_dir)
    wandb = sys.modules.get("wandb")  # only a process that imported wandb can hold a W&B run
    if wandb is not None and wandb.run is not None and wandb.run.id != run_id:
        wandb.finish()  # an earlier job of an in-process sweep that failed: its run must not take this one's logs
    # Set per run, not setdefault: the jobs of an in-process sweep share one environment.
    sweep_dir = run_dir.parent if (run_dir.parent / "sweep.json").is_file() else None
    os.environ.update(wandb_environment(cfg, run_dir, sweep_dir, run_id))
    if sweep_dir is None:
        os.environ.pop("WANDB_RUN_GROUP", None)


def log_eval_scalars(cfg, writer, phases: dict, step: int) -> None:
    """Accuracy of each set per phase: the `*_before` phases at step 0 (the model training started
    from), the others at `step`; W&B plots them on the trainer's axis, train/global_step."""
    at_step: dict[int, dict[str, float]] = {}
    for tag, summary in phases.items():
        for name, result in summary.items():
            if result.get("acc") is not None:
                at_step.setdefault(0 if tag in BEFORE_PHASES else step, {})[f"{tag}/{name}_acc"] = result["acc"]
    if writer:
        for x, scalars in sorted(at_step.items()):
            for key, value in scalars.items():
                writer.add_scalar(key, value, x)
        writer.close()
    if cfg.logger.name == "wandb":
        import wandb

        if wandb.run is not None:
            for x, scalars in sorted(at_step.items()):
                wandb.log({**scalars, "train/global_step": x})
                wandb.run.summary.update(scalars)
            wandb.finish()
