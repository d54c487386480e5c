"""What a multiple-choice score means next to the label prior: baselines, macro-F1 and collapse.

A fine-tune can lift accuracy by learning to answer the most common label: on PubMedQA's test
(55% "yes") a model answering "yes" to 491 of 500 questions scores 0.560, and always answering
"yes" scores 0.552. Accuracy alone hides that; this module computes, from the gold and
predicted labels of the same items:

- the majority-class baseline (always the most frequent gold label) and the chance baseline
  (mean of 1/number of options over items);
- macro-F1 with a seeded bootstrap 95% interval over items;
- the share of each predicted and gold label;
- McNemar's test of the model against the majority-class predictor on the same items;
- a `collapse` flag with its reasons, and a sentence saying it (`describe`).

Labels are the option texts when every item offers the same options (yes/no/maybe, in any
order), otherwise the option letters (A-D sets, where each item's options differ).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from medft.data.records import LETTERS
from medft.evaluation.bootstrap import bootstrap_ci
from medft.evaluation.choice_metrics import macro_f1
from medft.evaluation.significance import mcnemar_paired

# One answer taking more than this share of predictions (and more than its share of the gold
# answers, so a faithful model on a set that is itself 85% "yes" is not flagged) is a collapse.
COLLAPSE_SHARE = 0.8
SIGNIFICANCE = 0.05  # p-value below which the model counts as better than the majority class

COLLAPSE_MARK = "‡"  # marks a collapsed row in results.md and sweep tables
COLLAPSE_RULE = (
    f"collapse: one answer takes more than {100 * COLLAPSE_SHARE:.0f}% of the predictions (and more "
    "than its share of gold answers), or macro-F1 does not beat always answering the majority class"
)

REASON_SHARE = "one_answer_dominates"
REASON_MACRO_F1 = "macro_f1_not_above_majority"


def item_labels(options: Sequence[Sequence[str]]) -> tuple[list[list[str]], list[str]]:
    """(label of each option of each item, every label in order): option texts or letters."""
    normalised = [[o.strip() for o in item] for item in options]
    first = {o.casefold() for o in normalised[0]} if normalised else set()
    if normalised and all({o.casefold() for o in item} == first and len(item) == len(first) for item in normalised):
        display = {o.casefold(): o for o in normalised[0]}  # the first item's spelling names each label
        return [[display[o.casefold()] for o in item] for item in normalised], list(normalised[0])
    width = max((len(item) for item in normalised), default=0)
    return [list(LETTERS[: len(item)]) for item in normalised], list(LETTERS[:width])


def _shares(labels: list[str], universe: list[str]) -> dict[str, float]:
    counts = Counter(labels)
    return {label: counts[label] / len(labels) for label in universe}


def label_summary(gold: Sequence[int], predicted: Sequence[int], options: Sequence[Sequence[str]]) -> dict:
    """Baselines, macro-F1 [95% CI], label shares, McNemar vs the majority class, and `collapse`.

    `gold` and `predicted` are option indices per item; `options` each item's option texts.
    """
    import numpy as np

    if not (len(gold) == len(predicted) == len(options)):
        raise ValueError(
            f"gold ({len(gold)}), predicted ({len(predicted)}) and options ({len(options)}) "
            "must describe the same items"
        )
    if not gold:
        return {}
    labels, universe = item_labels(options)
    gold_labels = [labels[i][g] for i, g in enumerate(gold)]
    predicted_labels = [labels[i][p] for i, p in enumerate(predicted)]
    index = {label: k for k, label in enumerate(universe)}
    gold_ids = np.array([index[g] for g in gold_labels])
    predicted_ids = np.array([index[p] for p in predicted_labels])
    n_labels = len(universe)

    gold_share = _shares(gold_labels, universe)
    majority = max(universe, key=lambda label: gold_share[label])  # ties: the first label in option order
    majority_ids = np.full_like(gold_ids, index[majority])
    model_f1 = float(macro_f1(gold_ids, predicted_ids, n_labels))
    majority_f1 = float(macro_f1(gold_ids, majority_ids, n_labels))
    predicted_share = _shares(predicted_labels, universe)
    top = max(universe, key=lambda label: predicted_share[label])

    reasons = []
    if predicted_share[top] > COLLAPSE_SHARE and predicted_share[top] > gold_share[top]:
        reasons.append(REASON_SHARE)
    if model_f1 <= majority_f1 + 1e-12:  # rounding must not hide a tie
        reasons.append(REASON_MACRO_F1)
    correct = (gold_ids == predicted_ids).tolist()
    majority_correct = (gold_ids == majority_ids).tolist()
    return {
        "macro_f1": model_f1,
        "macro_f1_ci95": bootstrap_ci(
            [gold_ids, predicted_ids], lambda g, p, axis=-1: macro_f1(g, p, n_labels, axis), vectorized=True
        ),
        "majority": {"label": majority, "acc": gold_share[majority], "macro_f1": majority_f1},
        "chance": {"acc": float(np.mean([1 / len(item) for item in options]))},
        "predicted": predicted_share,
        "gold": gold_share,
        "vs_majority": mcnemar_paired(majority_correct, correct),  # acc_delta: model minus majority class
        "collapse": {
            "flag": bool(reasons),
            "reasons": reasons,
            "top_label": top,
            "top_share": predicted_share[top],
            "threshold": COLLAPSE_SHARE,
        },
    }


def _p_text(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.2g}"


def better_than_majority(summary: dict) -> bool:
    """Above the majority class in macro-F1, and in accuracy by McNemar's test at SIGNIFICANCE."""
    versus = summary["vs_majority"]
    return (
        summary["macro_f1"] > summary["majority"]["macro_f1"] + 1e-12
        and versus["acc_delta"] > 0
        and versus["p_value"] < SIGNIFICANCE
    )


