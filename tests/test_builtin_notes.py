"""The clinical_note task's builtin data: every note has its own summary, and no test summary is
a copy or near copy of a training one (a per-diagnosis summary once gave ROUGE-L 1.000 by memory);
the contamination check compares the summaries themselves for this task."""

from __future__ import annotations

import pytest

# A test summary shares its diagnosis and plan with the two training summaries of that diagnosis
# (that is what a new case of a known disease looks like); the rest is the case's own facts. Under
# this bound sits every real test/train pair (the highest is 0.54); above it sits every training
# summary with one fact swapped for another case's (the lowest is 0.68, asserted below), i.e. a copy.
NEAR_COPY_ROUGE_L = 0.6
CASE_FACTS = ("patient", "complaint", "finding", "course")


@pytest.fixture(scope="module")
def splits():
    from medft.data.builtin_tasks import notes_splits

    return notes_splits()


def _rouge_l(a: str, b: str) -> float:
    from rouge_score import rouge_scorer  # the scorer the clinical_note task reports

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True).score(a, b)["rougeL"].fmeasure


def test_every_note_has_its_own_summary(splits):
    records = splits["train"] + splits["test"]
    assert len(splits["train"]) == 32 and len(splits["test"]) == 16
    assert len({r.answer for r in records}) == len(records) and len({r.context for r in records}) == len(records)


def test_no_test_summary_equals_or_nearly_equals_a_training_one(splits):
    train = [r.answer for r in splits["train"]]
    closest = {t.answer: max(_rouge_l(s, t.answer) for s in train) for t in splits["test"]}
    assert not set(closest) & set(train)
    near = {summary: round(score, 3) for summary, score in closest.items() if score >= NEAR_COPY_ROUGE_L}
    assert not near, f"test summaries within ROUGE-L {NEAR_COPY_ROUGE_L} of a training summary: {near}"


def test_the_bound_catches_a_summary_that_differs_in_one_fact():
    """The bound means something: a training summary with any one of its case facts replaced by the
    test case's still reads as a copy."""
    from medft.data.builtin_tasks import _note, _vignettes

    for row in _vignettes():
        trained, held_out = row["cases"][0], row["cases"][2]
        for fact in CASE_FACTS:
            edited = {**trained, fact: held_out[fact]}
            assert _rouge_l(_note(trained, row)[1], _note(edited, row)[1]) > NEAR_COPY_ROUGE_L, (row["diagnosis"], fact)


def test_summary_states_the_case_facts_found_in_its_note():
    from medft.data.builtin_tasks import _note, _vignettes

    for row in _vignettes():
        for case in row["cases"]:
            note, summary = _note(case, row)
            assert row["diagnosis"] in summary.lower() and row["treatment"] in summary
            for fact in CASE_FACTS:
                assert case[fact].lower() in summary.lower()
            assert case["course"] in note and row["treatment"] in note


def _contamination(compose, records_by_split, *overrides):
    from medft.data.prepare import check_contamination

    cfg = compose(["model=tiny-random", "task=clinical_note", "dataset.contamination.action=warn", *overrides])
    return check_contamination(cfg, records_by_split)[1]


def test_contamination_check_covers_summaries_for_clinical_notes(compose, splits):
    from medft.data.records import Record

    assert _contamination(compose, splits)["contaminated_train_records"] == 0  # the builtin data is clean
    # The old builtin data's flaw: a new note whose summary is a training summary word for word.
    test = [
        Record(question=r.question, context=f"Presentation: an unrelated case, number {i}.", answer=r.answer)
        for i, r in enumerate(splits["train"][:3])
    ]
    report = _contamination(compose, {**splits, "test": test})
    assert report["contaminated_train_records"] == 3 and report["against"]["test:answers"]["exact"] == 3
    assert report["against"]["test"]["contaminated"] == 0  # the notes alone did not show it
    off = _contamination(compose, {**splits, "test": test}, "task.answer_contamination=false")
    assert off["contaminated_train_records"] == 0 and "test:answers" not in off["against"]
