"""Preference pairs -> the text columns TRL's DPO / ORPO / KTO trainers read.

Prompts and answers are rendered by `medft.prompts.render`, the function SFT training and the
multiple-choice scorer use, so every objective sees the same chat-templated text. The prompt is
passed as already-templated text (not messages), so TRL does not template it a second time.
"""

from __future__ import annotations

import logging

from medft import prompts
from medft.config.errors import UserError
from medft.data.preference import pairs, training_records

log = logging.getLogger(__name__)


def rendered(tokenizer, pair, system_prompt) -> tuple[str, str, str]:
    """(prompt, chosen completion, rejected completion) exactly as the chat template writes them."""

    prompt, chosen = prompts.render(tokenizer, pair.record, system_prompt, answer_text=pair.chosen)
    _, rejected = prompts.render(tokenizer, pair.record, system_prompt, answer_text=pair.rejected)
    return prompt, chosen, rejected


def split_pairs(records, cfg):
    return pairs(records, cfg.objective.pair_seed, cfg.objective.with_explanation)


def _fit_prompt(tokenizer, prompt: str, completions: tuple[str, str], max_len: int) -> tuple[str, bool]:
    """Drop tokens from the prompt's start so prompt + the longer completion fits (SFT's rule here).

    Done here, not left to TRL: DPO/KTO in TRL 1.16 cut the end (the answers) and ORPO leaves an
    empty completion, whose loss is NaN, when the prompt alone fills max_length.
    """
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    longest = max(len(tokenizer(c, add_special_tokens=False)["input_ids"]) for c in completions)
    keep = max(1, max_len - longest)
    if len(ids) <= keep:
        return prompt, False
    return tokenizer.decode(ids[-keep:]), True


def paired_columns(pairs, tokenizer, cfg) -> tuple[dict[str, list[str]], int]:
    """{"prompt", "chosen", "rejected"} columns and the number of pairs longer than max_seq_len."""
    columns = {"prompt": [], "chosen": [], "rejected": []}
    too_long = 0
    for pair in pairs:
        prompt, chosen, rejected = rendered(tokenizer, pair, cfg.model.system_prompt)
        prompt, truncated = _fit_prompt(tokenizer, prompt, (chosen, rejected), cfg.training.max_seq_len)
        too_long += truncated
        columns["prompt"].append(prompt)
        columns["chosen"].append(chosen)
        columns["rejected"].append(rejected)
    if too_long:
        log.warning(
            "%d of %d preference pairs exceed training.max_seq_len=%d: prompt start dropped, answers kept",
            too_long,
            len(pairs),
            cfg.training.max_seq_len,
        )
    return columns, too_long


def paired_dataset(pairs, tokenizer, cfg):
    from datasets import Dataset

    columns, too_long = paired_columns(pairs, tokenizer, cfg)
    return Dataset.from_dict(columns), too_long


def unpaired_dataset(pairs, tokenizer, cfg):
    """KTO's format: each pair becomes a desirable (label True) and an undesirable (False) example.

    Shuffled here with the run's seed because KTO reads it in order (see kto.py), so each batch
    mixes both labels and its KL samples pair a prompt with another question's answer.
    """
    from datasets import Dataset

    columns, too_long = paired_columns(pairs, tokenizer, cfg)
    n = len(columns["prompt"])
    data = Dataset.from_dict(
        {
            "prompt": columns["prompt"] * 2,
            "completion": columns["chosen"] + columns["rejected"],
            "label": [True] * n + [False] * n,
        }
    )
    return data.shuffle(seed=cfg.seed), too_long


def train_and_eval_pairs(cfg, splits, validation):
    """Training pairs from the train split (see data.preference.training_records), eval pairs from validation."""

    train = split_pairs(training_records(splits, cfg.dataset), cfg)
    if not train:
        raise UserError(f"dataset={cfg.dataset.name}: no preference pairs in the train split")
    log.info("Preference pairs: %d for training, %d for validation", len(train), len(split_pairs(validation, cfg)))
    return train, split_pairs(validation, cfg)


def preference_arguments(cfg) -> dict:
    """Fields every preference trainer gets on top of the shared ones."""
    return {
        # Length-grouped sampling reads an input_ids column that paired data does not have.
        "train_sampling_strategy": "random",
        "beta": cfg.objective.beta,
    }
