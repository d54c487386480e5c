"""The builtin dataset generator: sizes, no leakage across splits, valid and balanced options."""

from __future__ import annotations

from collections import Counter

import pytest

from medft.data.builtin import SPLITS, build_builtin_splits, load_facts, load_templates


@pytest.fixture(scope="module")
def splits():
    return build_builtin_splits(control_fraction=0.12, seed=0)


def test_fact_table_is_large_and_categorised():
    facts = load_facts()
    assert len(facts) >= 300
    per_category = Counter(f.category for f in facts)
    assert len(per_category) >= 10 and min(per_category.values()) >= 20
    assert all(f.reference for f in facts)
    templates = load_templates()
    for category in per_category:
        parts = templates[category]
        assert len(set(parts["train"]) | set(parts["validation"]) | set(parts["test"])) == len(parts["train"]) + len(
            parts["validation"]
        ) + len(parts["test"])


def test_all_splits_present(splits):
    assert set(splits) == set(SPLITS)
    assert all(splits[name] for name in SPLITS)


def test_answer_is_always_among_the_options(splits):
    for name in SPLITS:
        for record in splits[name]:
            if record.is_multiple_choice:
                assert len(record.options) == 4 and len(set(record.options)) == 4
                assert record.options[record.answer_index] == record.answer


def test_distractors_come_from_the_same_category(splits):
    facts = load_facts()
    answers = {}
    for fact in facts:
        answers.setdefault(fact.category, set()).add(fact.answer)
    for record in splits["test"]:
        assert set(record.options) <= answers[record.metadata["category"]]


def test_no_question_appears_in_two_splits(splits):
    seen = {}
    for name in SPLITS:
        questions = {r.question for r in splits[name]}
        for other, other_questions in seen.items():
            assert not questions & other_questions, f"{name} and {other} share questions"
        seen[name] = questions


def test_held_out_splits_use_held_out_templates_and_control_facts_are_never_trained(splits):
    train_templates = {r.metadata["template"] for r in splits["train"]}
    for name in ("validation", "test", "control"):
        assert not {r.metadata["template"] for r in splits[name]} & train_templates
    trained_subjects = {(r.metadata["category"], r.metadata["subject"]) for r in splits["train"]}
    control_subjects = {(r.metadata["category"], r.metadata["subject"]) for r in splits["control"]}
    assert control_subjects and not control_subjects & trained_subjects
    test_subjects = {(r.metadata["category"], r.metadata["subject"]) for r in splits["test"]}
    assert test_subjects == trained_subjects  # the test asks exactly the trained facts


def test_correct_letter_is_balanced(splits):
    for name in ("train", "validation", "test", "control"):
        counts = Counter(r.answer_index for r in splits[name] if r.is_multiple_choice)
        assert set(counts) == {0, 1, 2, 3}
        assert max(counts.values()) - min(counts.values()) <= 1, (name, counts)


def test_free_text_pairs_only_in_train(splits):
    assert any(not r.is_multiple_choice for r in splits["train"])
    for name in ("validation", "test", "control"):
        assert all(r.is_multiple_choice for r in splits[name])
    assert all(r.is_multiple_choice for r in build_builtin_splits(train_formats=("mc",))["train"])
    assert not any(r.is_multiple_choice for r in build_builtin_splits(train_formats=("qa",))["train"])


def test_deterministic_given_the_seed_and_different_across_seeds(splits):
    again = build_builtin_splits(control_fraction=0.12, seed=0)
    assert [(r.question, r.options) for r in again["test"]] == [(r.question, r.options) for r in splits["test"]]
    other = build_builtin_splits(control_fraction=0.12, seed=1)
    assert {r.metadata["subject"] for r in other["control"]} != {r.metadata["subject"] for r in splits["control"]}
