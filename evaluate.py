"""Benchmark evaluation (`python evaluate.py benchmark=pubmedqa run_dir=...`) arrives with issue 4.

Until then every training run already evaluates itself: `metrics.json` in its run folder holds
the base and tuned accuracies on the dataset's test and control sets, with confidence
intervals and a paired McNemar test.
"""

import sys

if __name__ == "__main__":
    sys.exit(
        "evaluate.py is not implemented yet: benchmark evaluation (PubMedQA, MedQA, MedMCQA, "
        "MMLU-medical, MedQuAD) comes with issue 4. Training runs already write eval results to "
        "outputs/<name>/<time>/metrics.json."
    )
