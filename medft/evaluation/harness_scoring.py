"""Multiple-choice scoring as lm-evaluation-harness 0.4 does it, on medft's faster engine.

Same prompt strings (`medft.prompts.harness_strings`), same tokenization of each (context, " choice")
pair as the harness's `HFLM._encode_pair` (trailing context spaces move into the
continuation; the whole string is encoded and the context's tokens split off; special tokens
as the tokenizer adds them by default, e.g. Gemma's BOS), the same summed log-likelihoods.
What differs is only how they are computed (`medft.evaluation.loglikelihood`): the harness
runs the full vocabulary projection and log-softmax at every position of every sequence.

Few-shot examples come from the benchmark's few-shot split, drawn with `random.Random(seed)`
per question in evaluation order as the harness's ContextSampler does (seed 1234), or the
first k of the same subject for MMLU (the harness's first_n sampler). When a benchmark has no
few-shot split (a single local file), examples are drawn from the evaluated items themselves
with the item itself excluded, as the harness does when the two splits coincide.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from medft.data.records import Record
from medft.evaluation.loglikelihood import Request, continuation_logprobs, truncate
from medft.prompts import harness_strings as harness_prompts
from medft.runtime.progress import bars_on

FEWSHOT_SEED = 1234  # the harness's default


def encode_pair(tokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """(context ids, continuation ids) exactly as the harness's HFLM._encode_pair."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = tokenizer.encode(context + continuation)
    context_ids = tokenizer.encode(context)
    return context_ids, whole[len(context_ids) :]


def fewshot_examples(
    records: Sequence[Record], pool: Sequence[Record], k: int, sampler: str = "random", seed: int = FEWSHOT_SEED
) -> list[list[Record]]:
    """The k solved examples shown before each record (empty lists for zero-shot)."""
    if k <= 0:
        return [[] for _ in records]
    pool = list(pool) if pool else list(records)
    in_pool = {id(p) for p in pool}
    if sampler == "first_n":
        shots = []
        for record in records:
            subject = record.metadata.get("subject")
            candidates = [p for p in pool if p.metadata.get("subject") == subject and p is not record]
            shots.append(candidates[:k])
    else:
        rnd = random.Random(seed)
        shots = []
        for record in records:
            # One spare draw when the item itself may be drawn, as the harness does when its
            # few-shot split is the evaluated one.
            drawn = rnd.sample(pool, min(len(pool), k + 1 if id(record) in in_pool else k))
            shots.append([d for d in drawn if d is not record][:k])
    short = [i for i, s in enumerate(shots) if len(s) < k]
    if short:
        raise ValueError(f"shots={k}: the few-shot pool has too few examples ({len(pool)}) for item {short[0]}")
    return shots


def harness_requests(
    tokenizer, records: Sequence[Record], fmt: str, shots: Sequence[Sequence[Record]], max_len: int
) -> tuple[list[Request], list[list[str]]]:
    requests, choice_texts = [], []
    for record, examples in zip(records, shots):
        context = harness_prompts.context(record, fmt, list(examples))
        texts = harness_prompts.choices(record, fmt)
        pairs = [encode_pair(tokenizer, context, harness_prompts.TARGET_DELIMITER + text) for text in texts]
        requests.append(truncate(Request(pairs[0][0], [cont for _, cont in pairs]), max_len))
        choice_texts.append(texts)
    return requests, choice_texts


def score_harness(
    model,
    tokenizer,
    records: Sequence[Record],
    fmt: str,
    shots: Sequence[Sequence[Record]],
    max_len: int,
    batch_size: int,
    desc: str = "eval",
) -> tuple[list[list[float]], list[list[str]]]:
    """Per-choice summed log-likelihoods of every record, and the choice strings scored."""
    from tqdm.auto import tqdm

    requests, choice_texts = harness_requests(tokenizer, records, fmt, shots, max_len)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    was_training = model.training
    model.eval()
    try:
        with tqdm(total=len(requests), desc=desc, unit="q", disable=not bars_on()) as progress:
            scores = continuation_logprobs(model, requests, pad_id, batch_size, progress)
    finally:
        model.train(was_training)
    return scores, choice_texts
