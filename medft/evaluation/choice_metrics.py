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

from medft.evaluation.bootstrap import bootstrap_ci, mean_ci
from medft.evaluation.significance import accuracy_with_ci

ECE_BINS = 10


def expected_calibration_error(confidence, correct, bins: int = ECE_BINS, axis: int = -1):
    """ECE; with arrays of resamples along `axis`, one value per resample (vectorized bootstrap)."""
    import numpy as np

    confidence, correct = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=float)
    # Bin b holds confidences in (b/bins, (b+1)/bins]; a confidence of exactly 0 joins bin 0.
    # Per bin, share x |accuracy - mean confidence| = |sum(correct - confidence)| / n.
    index = np.clip(np.ceil(confidence * bins) - 1, 0, bins - 1)
    gap = correct - confidence
    n = confidence.shape[axis]
    return sum(np.abs(np.sum(gap * (index == b), axis=axis)) for b in range(bins)) / n


def macro_f1(gold, predicted, n_labels: int, axis: int = -1):
    """F1 per label averaged over labels (0 for a label never predicted nor present, as
    scikit-learn's zero_division=0); vectorized over resamples along `axis`."""
    import numpy as np

    gold, predicted = np.asarray(gold), np.asarray(predicted)
    scores = []
    for label in range(n_labels):
        is_gold, is_predicted = gold == label, predicted == label
        true_pos = np.sum(is_gold & is_predicted, axis=axis)
        wrong = np.sum(is_gold ^ is_predicted, axis=axis)  # false positives + false negatives
        denominator = 2 * true_pos + wrong
        scores.append(np.where(denominator > 0, 2 * true_pos / np.maximum(denominator, 1), 0.0))
    return np.mean(scores, axis=0)


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


def summarize(
    option_lls: Sequence[Sequence[float]],
    gold: Sequence[int],
    choice_texts: Sequence[Sequence[str]],
    subjects: Sequence[str | None] | None = None,
) -> dict:
    """The metrics dict stored per benchmark in results.json (and metrics.json)."""
    import numpy as np

    if not gold:
        return {"n": 0, "acc": None, "acc_ci95": [None, None]}
    predicted, predicted_norm, confidence = predictions(option_lls, choice_texts)
    gold = [int(g) for g in gold]
    correct = [p == g for p, g in zip(predicted, gold)]
    correct_norm = [p == g for p, g in zip(predicted_norm, gold)]
    n_labels = max(len(t) for t in choice_texts)
    result = {
        "n": len(gold),
        "acc": float(np.mean(correct)),
        "acc_ci95": mean_ci(correct),
        "acc_norm": float(np.mean(correct_norm)),
        "acc_norm_ci95": mean_ci(correct_norm),
        "macro_f1": float(macro_f1(gold, predicted, n_labels)),
        "macro_f1_ci95": bootstrap_ci(
            [gold, predicted], lambda g, p, axis=-1: macro_f1(g, p, n_labels, axis), vectorized=True
        ),
        "ece": float(expected_calibration_error(confidence, correct)),
        "ece_ci95": bootstrap_ci([confidence, correct], expected_calibration_error, vectorized=True),
        "predicted_distribution": {str(k): int(v) for k, v in zip(*np.unique(predicted, return_counts=True))},
    }
    if subjects and any(subjects):
        per_subject = {}
        for subject in sorted({s for s in subjects if s}):
            picked = [c for c, s in zip(correct, subjects) if s == subject]
            per_subject[subject] = accuracy_with_ci(picked)  # Wilson: cheap and sound per subject
        result["per_subject"] = per_subject
    return result
