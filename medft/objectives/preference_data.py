"""Preference pairs -> the text columns TRL's DPO / ORPO / KTO trainers read.

Prompts and answers are rendered by `medft.prompts.render`, the function SFT training and the
multiple-choice scorer use, so every objective sees the same chat-templated text. The prompt is
passed as already-templated text (not messages), so TRL does not template it a second time.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def rendered(tokenizer, pair, system_prompt) -> tuple[str, str, str]:
    """(prompt, chosen completion, rejected completion) exactly as the chat template writes them."""
    from medft import prompts

    prompt, chosen = prompts.render(tokenizer, pair.record, system_prompt, answer_text=pair.chosen)
    _, rejected = prompts.render(tokenizer, pair.record, system_prompt, answer_text=pair.rejected)
    return prompt, chosen, rejected


def split_pairs(records, cfg):
    from medft.data.preference import pairs

    return pairs(records, cfg.objective.pair_seed, cfg.objective.with_explanation)


def paired_columns(pairs, tokenizer, cfg) -> tuple[dict[str, list[str]], int]:
    """{"prompt", "chosen", "rejected"} columns and the number of pairs longer than max_seq_len.

    TRL 1.16 truncates over-long pairs at the end (`truncation_mode="keep_start"`, the only mode
    it keeps), unlike SFT here, which drops the prompt's start; the count says how often it happens.
    """
    columns = {"prompt": [], "chosen": [], "rejected": []}
    too_long = 0
    for pair in pairs:
        prompt, chosen, rejected = rendered(tokenizer, pair, cfg.model.system_prompt)
        columns["prompt"].append(prompt)
        columns["chosen"].append(chosen)
        columns["rejected"].append(rejected)
        lengths = [len(tokenizer(prompt + c, add_special_tokens=False)["input_ids"]) for c in (chosen, rejected)]
        too_long += max(lengths) > cfg.training.max_seq_len
    if too_long:
        log.warning("%d of %d preference pairs exceed training.max_seq_len=%d and are truncated at the end",
                    too_long, len(pairs), cfg.training.max_seq_len)
    return columns, too_long


def paired_dataset(pairs, tokenizer, cfg):
    from datasets import Dataset

    columns, too_long = paired_columns(pairs, tokenizer, cfg)
    return Dataset.from_dict(columns), too_long


def unpaired_dataset(pairs, tokenizer, cfg):
    """KTO's format: each pair becomes a desirable (label True) and an undesirable (False) example."""
    from datasets import Dataset

    columns, too_long = paired_columns(pairs, tokenizer, cfg)
    n = len(columns["prompt"])
    return Dataset.from_dict({"prompt": columns["prompt"] * 2, "completion": columns["chosen"] + columns["rejected"],
                              "label": [True] * n + [False] * n}), too_long


def train_and_eval_pairs(cfg, splits, validation):
    """Training pairs from the train split (see data.preference.training_records), eval pairs from validation."""
    from medft.data.preference import training_records

    train = split_pairs(training_records(splits, cfg.dataset), cfg)
    if not train:
        from medft.errors import UserError

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
