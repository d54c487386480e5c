"""Confidence intervals and paired tests for accuracies, from statsmodels.

Wilson intervals stay inside [0, 1] and keep their coverage at small n and extreme accuracy,
where the normal approximation does not. McNemar's test compares two models on the same
questions using only the discordant pairs; exact (binomial) below 25 discordant pairs.
"""

from __future__ import annotations


def accuracy_with_ci(correct: list[bool], alpha: float = 0.05) -> dict:
    from statsmodels.stats.proportion import proportion_confint

    n, k = len(correct), int(sum(correct))
    if n == 0:
        return {"n": 0, "acc": None, "acc_ci95": [None, None]}
    low, high = proportion_confint(k, n, alpha=alpha, method="wilson")
    return {"n": n, "acc": k / n, "acc_ci95": [float(low), float(high)]}


def mcnemar_paired(before: list[bool], after: list[bool]) -> dict:
    """Paired comparison of the same questions answered before and after training."""
    from statsmodels.stats.contingency_tables import mcnemar

    if len(before) != len(after):
        raise ValueError(f"paired test needs equal lengths, got {len(before)} and {len(after)}")
    only_after = sum(1 for b, a in zip(before, after) if a and not b)
    only_before = sum(1 for b, a in zip(before, after) if b and not a)
    both = sum(1 for b, a in zip(before, after) if a and b)
    neither = len(before) - only_after - only_before - both
    table = [[both, only_before], [only_after, neither]]
    discordant = only_after + only_before
    exact = discordant < 25
    result = mcnemar(table, exact=exact, correction=True)
    paired = {
        "n": len(before),
        "p_value": float(result.pvalue) if discordant else 1.0,
        "test": "mcnemar_exact" if exact else "mcnemar_chi2_cc",
        "improved": only_after,
        "worsened": only_before,
        "acc_delta": (both + only_after - both - only_before) / len(before) if before else 0.0,
    }
    half = 1.959964 * _delta_variance(paired) ** 0.5 if before else 0.0  # normal approximation, paired
    return {**paired, "acc_delta_ci95": [paired["acc_delta"] - half, paired["acc_delta"] + half]}


def _delta_variance(paired: dict) -> float:
    # Variance of a paired accuracy difference: (p10 + p01 - (p10 - p01)^2) / n.
    n = paired["n"]
    p_up, p_down = paired["improved"] / n, paired["worsened"] / n
    return (p_up + p_down - (p_up - p_down) ** 2) / n


def gain_difference(paired: dict, control: dict) -> dict:
    """How much more the trained facts gained than the never-trained control facts.

    The two gains come from disjoint questions, so their variances add; the interval is the
    normal approximation (adequate at the sizes the builtin set has: hundreds of questions).
    """
    diff = paired["acc_delta"] - control["acc_delta"]
    half = 1.959964 * (_delta_variance(paired) + _delta_variance(control)) ** 0.5
    return {
        "gain": paired["acc_delta"],
        "control_gain": control["acc_delta"],
        "difference": diff,
        "difference_ci95": [diff - half, diff + half],
    }
