"""Benchmark scoring as lm-evaluation-harness does it: pinned prompt strings, the harness's
tokenization of (context, continuation), log-likelihoods against hand computation, metrics."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import tiny_llama

from medft.data.records import Record
from medft.evaluation import choice_metrics
from medft.evaluation.harness_scoring import encode_pair, fewshot_examples, score_harness
from medft.prompts import harness_strings as harness

PUBMED = Record(
    question="Does aspirin reduce fever?",
    answer="yes",
    options=("yes", "no", "maybe"),
    answer_index=0,
    context="Aspirin was given.\nFever fell in 9 of 10.",
)
MCQ = Record(
    question="Which vitamin prevents scurvy?",
    answer="C",
    options=("A", "C", "D", "K"),
    answer_index=1,
    metadata={"subject": "college_medicine"},
)


def test_prompt_strings_are_the_harness_task_strings():
    """Typed from lm-eval 0.4.13's task files; any drift changes every published comparison."""
    assert harness.context(PUBMED, "pubmedqa") == (
        "Abstract: Aspirin was given.\nFever fell in 9 of 10.\nQuestion: Does aspirin reduce fever?\nAnswer:"
    )
    assert harness.context(MCQ, "medqa") == (
        "Question: Which vitamin prevents scurvy?\nA. A\nB. C\nC. D\nD. K\nAnswer:"
    )
    assert harness.context(MCQ, "medmcqa") == (
        "Question: Which vitamin prevents scurvy?\nChoices:\nA. A\nB. C\nC. D\nD. K\nAnswer:"
    )
    assert harness.context(MCQ, "mmlu") == (
        "The following are multiple choice questions (with answers) about college medicine.\n\n"
        "Which vitamin prevents scurvy?\nA. A\nB. C\nC. D\nD. K\nAnswer:"
    )
    assert harness.choices(PUBMED, "pubmedqa") == ["yes", "no", "maybe"]
    assert harness.choices(MCQ, "medmcqa") == ["A", "B", "C", "D"]


def test_fewshot_context_joins_solved_examples_as_the_harness_does():
    shot = Record(
        question="Which vitamin is fat-soluble?",
        answer="K",
        options=("B1", "C", "B12", "K"),
        answer_index=3,
        metadata={"subject": "college_medicine"},
    )
    text = harness.context(MCQ, "mmlu", [shot])
    assert text == (
        "The following are multiple choice questions (with answers) about college medicine.\n\n"
        "Which vitamin is fat-soluble?\nA. B1\nB. C\nC. B12\nD. K\nAnswer: D\n\n"
        "Which vitamin prevents scurvy?\nA. A\nB. C\nC. D\nD. K\nAnswer:"
    )


def test_fewshot_sampling_is_seeded_and_never_shows_an_item_its_own_answer():
    pool = [Record(question=f"q{i}", answer="yes", options=("yes", "no"), answer_index=0) for i in range(6)]
    first = fewshot_examples(pool, [], 2, "random", seed=1234)
    assert first == fewshot_examples(pool, [], 2, "random", seed=1234)
    assert all(len(s) == 2 and item not in s for item, s in zip(pool, first))
    limited = fewshot_examples(pool[:2], pool, 3, "random")  # benchmark.limit: drawn from all, never itself
    assert all(len(s) == 3 and item not in s for item, s in zip(pool[:2], limited))
    other = fewshot_examples(pool, [], 2, "random", seed=7)
    assert other != first
    dev = [
        Record(
            question=f"d{i}",
            answer="a",
            options=("a", "b"),
            answer_index=0,
            metadata={"subject": "anatomy" if i % 2 else "virology"},
        )
        for i in range(6)
    ]
    item = Record(question="x", answer="a", options=("a", "b"), answer_index=0, metadata={"subject": "anatomy"})
    assert [r.question for r in fewshot_examples([item], dev, 2, "first_n")[0]] == ["d1", "d3"]
    with pytest.raises(ValueError, match="too few"):
        fewshot_examples(pool[:2], [], 2, "random")


