"""Fine-tune a model from composed configs: `python train.py [group=option ...] [key=value ...]`.

Thin on purpose: compose, hand the typed config and the run folder to `medft.recipe.run`
(through `medft.sweep.jobs` when it is one job of a `-m` sweep), and return the metric a
sweeper optimizes (`optimized_metric`, a validation-split number).
"""

import hydra
from omegaconf import DictConfig

from medft.config.compose import prepare_hydra
from medft.entry import check_command_line, guarded, run_hydra_main

prepare_hydra()  # registers the schemas and the run-folder resolver hydra.main needs


@hydra.main(version_base=None, config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig

    from medft.recipe import run
    from medft.sweep.jobs import in_sweep, metric_at, run_sweep_job

    hydra_cfg = HydraConfig.get()
    output_dir = hydra_cfg.runtime.output_dir
    if in_sweep(hydra_cfg):  # a failure is recorded in the job folder and raised to the sweeper
        from medft.secrets import install_log_redaction

        install_log_redaction()
        metrics = run_sweep_job(cfg, output_dir, list(hydra_cfg.overrides.task), run,
                                launcher_cfg=hydra_cfg.launcher, sweep_dir=hydra_cfg.sweep.dir)
    else:  # secrets refused and masked; an error is its message (debug=true: the stack trace)
        metrics = guarded(lambda: run(cfg, output_dir), cfg, output_dir)  # SIGTERM: exit 75, resumable
    return metric_at(metrics, cfg.optimized_metric)


if __name__ == "__main__":
    check_command_line()  # a credential override is refused before Hydra copies it anywhere
    run_hydra_main(main)  # Ctrl-C while Hydra composes: one line, exit 130
