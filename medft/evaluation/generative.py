"""Free-text answers (MedQuAD-style QA): greedy generation and reference-based text metrics.

`generate_answers` decodes greedily in length-sorted, left-padded batches and returns only the
new text. `text_metrics` compares each prediction with its single reference:

rouge_l      ROUGE-L F-measure (Lin 2004; Google's `rouge_score`, Porter stemming): the longest
             common subsequence of words, as an F-score of its precision and recall. Order-aware
             but gap-tolerant, so it rewards reusing the reference's wording. Weakness on long
             medical answers: a long, fluent answer on the right topic shares a long subsequence
             of function words and generic terms ("the", "of", "symptoms", "treatment") with any
             long reference, so scores crowd into a narrow 0.1-0.3 band; a factual error (a wrong
             drug or dose) costs one word, the same as a harmless paraphrase.
bleu         Corpus BLEU (Papineni et al. 2002; `sacrebleu`, 0-100, its signature reported):
             n-gram precision up to 4-grams, pooled over the corpus, times a brevity penalty.
             Weaknesses: it is a corpus statistic (not a mean of per-item scores), exact n-gram
             matches miss synonyms and paraphrases, and MedQuAD references are long (often
             hundreds of words) while generation is capped at `max_new_tokens`, so the brevity
             penalty exp(1 - ref_len/pred_len) drives the score towards 0 whatever the quality:
             compare BLEU only between runs with the same cap.
token_f1     SQuAD token F1: bag-of-words overlap after normalisation (lower case, no punctuation,
             no articles a/an/the). Order-blind; on long answers recall is capped by the
             generation length and precision is inflated by common words.
exact_match  SQuAD exact match after the same normalisation. Meaningful for short factoid answers
             only: for paragraph-length medical answers it is ~0 for every model, so it tells
             nothing apart there; reported for completeness and for short-answer datasets.

Every per-item mean comes with a seeded percentile-bootstrap 95% interval
(`medft.evaluation.bootstrap`); BLEU's interval resamples (prediction, reference) pairs and
recomputes corpus BLEU on each resample, from sacrebleu's per-segment n-gram statistics, which
is exactly corpus BLEU of the resampled pairs without re-tokenising them (measured on 200
MedQuAD-length pairs, 1000 resamples: 0.25 s, against ~130 s calling `corpus_bleu` per resample).

Hugging Face's `evaluate` library is not used: it downloads each metric's script from the Hub
at load time, which fails offline (and this project never touches a hub). The SQuAD functions
are therefore written out here, following the official SQuAD v1.1 evaluation script.
"""

from __future__ import annotations

import re
import string
from collections import Counter

from medft.evaluation.bootstrap import bootstrap_ci, mean_ci
from medft.models.seq2seq import generated_ids, prompt_ids
from medft.runtime.progress import bars_on

# Chat-template end-of-turn tokens: generation also stops at these when the vocabulary has them
# (ChatML, Gemma, Llama 3, Phi-3), as the tokenizer's eos may be a different document-end token.
END_OF_TURN_TOKENS = ("<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|end|>")

METRIC_KEYS = (
    "n",
    "rouge_l",
    "rouge_l_ci95",
    "bleu",
    "bleu_ci95",
    "bleu_signature",
    "token_f1",
    "token_f1_ci95",
    "exact_match",
    "exact_match_ci95",
    "mean_prediction_words",
)


# --------------------------------------------------------------------------- generation


def stop_token_ids(tokenizer, model=None) -> list[int]:
    """The eos id(s) of the tokenizer and the model's generation config, plus end-of-turn tokens."""
    ids: list[int] = []

    def add(value):
        for token_id in value if isinstance(value, (list, tuple)) else [value]:
            if token_id is not None and int(token_id) not in ids:
                ids.append(int(token_id))

    add(tokenizer.eos_token_id)
    generation_config = getattr(model, "generation_config", None)
    if generation_config is not None:
        add(generation_config.eos_token_id)
    vocab = tokenizer.get_vocab()
    for token in END_OF_TURN_TOKENS:
        if token in vocab:
            add(vocab[token])
    return ids


def encode_prompt(tokenizer, prompt: str) -> list[int]:
    """Token ids of a rendered prompt; no second bos when the text already starts with it."""
    bos = tokenizer.bos_token
    add_special = not (bos and prompt.startswith(bos))
    if add_special:
        return list(tokenizer(prompt).input_ids)
    return list(tokenizer(prompt, add_special_tokens=False).input_ids)


def _left_pad(batch_ids: list[list[int]], pad_id: int):
    import torch

    width = max(len(ids) for ids in batch_ids)
    input_ids = torch.full((len(batch_ids), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(batch_ids), width), dtype=torch.long)
    for row, ids in enumerate(batch_ids):
        if ids:
            input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention[row, width - len(ids) :] = 1
    return input_ids, attention


def _cut_at_stop(ids: list[int], stop_ids: set[int]) -> list[int]:
    for position, token_id in enumerate(ids):
        if token_id in stop_ids:
            return ids[:position]
    return ids


