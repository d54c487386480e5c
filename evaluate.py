"""Score a model on published medical benchmarks: `python evaluate.py [run_dir=...] [benchmark=...]`.

Thin on purpose: compose, hand the typed config and the evaluation folder to
`medft.evaluate_recipe.run`, which writes results.json and results.md there.

    python evaluate.py model=smollm2-135m benchmark=pubmedqa benchmark.path=data/pubmedqa
    python evaluate.py run_dir=outputs/builtin/2026-11-25_10-00-00 benchmark.data_dir=../shared/data
"""

import logging

import hydra
from omegaconf import DictConfig

from medft.config.compose import prepare_hydra
from medft.errors import UserError

prepare_hydra()  # registers the schemas and the folder resolvers hydra.main needs


@hydra.main(version_base=None, config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    from medft.evaluate_recipe import run

    try:
        run(cfg, HydraConfig.get().runtime.output_dir)
    except UserError as err:  # a fixable input: the message, not a stack trace
        logging.getLogger("medft").error("%s", err)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
