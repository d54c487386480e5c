"""Score a model on published medical benchmarks: `python evaluate.py [run_dir=...] [benchmark=...]`.

Thin on purpose: Hydra composes conf/evaluate.yaml with the overrides, medft.cli.evaluate_job hands
the typed config and the evaluation folder to medft.recipes.evaluate.run, which writes results.json
and results.md there.

    python evaluate.py model=smollm2-135m benchmark=pubmedqa benchmark.path=data/pubmedqa
    python evaluate.py run_dir=outputs/builtin/2026-11-25_10-00-00 benchmark.data_dir=../shared/data
"""

from medft.cli import HYDRA_COMMANDS, hydra_command

if __name__ == "__main__":
    hydra_command(*HYDRA_COMMANDS["evaluate"])
