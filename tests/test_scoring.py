"""The scorer against a naive reference: cached cloze scoring and letter scoring must equal
log-probabilities computed one unpadded sequence at a time; prompts mask what they should."""

from __future__ import annotations

import pytest
import torch
from conftest import tiny_llama

from medft import prompts
from medft.data.records import Record
from medft.evaluation import multiple_choice as mc

RECORDS = [
    Record(
        question="Scurvy is caused by a lack of which nutrient?",
        answer="vitamin C",
        options=("vitamin A", "vitamin C", "iron", "vitamin B12 (cobalamin)"),
        answer_index=1,
    ),
    Record(
        question="Antidote for opioids?",
        answer="naloxone",
        options=("naloxone", "flumazenil", "atropine"),
        answer_index=0,
    ),
    Record(
        question="Koplik spots indicate?",
        answer="measles",
        context="A child has a rash.",
        options=("rubella", "measles", "scarlet fever", "roseola"),
        answer_index=1,
    ),
]


class NoProgress:
    def update(self, n):
        pass


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    model, tokenizer = tiny_llama()
    return model.eval(), tokenizer


def naive_logprob(model, prompt_ids, continuation_ids):
    ids = torch.tensor([prompt_ids + continuation_ids])
    with torch.no_grad():
        logprobs = torch.log_softmax(model(ids).logits[0].float(), dim=-1)
    return sum(float(logprobs[len(prompt_ids) - 1 + j, t]) for j, t in enumerate(continuation_ids))


def cloze_reference(tokenizer, record):
    return prompts.cloze_prompt_and_options(tokenizer, record, None)


def letter_reference(tokenizer, record):
    prompt, _ = prompts.render(tokenizer, record, None)
    return prompt, list("ABCD"[: len(record.options)])


@pytest.mark.parametrize("formulation,reference", [("cloze", cloze_reference), ("letter", letter_reference)])
def test_batched_scores_equal_unbatched_reference(tiny, formulation, reference):
    """Cloze reuses a KV cache across options and both pad batches: neither may change a score."""
    from medft.evaluation.loglikelihood import continuation_logprobs

    model, tokenizer = tiny
    requests = mc.scoring_requests(tokenizer, RECORDS, None, 512, formulation)
    scores = continuation_logprobs(model, requests, tokenizer.pad_token_id, 2, NoProgress())
    for record, row in zip(RECORDS, scores):
        prompt, continuations = reference(tokenizer, record)
        prompt_ids = tokenizer(prompt, add_special_tokens=False).input_ids
        expected = [
            naive_logprob(model, prompt_ids, tokenizer(c, add_special_tokens=False).input_ids) for c in continuations
        ]
        assert row == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize("formulation", ["cloze", "letter"])
def test_predictions_follow_the_highest_score(tiny, formulation):
    model, tokenizer = tiny
    for scored, record in zip(mc.score_multiple_choice(model, tokenizer, RECORDS, None, 512, 4, formulation), RECORDS):
        assert scored.logprobs[scored.predicted] == max(scored.logprobs)
        assert scored.correct == (scored.predicted == record.answer_index)


def test_training_encoding_masks_the_prompt_and_keeps_the_answer(tiny):
    _, tokenizer = tiny
    record = Record(question="What treats anaphylaxis?", answer="epinephrine")
    prompt, completion = prompts.render(tokenizer, record, "Be brief.")
    assert prompt.endswith("<|im_start|>assistant\n") and completion.startswith("epinephrine")
    encoded = prompts.encode(tokenizer, prompt, completion, 512)
    n_prompt = len(tokenizer(prompt, add_special_tokens=False).input_ids)
    assert encoded.completion_mask == [0] * n_prompt + [1] * (len(encoded.input_ids) - n_prompt)
    assert tokenizer.decode([t for t, m in zip(encoded.input_ids, encoded.completion_mask) if m]).startswith(
        "epinephrine"
    )
    n_answer = sum(encoded.completion_mask)
    short = prompts.encode(tokenizer, prompt, completion, n_answer + 5)
    assert short.truncated and len(short.input_ids) == n_answer + 5
    assert short.input_ids[-n_answer:] == encoded.input_ids[-n_answer:] and sum(short.completion_mask) == n_answer


def test_cloze_prompt_is_the_training_prompt_of_the_same_question(tiny):
    _, tokenizer = tiny
    record = RECORDS[0]
    cloze_prompt, options = prompts.cloze_prompt_and_options(tokenizer, record, None)
    free_text = Record(question=record.question, answer=record.answer)
    train_prompt, train_completion = prompts.render(tokenizer, free_text, None)
    assert cloze_prompt == train_prompt and train_completion.startswith(options[record.answer_index])


def test_templates_without_a_system_role_fold_it_into_the_user_turn():
    class NoSystem:
        def apply_chat_template(self, messages, tokenize, add_generation_prompt):
            from jinja2.exceptions import TemplateError

            if messages[0]["role"] == "system":
                raise TemplateError("System role not supported")
            text = "".join(f"[{m['role']}]{m['content']}" for m in messages)
            return text + ("[assistant]" if add_generation_prompt else "")

    prompt, completion = prompts.render(NoSystem(), Record(question="Q?", answer="A"), "SYS")
    assert prompt == "[user]SYS\n\nQ?[assistant]" and completion == "A"


def test_gemma_template_folds_the_system_text_and_masks_cleanly():
    from medft.models.tiny import build_byte_tokenizer

    tokenizer = build_byte_tokenizer()
    tokenizer.chat_template = prompts.GEMMA_TEMPLATE
    prompt, completion = prompts.render(tokenizer, Record(question="Q?", answer="A"), "SYS")
    assert prompt == "<|endoftext|><start_of_turn>user\nSYS\n\nQ?<end_of_turn>\n<start_of_turn>model\n"
    assert completion == "A<end_of_turn>\n"


def test_one_token_choices_on_long_contexts_score_as_the_masked_path(tiny):
    """Letter choices after long, unequal contexts (MedQA-style): the right-padded unmasked pass gives the
    scores of the left-padded masked one and of one unpadded sequence at a time, to 1e-5 in fp32."""
    import random

    from medft.evaluation.loglikelihood import Request, _shared_context_passes, continuation_logprobs

    model, tokenizer = tiny
    rnd = random.Random(0)
    letters = [tokenizer(f" {x}", add_special_tokens=False).input_ids[-1] for x in "ABCD"]
    requests = [Request([rnd.randrange(3, 300) for _ in range(n)], [[t] for t in letters]) for n in (600, 150, 420, 37)]
    fast = continuation_logprobs(model, requests, tokenizer.pad_token_id, batch_size=4)
    with torch.no_grad():
        masked = _shared_context_passes(model, requests, tokenizer.pad_token_id, "cpu", causal_padding=False)
    assert torch.tensor(fast).flatten() == pytest.approx(masked.tolist(), abs=1e-5)
    for request, row in zip(requests, fast):
        expected = [naive_logprob(model, request.context, c) for c in request.continuations]
        assert row == pytest.approx(expected, abs=1e-5)
