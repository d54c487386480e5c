"""Fine-tune a model from composed configs: `python train.py [group=option ...] [key=value ...]`.

Thin on purpose: compose, hand the typed config and the run folder to `medft.recipe.run`,
and return the metric a sweeper optimizes.
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

    try:
        metrics = run(cfg, HydraConfig.get().runtime.output_dir)
    except UserError as err:  # a fixable input: the message, not a stack trace
        logging.getLogger("medft").error("%s", err)
        raise SystemExit(2) from None
    after = metrics.get("eval_after", {}).get("test")
    return after["acc"] if after else None


if __name__ == "__main__":
    main()
