"""Score a model on published medical benchmarks: `python evaluate.py [run_dir=...] [benchmark=...]`.

Thin on purpose: compose, hand the typed config and the evaluation folder to
`medft.evaluate_recipe.run`, which writes results.json and results.md there.

    python evaluate.py model=smollm2-135m benchmark=pubmedqa benchmark.path=data/pubmedqa
    python evaluate.py run_dir=outputs/builtin/2026-11-25_10-00-00 benchmark.data_dir=../shared/data
"""

import hydra
from omegaconf import DictConfig

from medft.config.compose import prepare_hydra
from medft.entry import check_command_line, guarded, run_hydra_main

prepare_hydra()  # registers the schemas and the folder resolvers hydra.main needs


@hydra.main(version_base=None, config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    from medft.evaluate_recipe import run

    output_dir = HydraConfig.get().runtime.output_dir
    guarded(lambda: run(cfg, output_dir), cfg, output_dir)  # an error: its message (debug=true: the trace)


if __name__ == "__main__":
    check_command_line()  # a credential override is refused before Hydra copies it anywhere
    run_hydra_main(main)  # Ctrl-C while Hydra composes: one line, exit 130
