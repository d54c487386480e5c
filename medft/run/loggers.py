"""Where a run's scalars go besides metrics.json: TensorBoard in the run folder, or Weights & Biases
(one group per sweep, one run per job, files in the run folder)."""

from __future__ import annotations

import os
from pathlib import Path


def tensorboard_writer(cfg, run_dir: Path):
    if cfg.logger.name != "tensorboard":
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))


def wandb_environment(cfg, run_dir: Path, sweep_dir: Path | None) -> dict[str, str]:
    """The WANDB_* settings of this run: one group per sweep, one run per job, files in the run folder."""
    mode = cfg.logger.mode
    if mode == "auto":
        mode = "online" if os.environ.get("WANDB_API_KEY") else "offline"
    env = {"WANDB_MODE": os.environ.get("WANDB_MODE", mode),
           "WANDB_PROJECT": os.environ.get("WANDB_PROJECT", cfg.logger.project),
           "WANDB_DIR": str(run_dir), "WANDB_NAME": f"{cfg.name}/{run_dir.name}"}
    if sweep_dir is not None:
        env["WANDB_RUN_GROUP"] = f"{cfg.name}/{Path(sweep_dir).name}"
        env["WANDB_NAME"] = f"{cfg.name}/{Path(sweep_dir).name}/{run_dir.name}"
    return env


def setup_wandb(cfg, run_dir: Path) -> None:
    if cfg.logger.name != "wandb":
        return
    # Set per run, not setdefault: the jobs of an in-process sweep share one environment.
    sweep_dir = run_dir.parent if (run_dir.parent / "sweep.json").is_file() else None
    os.environ.update(wandb_environment(cfg, run_dir, sweep_dir))
    if sweep_dir is None:
        os.environ.pop("WANDB_RUN_GROUP", None)


def log_eval_scalars(cfg, writer, phases: dict, step: int) -> None:
    scalars = {f"{tag}/{name}_acc": result["acc"] for tag, summary in phases.items()
               for name, result in summary.items() if result.get("acc") is not None}
    if writer:
        for key, value in scalars.items():
            writer.add_scalar(key, value, step)
        writer.close()
    if cfg.logger.name == "wandb":
        import wandb

        if wandb.run is not None:
            wandb.log(scalars, step=step)
            wandb.run.summary.update(scalars)
            wandb.finish()
