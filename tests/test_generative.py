"""Generative scoring: text metrics against hand-computed values; batched greedy generation
against one-prompt-at-a-time generation on a tiny random model (left padding must not matter)."""

from __future__ import annotations

import random

import pytest
import torch
from conftest import tiny_llama

from medft.evaluation import generative as gen

SENTENCE = "Iron deficiency anaemia is treated with oral iron supplements for three months."


# --------------------------------------------------------------------------- text metrics


def test_identical_strings_score_perfectly():
    texts = [SENTENCE, "Aspirin reduces fever and pain in most adults.", "Wash hands often with soap."]
    metrics = gen.text_metrics(texts, texts)
    assert metrics["n"] == 3
    for key in ("rouge_l", "token_f1", "exact_match"):
        assert metrics[key] == pytest.approx(1.0)
        assert metrics[f"{key}_ci95"] == pytest.approx([1.0, 1.0])
    assert metrics["bleu"] == pytest.approx(100.0)
    assert metrics["bleu_ci95"] == pytest.approx([100.0, 100.0])
    assert metrics["bleu_signature"].startswith("nrefs:1|")
    assert metrics["mean_prediction_words"] == pytest.approx((12 + 8 + 5) / 3)


def test_token_f1_by_hand():
    # "the" is dropped: prediction {heart, pumps, blood} all in the reference -> P = 3/3,
    # reference {heart, pumps, oxygenated, blood} -> R = 3/4, F1 = 2PR/(P+R) = 6/7.
    assert gen.token_f1("the heart pumps blood", "heart pumps oxygenated blood") == pytest.approx(6 / 7)
    # Counts are clipped: "blood blood" matches one "blood" -> P = 1/2, R = 1/1, F1 = 2/3.
    assert gen.token_f1("blood blood", "Blood.") == pytest.approx(2 / 3)
    assert gen.token_f1("kidney", "liver") == 0.0
    assert gen.token_f1("", "") == 1.0 and gen.token_f1("the", "liver") == 0.0


def test_exact_match_normalisation():
    assert gen.normalize_answer("  The  Heart's   valves, an organ!") == "hearts valves organ"
    assert gen.exact_match("The Heart!", "heart") == 1.0
    assert gen.exact_match("an apple.", "APPLE") == 1.0
    assert gen.exact_match("heart", "hearts") == 0.0
    assert gen.exact_match("theory", "ory") == 0.0  # only whole-word articles go


def test_rouge_l_by_hand():
    # LCS("aspirin reduces fever and pain", "aspirin lowers fever and reduces pain") =
    # aspirin fever and pain = 4 words; P = 4/5, R = 4/6 -> F = 2*4/(5+6) = 8/11.
    metrics = gen.text_metrics(["aspirin reduces fever and pain"], ["aspirin lowers fever and reduces pain"])
    assert metrics["rouge_l"] == pytest.approx(8 / 11)
    # token F1 of the same pair: 5 of 5 predicted words in the reference, 5 of 6 recalled -> 10/11.
    assert metrics["token_f1"] == pytest.approx(10 / 11)
    assert metrics["exact_match"] == 0.0


def test_bleu_matches_sacrebleu_and_its_interval_brackets_it():
    import sacrebleu

    rng = random.Random(0)
    words = "the patient has fever cough pain and fatigue after treatment with rest fluids".split()
    refs = [" ".join(rng.choices(words, k=12)) for _ in range(40)]
    preds = [" ".join(r.split()[:8] + rng.choices(words, k=3)) for r in refs]
    metrics = gen.text_metrics(preds, refs)
    expected = sacrebleu.corpus_bleu(preds, [refs])
    assert metrics["bleu"] == pytest.approx(expected.score)
    low, high = metrics["bleu_ci95"]
    assert low < metrics["bleu"] < high
    # The statistics shortcut equals corpus BLEU recomputed on an explicit resample.
    import numpy as np
    from sacrebleu.metrics import BLEU

    bleu = BLEU()
    stats = np.asarray(bleu._extract_corpus_statistics(preds, [refs]))
    idx = [rng.randrange(len(preds)) for _ in preds]
    direct = sacrebleu.corpus_bleu([preds[i] for i in idx], [[refs[i] for i in idx]]).score
    assert bleu._compute_score_from_stats(stats[idx].sum(axis=0)).score == pytest.approx(direct)


def test_empty_and_mismatched_inputs():
    metrics = gen.text_metrics([], [])
    assert metrics["n"] == 0
    assert all(metrics[key] is None for key in gen.METRIC_KEYS if key != "n")
    with pytest.raises(ValueError):
        gen.text_metrics(["a"], [])


