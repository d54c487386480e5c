"""Multiple-choice accuracy by log-likelihood of the options, in two formulations (OLMES).

cloze  (default): the question alone is the prompt and each option's text is scored as the
        answer, exactly the format the free-text pairs train. `acc` compares summed
        log-probabilities, `acc_norm` per-character ones (lm-evaluation-harness' two metrics).
        The prompt is run once per question and its KV cache reused for all options
        (`medft.evaluation.loglikelihood`).
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
from medft.evaluation.choice_metrics import predictions
from medft.evaluation.loglikelihood import Request, continuation_logprobs, truncate
from medft.runtime.progress import bars_on

log = logging.getLogger(__name__)


FORMULATIONS = ("cloze", "letter")


@dataclass(frozen=True)
class Scored:
    predicted: int
    correct: bool
    correct_norm: bool  # by per-character log-likelihood; equals `correct` for the letter formulation
    logprobs: tuple[float, ...]


def scoring_requests(tokenizer, records, system_prompt, max_len, formulation) -> list[Request]:
    """One scoring request per record: the shared prompt and each option's continuation."""
    requests = []
    for record in records:
        if formulation == "cloze":
            prompt, options = prompts.cloze_prompt_and_options(tokenizer, record, system_prompt)
            continuations = [
                prompts.encode(tokenizer, "", option, max_len).input_ids or [tokenizer.pad_token_id]
                for option in options
            ]
        else:
            prompt, _ = prompts.render(tokenizer, record, system_prompt)
            letters = prompts.option_letter_ids(tokenizer, record, system_prompt)
            if letters is not None:
                continuations = [[letter] for letter in letters]
            else:  # letters are not single tokens here: score each option's whole answer
                continuations = [
                    prompts.encode(
                        tokenizer, "", prompts.render(tokenizer, record, system_prompt, k)[1], max_len
                    ).input_ids
                    for k in range(len(record.options))
                ]
        context = prompts.encode(tokenizer, prompt, "", max_len).input_ids
        requests.append(truncate(Request(context, continuations), max_len))
    return requests


def score_multiple_choice(
    model,
    tokenizer,
    records: list[Record],
    system_prompt: str | None,
    max_len: int,
    batch_size: int = 32,
    formulation: str = "cloze",
    desc: str = "eval",
) -> list[Scored]:
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
        with tqdm(total=len(records), desc=desc, unit="q", disable=not bars_on()) as progress:
            scores = continuation_logprobs(
                model,
                scoring_requests(tokenizer, records, system_prompt, max_len, formulation),
                tokenizer.pad_token_id,
                batch_size,
                progress,
            )
    finally:
        model.train(was_training)
    choice_texts = [[option.strip() for option in r.options] for r in records]
    predicted, predicted_norm, _ = predictions(scores, choice_texts)
    if formulation == "letter":
        predicted_norm = predicted  # one letter per option: length normalisation means nothing
    return [
        Scored(p, p == r.answer_index, pn == r.answer_index, tuple(lls))
        for r, lls, p, pn in zip(records, scores, predicted, predicted_norm)
    ]
