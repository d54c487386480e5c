"""Confidence intervals and the paired test against independent reference computations."""

from __future__ import annotations

import math

from scipy.stats import binomtest

from medft.evaluation.significance import accuracy_with_ci, gain_difference, mcnemar_paired


def test_wilson_interval_matches_the_formula():
    result = accuracy_with_ci([True] * 30 + [False] * 70)
    z, n, p = 1.959964, 100, 0.3
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert result["n"] == 100 and result["acc"] == 0.3
    assert math.isclose(result["acc_ci95"][0], centre - half, rel_tol=1e-5)
    assert math.isclose(result["acc_ci95"][1], centre + half, rel_tol=1e-5)


def test_exact_mcnemar_is_a_binomial_test_on_discordant_pairs():
    before = [True] * 5 + [False] * 12 + [True, False] * 10
    after = [True] * 5 + [True] * 10 + [False] * 2 + [True, False] * 10
    result = mcnemar_paired(before, after)
    assert (result["improved"], result["worsened"]) == (10, 0)
    assert result["test"] == "mcnemar_exact"
    assert math.isclose(result["p_value"], binomtest(10, 10, 0.5).pvalue, rel_tol=1e-9)


def test_no_change_gives_p_one_and_zero_delta():
    result = mcnemar_paired([True, False, True], [True, False, True])
    assert result["p_value"] == 1.0 and result["acc_delta"] == 0.0


def test_gain_difference_interval_contains_the_difference():
    test = mcnemar_paired([False] * 100, [True] * 60 + [False] * 40)
    control = mcnemar_paired([False] * 50, [True] * 10 + [False] * 40)
    diff = gain_difference(test, control)
    assert math.isclose(diff["difference"], 0.6 - 0.2)
    low, high = diff["difference_ci95"]
    assert low < 0.4 < high and low > 0