# --------------------------------------------------------------------------- generation


@pytest.fixture(scope="module")
def tiny():
    model, tokenizer = tiny_llama()
    # At the default init (std 0.02) every prompt continues with the same token; larger random
    # weights make the continuation depend on the prompt, so order and padding errors show.
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for weight in model.parameters():
            if weight.dim() == 2:
                weight.copy_(torch.randn(weight.shape, generator=generator) * 0.5)
    return model, tokenizer


def _prompts(tokenizer):
    questions = [
        "Hi?",
        "What causes scurvy?",
        "A patient presents with fever, a stiff neck and photophobia. What is the most likely diagnosis?",
        "Dose?",
        "What is the first-line treatment for uncomplicated hypertension in adults?",
    ]
    return [
        tokenizer.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True, tokenize=False)
        for q in questions
    ]


def test_batched_equals_one_at_a_time_and_keeps_order(tiny):
    model, tokenizer = tiny
    prompts = _prompts(tokenizer)
    lengths = {len(gen.encode_prompt(tokenizer, p)) for p in prompts}
    assert len(lengths) == len(prompts)  # different lengths: the batch really is padded
    single = [gen.generate_answers(model, tokenizer, [p], max_new_tokens=12, batch_size=1)[0] for p in prompts]
    batched = gen.generate_answers(model, tokenizer, prompts, max_new_tokens=12, batch_size=3)
    assert batched == single
    everything = gen.generate_answers(model, tokenizer, prompts[::-1], max_new_tokens=12, batch_size=8)
    assert everything == single[::-1]
    assert len(set(single)) > 1  # the outputs differ, so an order mix-up would show


def record_new_lengths(model, monkeypatch) -> list[int]:
    """Wrap model.generate; the returned list fills with each call's count of new tokens."""
    new_lengths = []
    real_generate = model.generate

    def spy(*args, **kwargs):
        output = real_generate(*args, **kwargs)
        new_lengths.append(output.shape[1] - kwargs["input_ids"].shape[1])
        return output

    monkeypatch.setattr(model, "generate", spy)
    return new_lengths


def test_max_new_tokens_and_training_mode(tiny, monkeypatch):
    model, tokenizer = tiny
    new_lengths = record_new_lengths(model, monkeypatch)
    model.train()
    answers = gen.generate_answers(model, tokenizer, _prompts(tokenizer), max_new_tokens=5, batch_size=2)
    assert model.training
    assert len(answers) == 5 and new_lengths and max(new_lengths) <= 5
    # One byte-level token decodes to at most one character.
    assert all(len(answer) <= 5 for answer in answers)
    model.eval()
    gen.generate_answers(model, tokenizer, _prompts(tokenizer)[:1], max_new_tokens=2, batch_size=1)
    assert not model.training
    assert gen.generate_answers(model, tokenizer, [], max_new_tokens=2, batch_size=1) == []


def test_stop_tokens_and_bos_handling(tiny):
    model, tokenizer = tiny
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert im_end in gen.stop_token_ids(tokenizer, model)
    assert gen._cut_at_stop([5, 6, im_end, 7], {im_end}) == [5, 6]
    with_bos = tokenizer.bos_token + "hi"
    ids = gen.encode_prompt(tokenizer, with_bos)
    assert ids.count(tokenizer.bos_token_id) == 1 and ids[0] == tokenizer.bos_token_id


def test_generation_stops_at_end_of_turn_token(tiny, monkeypatch):
    """A tokenizer whose eos is a document end still stops at the template's <|im_end|>."""
    from medft.models.tiny import build_byte_tokenizer

    model, _ = tiny
    tokenizer = build_byte_tokenizer()
    tokenizer.eos_token = "<|endoftext|>"
    monkeypatch.setattr(model.generation_config, "eos_token_id", tokenizer.eos_token_id)
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert gen.stop_token_ids(tokenizer, model) == [tokenizer.eos_token_id, im_end]

    def favour_im_end(module, inputs, logits):  # the model now always predicts <|im_end|>
        logits = logits.clone()
        logits[..., im_end] += 1e4
        return logits

    new_lengths = record_new_lengths(model, monkeypatch)
    handle = model.get_output_embeddings().register_forward_hook(favour_im_end)
    try:
        answers = gen.generate_answers(model, tokenizer, _prompts(tokenizer)[:2], max_new_tokens=6, batch_size=2)
    finally:
        handle.remove()
    assert answers == ["", ""] and new_lengths == [1]
