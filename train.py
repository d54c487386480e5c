"""Fine-tune a model from composed configs: `python train.py [group=option ...] [key=value ...]`.

Thin on purpose: compose, hand the typed config and the run folder to `medft.recipe.run`
(through `medft.sweep.jobs` when it is one job of a `-m` sweep), and return the metric a
sweeper optimizes (`optimized_metric`, a validation-split number).
"""

import logging

import hydra
from omegaconf import DictConfig

from medft.config.compose import prepare_hydra
from medft.errors import UserError

prepare_hydra()  # registers the schemas and the run-folder resolver hydra.main needs


@hydra.main(version_base=None, config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig

    from medft.recipe import run
    from medft.run.faults import Preempted
    from medft.sweep.jobs import in_sweep, metric_at, run_sweep_job

    hydra_cfg = HydraConfig.get()
    if in_sweep(hydra_cfg):  # a failure is recorded in the job folder and raised to the sweeper
        metrics = run_sweep_job(cfg, hydra_cfg.runtime.output_dir, list(hydra_cfg.overrides.task), run,
                                launcher_cfg=hydra_cfg.launcher, sweep_dir=hydra_cfg.sweep.dir)
    else:
        try:
            metrics = run(cfg, hydra_cfg.runtime.output_dir)
        except UserError as err:  # a fixable input: the message, not a stack trace
            logging.getLogger("medft").error("%s", err)
            raise SystemExit(2) from None
        except Preempted as stop:  # SIGTERM: checkpoint saved; a distinct code tells a requeue to resume
            logging.getLogger("medft").warning("%s", stop)
            raise SystemExit(stop.exit_code) from None
    return metric_at(metrics, cfg.optimized_metric)


if __name__ == "__main__":
    main()