def generate_answers(
    model, tokenizer, prompts: list[str], max_new_tokens: int, batch_size: int, desc: str = "generate"
) -> list[str]:
    """Greedy continuations of `prompts` (already chat-rendered), in the order given.

    Prompts are sorted by token length and left-padded in batches of `batch_size`; the attention
    mask tells `generate` where padding is, from which it also derives the real tokens' positions,
    so a batched answer equals the one decoded alone. Decoding stops at eos or an end-of-turn
    token; the returned text excludes the prompt and special tokens.
    """
    import torch
    from tqdm.auto import tqdm

    if max_new_tokens < 1 or batch_size < 1:
        raise ValueError(f"max_new_tokens ({max_new_tokens}) and batch_size ({batch_size}) must be >= 1")
    if not prompts:
        return []
    stops = stop_token_ids(tokenizer, model)
    if not stops:
        raise ValueError("the tokenizer has no eos token and the model no eos_token_id to stop at")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0]

    encoded = [prompt_ids(model, encode_prompt(tokenizer, prompt), tokenizer.eos_token_id) for prompt in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    answers: list[str | None] = [None] * len(prompts)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), tqdm(total=len(prompts), desc=desc, unit="prompt", disable=not bars_on()) as progress:
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                input_ids, attention = _left_pad([encoded[i] for i in chunk], pad_id)
                output = model.generate(
                    input_ids=input_ids.to(device),
                    attention_mask=attention.to(device),
                    do_sample=False,
                    num_beams=1,
                    max_new_tokens=max_new_tokens,
                    eos_token_id=stops,
                    pad_token_id=pad_id,
                    # Unset sampling knobs a checkpoint's generation_config may carry, so greedy
                    # decoding does not warn that they are ignored.
                    temperature=None,
                    top_p=None,
                    top_k=None,
                )
                new_tokens = generated_ids(model, output, input_ids.shape[1]).tolist()
                for row, i in enumerate(chunk):
                    ids = _cut_at_stop(new_tokens[row], set(stops))
                    answers[i] = tokenizer.decode(ids, skip_special_tokens=True)
                progress.update(len(chunk))
    finally:
        model.train(was_training)
    return [answer if answer is not None else "" for answer in answers]


# --------------------------------------------------------------------------- SQuAD v1.1
# normalize_answer, f1_score and exact_match_score follow the official SQuAD v1.1 evaluation
# script (evaluate-v1.1.py, Rajpurkar et al. 2016), rewritten here because `evaluate` cannot load
# it offline. One deliberate difference: when both sides normalise to no tokens, F1 is 1.0 (the
# SQuAD v2.0 script's rule) instead of v1.1's 0.

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation, drop articles a/an/the, collapse whitespace (SQuAD v1.1)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD token F1: harmonic mean of bag-of-words precision and recall after normalisation."""
    predicted = normalize_answer(prediction).split()
    gold = normalize_answer(reference).split()
    if not predicted or not gold:
        return float(predicted == gold)
    same = sum((Counter(predicted) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision = same / len(predicted)
    recall = same / len(gold)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(reference))


# --------------------------------------------------------------------------- metrics


def _bleu_with_ci(predictions: list[str], references: list[str]):
    """Corpus BLEU, its bootstrap interval over resampled pairs, and sacrebleu's signature."""
    import numpy as np
    from sacrebleu.metrics import BLEU

    bleu = BLEU()
    score = bleu.corpus_score(predictions, [references])
    # Per-segment sufficient statistics (lengths, n-gram matches and totals): corpus BLEU of any
    # resample is BLEU of the summed rows, which is how sacrebleu itself aggregates (and what its
    # own paired bootstrap does), so no resample is re-tokenised.
    stats = np.asarray(bleu._extract_corpus_statistics(predictions, [references]), dtype=np.int64)

    def resampled_bleu(indices):
        return bleu._compute_score_from_stats(stats[np.asarray(indices, dtype=int)].sum(axis=0)).score

    interval = bootstrap_ci([np.arange(len(predictions))], resampled_bleu)
    return float(score.score), interval, str(bleu.get_signature())


def text_metrics(predictions: list[str], references: list[str]) -> dict:
    """ROUGE-L F, corpus BLEU, SQuAD token F1 and exact match, each with a bootstrap 95% interval."""
    from rouge_score import rouge_scorer

    predictions, references = list(predictions), list(references)
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    if not predictions:
        return {key: (0 if key == "n" else None) for key in METRIC_KEYS}

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    rouge = [scorer.score(ref, pred)["rougeL"].fmeasure for pred, ref in zip(predictions, references)]
    f1 = [token_f1(pred, ref) for pred, ref in zip(predictions, references)]
    em = [exact_match(pred, ref) for pred, ref in zip(predictions, references)]
    bleu, bleu_interval, signature = _bleu_with_ci(predictions, references)
    return {
        "n": len(predictions),
        "rouge_l": sum(rouge) / len(rouge),
        "rouge_l_ci95": mean_ci(rouge),
        "bleu": bleu,
        "bleu_ci95": bleu_interval,
        "bleu_signature": signature,
        "token_f1": sum(f1) / len(f1),
        "token_f1_ci95": mean_ci(f1),
        "exact_match": sum(em) / len(em),
        "exact_match_ci95": mean_ci(em),
        "mean_prediction_words": sum(len(p.split()) for p in predictions) / len(predictions),
    }