def verdict(summary: dict) -> str:
    """The comparison with the majority class in a few words: "better than", "no better than", ...

    "better than" needs both: macro-F1 above the majority class's and accuracy above it by McNemar's test.
    """
    majority, versus = summary["majority"], summary["vs_majority"]
    if better_than_majority(summary):
        return "better than"
    if summary["macro_f1"] <= majority["macro_f1"] + 1e-12:
        return "no better than"
    if versus["acc_delta"] < 0 and versus["p_value"] < SIGNIFICANCE:
        return "less accurate than"  # not "no better": a reader should see the tuned model lost ground
    if versus["acc_delta"] <= 0:
        return "no more accurate than"
    return "not significantly more accurate than"  # above it in macro-F1 only: the accuracy gain is noise


def verdict_cell(summary: dict | None) -> str:
    """The closing table's column: "COLLAPSE" before the verdict when the set collapsed; "-" if not multiple choice."""
    if not summary or not summary.get("collapse"):
        return "-"
    words = verdict(summary).removesuffix(" than")
    return f"COLLAPSE, {words}" if summary["collapse"]["flag"] else words


def describe(summary: dict) -> str:
    """One sentence a user reads in the log: collapse, and the comparison with the majority class.

    e.g. "COLLAPSE: predicts 'yes' for 98% of questions (55% of gold answers): not significantly more
    accurate than the majority class 'yes' (acc 0.560 vs 0.552, McNemar p=0.39; macro-F1 0.26 vs 0.24)".
    """
    if not summary.get("collapse"):
        return "no multiple-choice items"
    collapse, majority, versus = summary["collapse"], summary["majority"], summary["vs_majority"]
    acc = majority["acc"] + versus["acc_delta"]
    comparison = (
        f"{verdict(summary)} the majority class '{majority['label']}' (acc {acc:.3f} vs {majority['acc']:.3f}, "
        f"McNemar {_p_text(versus['p_value'])}; macro-F1 {summary['macro_f1']:.2f} vs "
        f"{majority['macro_f1']:.2f})"
    )
    top, share = collapse["top_label"], collapse["top_share"]
    if REASON_SHARE in collapse["reasons"]:
        head = (
            f"predicts '{top}' for {100 * share:.0f}% of questions ({100 * summary['gold'][top]:.0f}% of gold answers)"
        )
    else:
        spread = ", ".join(f"'{label}' {100 * s:.0f}%" for label, s in summary["predicted"].items())
        head = f"macro-F1 {summary['macro_f1']:.2f} {_interval(summary['macro_f1_ci95'])}, predictions {spread}"
    return ("COLLAPSE: " if collapse["flag"] else "") + f"{head}: {comparison}"


def _interval(ci) -> str:
    return "" if not ci or None in ci else f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def describe_sets(tag: str, summaries: dict, only_collapsed: bool = False) -> list[str]:
    """`<tag> <set>: <sentence>` for every summary that carries a label summary (multiple choice), or
    only for those whose collapse flag is set."""
    return [
        f"{tag} {name}: {describe(summary)}"
        for name, summary in summaries.items()
        if isinstance(summary, dict) and summary.get("collapse") and (summary["collapse"]["flag"] or not only_collapsed)
    ]