def test_encode_pair_moves_trailing_spaces_and_splits_the_whole_encoding(byte_tokenizer):
    context, continuation = encode_pair(byte_tokenizer, "Answer: ", "yes")
    assert byte_tokenizer.decode(context) == "Answer:"
    assert byte_tokenizer.decode(continuation) == " yes"


@pytest.fixture(scope="module")
def byte_tokenizer():
    from medft.models.tiny import build_byte_tokenizer

    return build_byte_tokenizer()


@pytest.fixture(scope="module")
def tiny_model():
    model, tokenizer = tiny_llama(tie_word_embeddings=False)
    return model.eval(), tokenizer


def test_log_likelihood_of_a_uniform_model_is_minus_n_log_vocab(tiny_model):
    """Hand computation: with a zero output layer every token has probability 1/V, so a
    continuation of n tokens scores -n log V. " yes" is 4 byte tokens, " maybe" 6."""
    model, tokenizer = tiny_model
    saved = model.lm_head.weight.detach().clone()
    try:
        with torch.no_grad():
            model.lm_head.weight.zero_()
        scores, texts = score_harness(model, tokenizer, [PUBMED], "pubmedqa", [[]], 512, 4)
    finally:
        with torch.no_grad():
            model.lm_head.weight.copy_(saved)
    vocab = model.config.vocab_size
    assert texts == [["yes", "no", "maybe"]]
    assert scores[0] == pytest.approx([-4 * math.log(vocab), -3 * math.log(vocab), -6 * math.log(vocab)], rel=1e-5)


def test_scores_equal_a_plain_forward_over_context_and_continuation(tiny_model):
    """The harness's computation, one unpadded sequence at a time, against the batched engine."""
    model, tokenizer = tiny_model
    records = [
        PUBMED,
        Record(
            question="Is the sky green?",
            answer="no",
            options=("yes", "no", "maybe"),
            answer_index=1,
            context="A short one.",
        ),
    ]
    scores, _ = score_harness(model, tokenizer, records, "pubmedqa", [[], []], 512, 2)
    for record, row in zip(records, scores):
        context = harness.context(record, "pubmedqa")
        expected = []
        for choice in record.options:
            ctx, cont = encode_pair(tokenizer, context, " " + choice)
            with torch.no_grad():
                logprobs = torch.log_softmax(model(torch.tensor([ctx + cont])).logits[0].float(), -1)
            expected.append(sum(float(logprobs[len(ctx) - 1 + j, t]) for j, t in enumerate(cont)))
        assert row == pytest.approx(expected, abs=1e-4)


def test_choice_metrics_by_hand():
    lls = [[-5.0, -2.0, -3.0], [-1.0, -2.0, -9.0], [-3.0, -1.0, -8.0], [-0.5, -3.0, -4.0]]
    texts = [["yes", "no", "maybe"]] * 4
    gold = [1, 0, 0, 0]
    result = choice_metrics.summarize(lls, gold, texts)
    assert result["n"] == 4
    # predictions (argmax) [1, 0, 1, 0] against gold [1, 0, 0, 0]: right, right, wrong, right
    assert result["acc"] == pytest.approx(0.75)
    # macro-F1 over labels yes/no/maybe: yes P=2/2 R=2/3 F=0.8; no P=1/2 R=1 F=2/3; maybe F=0
    assert result["macro_f1"] == pytest.approx((0.8 + 2 / 3 + 0) / 3)
    lo, hi = result["acc_ci95"]
    assert lo <= result["acc"] <= hi


def test_acc_norm_divides_by_characters_as_the_harness_does():
    lls = [[-6.0, -4.0]]
    assert choice_metrics.predictions(lls, [["yes", "a"]])[0] == [1]  # raw: "a"
    assert choice_metrics.predictions(lls, [["maybe!", "a"]])[1] == [0]  # -1/char beats -4/char
    assert choice_metrics.summarize(lls, [0], [["maybe!", "a"]])["acc_norm"] == 1.0


def test_expected_calibration_error_by_hand():
    # Two bins used: 0.95 (correct) and 0.55, 0.55 (one right, one wrong).
    ece = choice_metrics.expected_calibration_error([0.95, 0.55, 0.55], [True, True, False])
    assert ece == pytest.approx(1 / 3 * 0.05 + 2 / 3 * 0.05)
