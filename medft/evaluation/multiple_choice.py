"""Multiple-choice accuracy by log-likelihood of the options, in two formulations (OLMES).

cloze  (default): the question alone is the prompt and each option's text is scored as the
        answer, exactly the format the free-text pairs train. `acc` compares summed
        log-probabilities, `acc_norm` per-byte ones (lm-evaluation-harness' two metrics).
        The prompt is run once per question and its KV cache reused for all options.
letter: options listed with letters in the prompt and each option scored by the
        log-probability of its letter (MMLU-style): one forward pass per question. Small
        models lack this skill before tuning (OLMES, Gu et al. 2024), so it measures format.
Both go through `medft.prompts`, as training does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from medft import prompts
from medft.data.records import Record

log = logging.getLogger(__name__)


FORMULATIONS = ("cloze", "letter")


@dataclass(frozen=True)
class Scored:
    predicted: int
    correct: bool
    correct_norm: bool  # by per-byte log-likelihood; equals `correct` for the letter formulation
    logprobs: tuple[float, ...]


def _padded(batch_ids: list[list[int]], pad_id: int, left: bool):
    """Stack sequences into (ids, attention mask), padding on the left or the right."""
    import torch

    width = max(len(ids) for ids in batch_ids)
    input_ids = torch.full((len(batch_ids), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(batch_ids), width), dtype=torch.long)
    for row, ids in enumerate(batch_ids):
        span = slice(width - len(ids), width) if left else slice(0, len(ids))
        input_ids[row, span] = torch.tensor(ids, dtype=torch.long)
        attention[row, span] = 1
    return input_ids, attention


def _left_padded(batch_ids: list[list[int]], pad_id: int):
    input_ids, attention = _padded(batch_ids, pad_id, left=True)
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
        masks = _padded([e.completion_mask for _, _, e in chunk], 0, left=True)[0]
        with torch.no_grad():
            logits = model(input_ids=ids.to(device), attention_mask=attention.to(device),
                           position_ids=positions.to(device)).logits.float().cpu()
        logprobs = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
        totals = (logprobs * masks[:, 1:]).sum(-1)
        for row, (i, k, _) in enumerate(chunk):
            scores[i][k] = float(totals[row])
        progress.update(sum(1 for _, k, _ in chunk if k == 0))  # questions started in this batch
    return scores


def _cloze_scores(model, tokenizer, records, system_prompt, max_len, batch_size, progress):
    """Summed log-probability of each option's text after the question-only prompt."""
    import torch

    prompt_ids, option_ids = [], []
    for record in records:
        prompt, options = prompts.cloze_prompt_and_options(tokenizer, record, system_prompt)
        prompt_ids.append(prompts.encode(tokenizer, prompt, "", max_len).input_ids)
        option_ids.append([prompts.encode(tokenizer, "", option, max_len).input_ids or [tokenizer.pad_token_id]
                           for option in options])
    order = sorted(range(len(records)), key=lambda i: len(prompt_ids[i]))
    scores: list[list[float]] = [[] for _ in records]
    device = _device(model)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        ids, attention, positions = _left_padded([prompt_ids[i] for i in chunk], tokenizer.pad_token_id)
        # Row r of the option batch continues prompt `owner[r]`.
        owner = [row for row, i in enumerate(chunk) for _ in option_ids[i]]
        flat = [opt for i in chunk for opt in option_ids[i]]
        opt_ids, opt_mask = _padded(flat, tokenizer.pad_token_id, left=False)
        owner_t = torch.tensor(owner)
        with torch.no_grad():
            out = model(input_ids=ids.to(device), attention_mask=attention.to(device),
                        position_ids=positions.to(device), use_cache=True, logits_to_keep=1)
            first = torch.log_softmax(out.logits[:, -1, :].float(), dim=-1)[owner_t.to(device)]
            cache = out.past_key_values
            cache.reorder_cache(owner_t.to(device))
            lengths = attention.sum(-1)[owner_t]
            opt_positions = lengths[:, None] + torch.arange(opt_ids.shape[1])[None, :]
            rest = model(input_ids=opt_ids.to(device),
                         attention_mask=torch.cat([attention[owner_t], opt_mask], dim=1).to(device),
                         position_ids=opt_positions.to(device), past_key_values=cache, use_cache=True).logits
        # Token 0 of an option is predicted by the prompt's last position, token j by option j-1.
        logprobs = torch.cat([first[:, None, :], torch.log_softmax(rest[:, :-1].float(), dim=-1)], dim=1)
        token_lp = logprobs.gather(-1, opt_ids.to(device)[..., None])[..., 0].cpu() * opt_mask
        totals = token_lp.sum(-1).tolist()
        cursor = 0
        for i in chunk:
            scores[i] = totals[cursor:cursor + len(option_ids[i])]
            cursor += len(option_ids[i])
        progress.update(len(chunk))
    return scores


def score_multiple_choice(model, tokenizer, records: list[Record], system_prompt: str | None,
                          max_len: int, batch_size: int = 32, formulation: str = "cloze",
                          desc: str = "eval") -> list[Scored]:
    from tqdm.auto import tqdm

    if formulation not in FORMULATIONS:
        raise ValueError(f"unknown formulation {formulation!r}; use one of {FORMULATIONS}")
    if not records:
        return []
    not_mc = [i for i, r in enumerate(records) if not r.is_multiple_choice]
    if not_mc:
        raise ValueError(f"{len(not_mc)} records have no options (first: index {not_mc[0]})")
    was_training = model.training
    model.eval()
    try:
        with tqdm(total=len(records), desc=desc, unit="q") as progress:
            if formulation == "cloze":
                scores = _cloze_scores(model, tokenizer, records, system_prompt, max_len,
                                       max(1, batch_size // 2), progress)
            else:
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
        if formulation == "cloze":
            per_byte = [lp / max(1, len(opt.encode())) for lp, opt in zip(option_scores, record.options)]
            predicted_norm = max(range(len(per_byte)), key=per_byte.__getitem__)
        else:
            predicted_norm = predicted
        results.append(Scored(predicted, predicted == record.answer_index,
                              predicted_norm == record.answer_index, tuple(option_scores)))
    return results
