"""Metrics of a multiple-choice evaluation from each question's per-choice log-likelihoods.

- acc: the highest summed log-likelihood is the gold choice (lm-evaluation-harness `acc`).
- acc_norm: the same after dividing by each choice string's length in characters (the
  harness's `acc_norm`, which uses `len(choice)`); it removes the bias toward short choices.
- macro_f1: F1 per label averaged over labels (PubMedQA's official second metric, where
  "maybe" is rare and accuracy rewards never predicting it).
- ece: expected calibration error of the model's choice distribution (softmax over the
  choices' log-likelihoods), 10 equal-width confidence bins (Guo et al. 2017).
Intervals are percentile-bootstrap 95% intervals over questions (`medft.evaluation.bootstrap`).
"""

from __future__ import annotations

from collections.abc import Sequence

ECE_BINS = 10


def expected_calibration_error(confidence, correct, bins: int = ECE_BINS) -> float:
    import numpy as np

    confidence, correct = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=float)
    # Bin i holds confidences in (i/bins, (i+1)/bins]; a confidence of exactly 0 joins bin 0.
    index = np.clip(np.ceil(confidence * bins) - 1, 0, bins - 1).astype(int)
    error = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            error += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(error)


def _macro_f1(gold, predicted, n_labels: int) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(gold, predicted, labels=list(range(n_labels)), average="macro", zero_division=0))


def predictions(option_lls: Sequence[Sequence[float]], choice_texts: Sequence[Sequence[str]]):
    """(predicted, predicted by length-normalised score, confidence of the prediction)."""
    import numpy as np

    predicted, predicted_norm, confidence = [], [], []
    for lls, texts in zip(option_lls, choice_texts):
        lls = np.asarray(lls, dtype=float)
        lengths = np.asarray([max(1, len(t)) for t in texts], dtype=float)
        predicted.append(int(np.argmax(lls)))
        predicted_norm.append(int(np.argmax(lls / lengths)))
        probs = np.exp(lls - lls.max())
        confidence.append(float(probs.max() / probs.sum()))
    return predicted, predicted_norm, confidence


def summarize(option_lls: Sequence[Sequence[float]], gold: Sequence[int],
              choice_texts: Sequence[Sequence[str]], subjects: Sequence[str | None] | None = None) -> dict:
    """The metrics dict stored per benchmark in results.json (and metrics.json)."""
    import numpy as np

    from medft.evaluation.bootstrap import bootstrap_ci, mean_ci
    from medft.evaluation.stats import accuracy_with_ci

    if not gold:
        return {"n": 0, "acc": None, "acc_ci95": [None, None]}
    predicted, predicted_norm, confidence = predictions(option_lls, choice_texts)
    gold = [int(g) for g in gold]
    correct = [p == g for p, g in zip(predicted, gold)]
    correct_norm = [p == g for p, g in zip(predicted_norm, gold)]
    n_labels = max(len(t) for t in choice_texts)
    result = {
        "n": len(gold),
        "acc": float(np.mean(correct)), "acc_ci95": mean_ci(correct),
        "acc_norm": float(np.mean(correct_norm)), "acc_norm_ci95": mean_ci(correct_norm),
        "macro_f1": _macro_f1(gold, predicted, n_labels),
        "macro_f1_ci95": bootstrap_ci([gold, predicted], lambda g, p: _macro_f1(g, p, n_labels)),
        "ece": expected_calibration_error(confidence, correct),
        "ece_ci95": bootstrap_ci([confidence, correct], lambda c, k: expected_calibration_error(c, k)),
        "predicted_distribution": {str(k): int(v) for k, v in zip(*np.unique(predicted, return_counts=True))},
    }
    if subjects and any(subjects):
        per_subject = {}
        for subject in sorted({s for s in subjects if s}):
            picked = [c for c, s in zip(correct, subjects) if s == subject]
            per_subject[subject] = accuracy_with_ci(picked)  # Wilson: cheap and sound per subject
        result["per_subject"] = per_subject
    return result
