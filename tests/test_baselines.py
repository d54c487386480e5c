"""Baselines and collapse: a predictor that learned the label prior, not the task, is flagged and
said in words, in metrics.json, results.md and the sweep table; a good predictor is not."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import yaml

from medft.evaluation.baselines import (
    COLLAPSE_MARK,
    REASON_MACRO_F1,
    REASON_SHARE,
    describe,
    describe_sets,
    item_labels,
    label_summary,
    verdict_cell,
)
from medft.evaluation.results_markdown import markdown_tables
from medft.evaluation.run_sets import paired_results
from medft.runtime.files import atomic_write_json
from medft.tables.aggregate import build_table
from medft.tables.collect import collect
from medft.tables.render import to_csv, to_latex, to_markdown

YES_NO_MAYBE = ("yes", "no", "maybe")
# PubMedQA's test split in proportions: 276 yes, 169 no, 55 maybe of 500 (55% yes).
GOLD = [0] * 276 + [1] * 169 + [2] * 55


def pubmedqa_like(predicted):
    return label_summary(GOLD, predicted, [YES_NO_MAYBE] * len(GOLD))


def test_always_yes_is_flagged_and_said_in_words():
    summary = pubmedqa_like([0] * 500)
    assert summary["collapse"]["flag"] is True
    assert set(summary["collapse"]["reasons"]) == {REASON_SHARE, REASON_MACRO_F1}
    assert summary["majority"] == {"label": "yes", "acc": 0.552, "macro_f1": pytest.approx(0.2371, abs=1e-4)}
    assert summary["predicted"] == {"yes": 1.0, "no": 0.0, "maybe": 0.0}
    assert summary["vs_majority"]["acc_delta"] == 0 and summary["vs_majority"]["p_value"] == 1.0
    words = describe(summary)
    assert words.startswith("COLLAPSE: predicts 'yes' for 100% of questions (55% of gold answers)")
    assert "no better than the majority class 'yes' (acc 0.552 vs 0.552" in words
    assert "macro-F1 0.24 vs 0.24" in words


def test_the_issues_tuned_model_is_flagged_though_its_macro_f1_is_a_little_higher():
    # 491 "yes" of 500, 280 correct (acc 0.560): 4 "no" questions of the 9 answered "no" are right.
    predicted = [0] * 276 + [1] * 4 + [0] * 165 + [1] * 5 + [0] * 50
    summary = pubmedqa_like(predicted)
    assert sum(p == g for p, g in zip(predicted, GOLD)) == 280
    assert summary["macro_f1"] > summary["majority"]["macro_f1"]
    assert summary["collapse"]["reasons"] == [REASON_SHARE]
    assert summary["collapse"]["top_share"] == pytest.approx(0.982)
    assert summary["vs_majority"]["acc_delta"] == pytest.approx(0.008)
    assert summary["vs_majority"]["p_value"] > 0.05  # 0.560 vs 0.552 on the same items: not a real gain
    words = describe(summary)
    assert words.startswith(
        "COLLAPSE: predicts 'yes' for 98% of questions (55% of gold answers): "
        "not significantly more accurate than the majority class 'yes' (acc 0.560 vs 0.552"
    )


def test_a_balanced_good_predictor_is_not_flagged():
    predicted = list(GOLD)
    for i in range(0, 500, 4):  # a quarter of the answers shifted to the next label: 75% accuracy
        predicted[i] = (predicted[i] + 1) % 3
    summary = pubmedqa_like(predicted)
    assert summary["collapse"] == {
        "flag": False,
        "reasons": [],
        "top_label": "yes",
        "top_share": summary["predicted"]["yes"],
        "threshold": 0.8,
    }
    assert summary["vs_majority"]["p_value"] < 1e-6 and summary["vs_majority"]["acc_delta"] > 0.19
    words = describe(summary)
    assert not words.startswith("COLLAPSE") and "better than the majority class 'yes'" in words
    assert "no better" not in words
    low, high = summary["macro_f1_ci95"]
    assert low < summary["macro_f1"] < high and high - low < 0.2


def test_a_faithful_model_on_a_skewed_set_is_not_a_collapse():
    gold = [0] * 85 + [1] * 15  # 85% yes: a perfect model predicts "yes" 85% of the time
    summary = label_summary(gold, gold, [("yes", "no")] * 100)
    assert not summary["collapse"]["flag"] and summary["macro_f1"] == 1.0


def test_macro_f1_below_the_majority_class_is_flagged_without_a_dominant_answer():
    # Labels cycled past the gold one: every answer wrong, none over 80% of predictions.
    summary = pubmedqa_like([(g + 1) % 3 for g in GOLD])
    assert summary["collapse"]["reasons"] == [REASON_MACRO_F1]
    assert describe(summary).startswith("COLLAPSE: macro-F1 0.00")
    assert "no better than the majority class 'yes' (acc 0.000 vs 0.552" in describe(summary)


def test_a_model_significantly_below_the_majority_is_said_to_be_less_accurate():
    # Spread predictions (no collapse) but 40% correct against the majority class's 55%.
    predicted = [0] * 100 + [1] * 176 + [1] * 100 + [0] * 69 + [1] * 55
    summary = pubmedqa_like(predicted)
    assert not summary["collapse"]["flag"]
    assert summary["vs_majority"]["acc_delta"] < 0 and summary["vs_majority"]["p_value"] < 0.05
    assert "less accurate than the majority class 'yes'" in describe(summary)


def test_majority_and_chance_are_exact_on_a_hand_made_set():
    # Options differ per item, so labels are letters; items have 4, 4, 5 and 2 options.
    options = [("a", "b", "c", "d"), ("e", "f", "g", "h"), ("i", "j", "k", "l", "m"), ("n", "o")]
    summary = label_summary([1, 1, 0, 1], [1, 2, 0, 0], options)
    assert summary["majority"]["label"] == "B" and summary["majority"]["acc"] == 0.75
    assert summary["chance"]["acc"] == pytest.approx((1 / 4 + 1 / 4 + 1 / 5 + 1 / 2) / 4)
    assert summary["predicted"] == {"A": 0.5, "B": 0.25, "C": 0.25, "D": 0.0, "E": 0.0}
    assert summary["gold"] == {"A": 0.25, "B": 0.75, "C": 0.0, "D": 0.0, "E": 0.0}
    # F1 = 2TP / (2TP + FP + FN) per label: A 2/3, B 1/2, C 0, D 0, E 0 (absent and never predicted: 0).
    assert summary["macro_f1"] == pytest.approx((2 / 3 + 1 / 2) / 5)
    assert summary["majority"]["macro_f1"] == pytest.approx((2 * 3 / (2 * 3 + 1)) / 5)


def test_shared_options_in_any_order_are_labelled_by_their_text():
    labels, universe = item_labels([("yes", "no"), (" No", "Yes")])
    assert labels == [["yes", "no"], ["no", "yes"]] and universe == ["yes", "no"]
    summary = label_summary([0, 1], [0, 1], [("yes", "no"), ("no", "yes")])  # gold "yes" twice
    assert summary["majority"]["label"] == "yes" and summary["predicted"] == {"yes": 1.0, "no": 0.0}


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="same items"):
        label_summary([0, 1], [0], [YES_NO_MAYBE] * 2)


def test_paired_results_compare_with_the_majority_class_with_or_without_a_before_score():
    after = pubmedqa_like([0] * 500)
    correct = [g == 0 for g in GOLD]
    paired = paired_results({"test": correct}, {"test": correct, "control": correct}, {"test": after, "control": after})
    assert paired["test"]["p_value"] == 1.0 and paired["test"]["vs_majority"] == after["vs_majority"]
    assert paired["control"] == {"vs_majority": after["vs_majority"]}  # no before score: only the baseline test


def test_results_md_marks_a_collapsed_benchmark_and_says_it():
    base = {
        "task": "multiple_choice",
        "split": "test",
        "prompt_style": "plain",
        "shots": 0,
        "wall_s": 1.0,
        "n": 500,
        "acc": 0.552,
        "acc_ci95": [0.51, 0.59],
        "acc_norm": 0.55,
        "ece": 0.1,
    }
    collapsed = {**base, **pubmedqa_like([0] * 500)}
    good = {**base, **pubmedqa_like(list(GOLD))}
    table = markdown_tables({"model": {"label": "m"}, "benchmarks": {"pubmedqa": collapsed, "medqa": good}})
    assert f"| pubmedqa{COLLAPSE_MARK} |" in table and "| medqa |" in table
    assert "| 55.2 | 33.3 | 23.7 [" in table  # majority, chance, macro-F1 [CI]
    assert "yes 100 / no 0 / maybe 0" in table and f"**yes**{COLLAPSE_MARK}" in table
    assert f"- pubmedqa{COLLAPSE_MARK}: COLLAPSE: predicts 'yes' for 100% of questions" in table
    assert "- medqa: macro-F1 1.00" in table


def write_job(sweep, name: str, seed: int, eval_after: dict):
    folder = sweep / name
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"seed": seed}))
    atomic_write_json(
        folder / "job.json", {"status": "finished", "overrides": [f"peft_method.r={name[1]}", f"seed={seed}"]}
    )
    atomic_write_json(folder / "metrics.json", {"eval_after": eval_after, "train": {"wall_s": 1.0}})


def test_sweep_table_marks_collapsed_rows_and_shows_the_baseline(tmp_path):
    sweep = tmp_path / "sweep"

    def result(predicted):
        return {
            "test": {
                "n": 500,
                "acc": sum(p == g for p, g in zip(predicted, GOLD)) / 500,
                "acc_ci95": [0.5, 0.6],
                **pubmedqa_like(predicted),
            }
        }

    write_job(sweep, "r4s1", 1, result([0] * 500))  # r=4: both seeds answer "yes" to everything
    write_job(sweep, "r4s2", 2, result([0] * 500))
    write_job(sweep, "r8s1", 1, result(list(GOLD)))  # r=8: one seed learned the task, one collapsed
    write_job(sweep, "r8s2", 2, result([0] * 500))
    atomic_write_json(
        sweep / "sweep.json",
        {
            "swept": ["peft_method.r", "seed"],
            "jobs": [
                {"name": n, "overrides": [f"peft_method.r={n[1]}", f"seed={n[3]}"]}
                for n in ("r4s1", "r4s2", "r8s1", "r8s2")
            ],
        },
    )
    table = build_table(*collect([sweep]))
    markdown = to_markdown(table)
    rows = {line.split("|")[1].strip(): line for line in markdown.splitlines() if line.startswith("| ")}
    assert {"test acc (%)", "test macro-F1 (%)", "test majority class (%)"} <= {c.label for c in table.columns}
    assert f"| 55.2 ± 0.0 [55.2, 55.2]{COLLAPSE_MARK} | 23.7 ± 0.0 [23.7, 23.7] | 55.2 ± 0.0 |" in rows["4"]
    assert f"]{COLLAPSE_MARK} (1 of 2 seeds)** |" in rows["8"]  # bold: the best mean, yet marked
    assert rows["8"].endswith("| 55.2 ± 0.0 | 1 ± 0 |")  # the majority class: the same items, the same baseline
    assert markdown.count("COLLAPSE: predicts 'yes' for 100% of questions") == 3  # one line per collapsed run
    assert "`r8s1`" not in markdown
    assert r"$^\ddagger$" in to_latex(table)
    assert "test_acc:2" in to_csv(table) and "test_acc:1" in to_csv(table)


def test_a_tiny_training_run_writes_the_baselines_and_says_them(tiny_cfg, tmp_path, caplog):
    from medft.recipes.train import run

    with caplog.at_level(logging.INFO, logger="medft.recipes.train"):
        metrics = run(tiny_cfg(), tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    for phase in ("eval_before", "eval_after"):
        test = saved[phase]["test"]
        assert {
            "n",
            "acc",
            "acc_ci95",
            "macro_f1",
            "macro_f1_ci95",
            "majority",
            "chance",
            "predicted",
            "collapse",
            "vs_majority",
        } <= set(test)
        assert test["macro_f1_ci95"][0] <= test["macro_f1"] <= test["macro_f1_ci95"][1]
        assert sum(test["predicted"].values()) == pytest.approx(1.0)
        assert isinstance(test["collapse"]["flag"], bool)
    assert saved["paired"]["test"]["vs_majority"]["n"] == saved["eval_after"]["test"]["n"]
    assert "p_value" in saved["paired"]["test"]  # the before/after test is still there
    finished = [r.getMessage() for r in caplog.records if r.name == "medft.recipes.train"]
    closing = next(line for line in finished if line.startswith("Finished."))
    header, test_row = closing.splitlines()[1], next(r for r in closing.splitlines() if r.startswith("test "))
    assert header.endswith("vs majority class")
    assert (
        test_row.endswith(verdict_cell(metrics["eval_after"]["test"]))
        and verdict_cell(saved["eval_after"]["test"]) != "-"
    )
    # Only a collapsed set is said again in full where the run ends.
    said_again = [line for line in finished if line.startswith("after ") and "majority class" in line]
    assert said_again == describe_sets("after", metrics["eval_after"], only_collapsed=True)


def test_the_closing_lines_mark_a_collapsed_set_and_say_it_in_full(caplog):
    from medft.run.run_summary import run_summary

    collapsed, spread = pubmedqa_like([0] * 500), pubmedqa_like([0] * 100 + [1] * 176 + [1] * 100 + [0] * 69 + [1] * 55)
    metrics = {"eval_after": {"test": {**collapsed, "acc": 0.552}, "control": {**spread, "acc": 0.4}}}
    table = run_summary(metrics, Path("run")).splitlines()
    assert next(r for r in table if r.startswith("test ")).endswith("COLLAPSE, no better")
    assert next(r for r in table if r.startswith("control ")).endswith("less accurate")
    said = describe_sets("after", metrics["eval_after"], only_collapsed=True)
    assert len(said) == 1 and said[0].startswith("after test: COLLAPSE: predicts 'yes' for 100%")
