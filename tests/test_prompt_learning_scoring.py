"""Prompt-learning adapters change the model's input, so the scorer takes another path for them
(medft/evaluation/loglikelihood.py): batched, padded scores must still equal an unbatched,
unpadded forward of the peft model over context + continuation."""

from __future__ import annotations

import pytest
import torch
from conftest import tiny_llama
from test_scoring import RECORDS, NoProgress

from medft.config.compose import compose_train
from medft.evaluation import multiple_choice as mc
from medft.evaluation.loglikelihood import continuation_logprobs, virtual_positions

METHODS = ["prompt_tuning", "prefix_tuning", "p_tuning"]


def reference_logprob(model, context, continuation):
    """One sequence, no padding, no mask: the peft model's own forward, read at the real tokens' logits."""
    ids = torch.tensor([context + continuation])
    with torch.no_grad():
        logits = model(ids).logits[0]
    logits = logits[logits.shape[0] - ids.shape[1] :]  # prompt tuning / p-tuning return the virtual positions first
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    return sum(float(logprobs[len(context) - 1 + j, t]) for j, t in enumerate(continuation))


def prompt_learning_model(method):
    from peft import get_peft_model

    from medft import builders

    cfg = compose_train(["model=tiny-random", f"peft_method={method}", "peft_method.num_virtual_tokens=7"])
    base, tokenizer = tiny_llama()
    torch.manual_seed(1)
    model = get_peft_model(base, builders.peft_config(cfg.peft_method, cfg.model))
    return model.eval(), tokenizer


@pytest.mark.parametrize("formulation", ["cloze", "letter"])
@pytest.mark.parametrize("method", METHODS)
def test_batched_scores_of_prompt_learning_models_equal_the_unpadded_reference(method, formulation):
    model, tokenizer = prompt_learning_model(method)
    requests = mc.scoring_requests(tokenizer, RECORDS, None, 512, formulation)
    scores = continuation_logprobs(model, requests, tokenizer.pad_token_id, 2, NoProgress())  # padded batches
    with model.disable_adapter():
        base_scores = continuation_logprobs(model, requests, tokenizer.pad_token_id, 2, NoProgress())
    for request, row, base_row in zip(requests, scores, base_scores):
        expected = [reference_logprob(model, request.context, c) for c in request.continuations]
        assert row == pytest.approx(expected, abs=1e-4)
        # The virtual tokens are not a no-op: without them the same options score differently.
        assert max(abs(a - b) for a, b in zip(row, base_row)) > 1e-2


def test_only_prompt_learning_models_take_the_full_sequence_path():
    model, _ = prompt_learning_model("prompt_tuning")
    assert virtual_positions(model) == 7  # the logits carry the 7 virtual positions first
    assert virtual_positions(prompt_learning_model("prefix_tuning")[0]) == 0  # its prefix lives in the cache
    assert virtual_positions(tiny_llama()[0]) is None


@pytest.mark.parametrize("method", METHODS)
def test_batched_generation_of_prompt_learning_models_equals_one_at_a_time(method):
    """Generated answers (MedQuAD) go through peft's generate with left padding: batching must not change them."""
    from medft.evaluation.generative import generate_answers

    model, tokenizer = prompt_learning_model(method)
    prompts = ["What causes scurvy?", "Name the antidote for an opioid overdose, in one word.", "Koplik spots?"]
    batched = generate_answers(model, tokenizer, prompts, max_new_tokens=8, batch_size=3)
    assert batched == [generate_answers(model, tokenizer, [p], max_new_tokens=8, batch_size=1)[0] for p in prompts]
