"""Fine-tune a model from composed configs: `python train.py [group=option ...] [key=value ...]`.

Thin on purpose: Hydra composes conf/train.yaml with the overrides, medft.cli.train_job hands the
typed config and the run folder to medft.recipes.train.run (through medft.sweep.jobs when it is
one job of a `-m` sweep) and returns the metric a sweeper optimizes (`optimized_metric`).
"""

from medft.cli import HYDRA_COMMANDS, hydra_command

if __name__ == "__main__":
    hydra_command(*HYDRA_COMMANDS["train"])
