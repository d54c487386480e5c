"""Multiple-choice accuracy by log-likelihood of the options.

Options are listed in the prompt with letters (as in lm-evaluation-harness' MMLU task), and each
option is scored by the log-probability of its letter as the first answer token: one forward
pass per question, reading only the last position's logits. If a tokenizer does not make each
letter a single token there, every option's whole answer text (`B. metformin`) is scored
instead, four sequences per question. Both go through `medft.prompts`, as training does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from medft import prompts
from medft.data.records import Record

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scored:
    predicted: int
    correct: bool
    logprobs: tuple[float, ...]


def _left_padded(batch_ids: list[list[int]], pad_id: int):
    import torch

    width = max(len(ids) for ids in batch_ids)
    input_ids = torch.full((len(batch_ids), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(batch_ids), width), dtype=torch.long)
    for row, ids in enumerate(batch_ids):
        input_ids[row, width - len(ids):] = torch.tensor(ids)
        attention[row, width - len(ids):] = 1
    # Explicit positions: left padding must not shift the real tokens' positions.
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    return input_ids, attention, positions


def _device(model):
    return next(model.parameters()).device


def _letter_scores(model, tokenizer, records, system_prompt, max_len, batch_size, progress):
    import torch

    letter_ids = [prompts.option_letter_ids(tokenizer, r, system_prompt) for r in records]
    if any(ids is None for ids in letter_ids):
        return None
    prompt_ids = []
    for record in records:
        prompt, _ = prompts.render(tokenizer, record, system_prompt)
        prompt_ids.append(prompts.encode(tokenizer, prompt, "", max_len).input_ids)
    order = sorted(range(len(records)), key=lambda i: len(prompt_ids[i]))  # less padding
    scores: list[list[float]] = [[] for _ in records]
    device = _device(model)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        ids, attention, positions = _left_padded([prompt_ids[i] for i in chunk], tokenizer.pad_token_id)
        with torch.no_grad():
            logits = model(input_ids=ids.to(device), attention_mask=attention.to(device),
                           position_ids=positions.to(device), logits_to_keep=1).logits[:, -1, :]
        logprobs = torch.log_softmax(logits.float(), dim=-1).cpu()
        for row, i in enumerate(chunk):
            scores[i] = [float(logprobs[row, t]) for t in letter_ids[i]]
        progress.update(len(chunk))
    return scores


def _completion_scores(model, tokenizer, records, system_prompt, max_len, batch_size, progress):
    """Fallback: the summed log-probability of each option's full answer text."""
    import torch

    items = []  # (record index, option index, encoded)
    for i, record in enumerate(records):
        for k in range(len(record.options)):
            prompt, completion = prompts.render(tokenizer, record, system_prompt, option_index=k)
            items.append((i, k, prompts.encode(tokenizer, prompt, completion, max_len)))
    scores: list[list[float]] = [[0.0] * len(r.options) for r in records]
    device = _device(model)
    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        ids, attention, positions = _left_padded([e.input_ids for _, _, e in chunk], tokenizer.pad_token_id)
        masks = _left_padded([e.completion_mask for _, _, e in chunk], 0)[0]
        with torch.no_grad():
            logits = model(input_ids=ids.to(device), attention_mask=attention.to(device),
                           position_ids=positions.to(device)).logits.float().cpu()
        logprobs = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
        totals = (logprobs * masks[:, 1:]).sum(-1)
        for row, (i, k, _) in enumerate(chunk):
            scores[i][k] = float(totals[row])
        progress.update(sum(1 for _, k, _ in chunk if k == 0))  # questions started in this batch
    return scores


def score_multiple_choice(model, tokenizer, records: list[Record], system_prompt: str | None,
                          max_len: int, batch_size: int = 32, desc: str = "eval") -> list[Scored]:
    from tqdm.auto import tqdm

    if not records:
        return []
    not_mc = [i for i, r in enumerate(records) if not r.is_multiple_choice]
    if not_mc:
        raise ValueError(f"{len(not_mc)} records have no options (first: index {not_mc[0]})")
    was_training = model.training
    model.eval()
    try:
        with tqdm(total=len(records), desc=desc, unit="q") as progress:
            scores = _letter_scores(model, tokenizer, records, system_prompt, max_len, batch_size, progress)
            if scores is None:
                log.info("Option letters are not single tokens for this tokenizer: scoring full answers")
                scores = _completion_scores(model, tokenizer, records, system_prompt, max_len,
                                            max(1, batch_size // 4), progress)
    finally:
        model.train(was_training)
    results = []
    for record, option_scores in zip(records, scores):
        predicted = max(range(len(option_scores)), key=option_scores.__getitem__)
        results.append(Scored(predicted, predicted == record.answer_index, tuple(option_scores)))
    return results
