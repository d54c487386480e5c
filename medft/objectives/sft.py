"""objective=sft: TRL's SFTTrainer on the rendered prompt/answer pairs, loss on the answer only."""

from __future__ import annotations

import logging

from medft import builders
from medft.prompts.task_prompts import encode_for_task

log = logging.getLogger(__name__)


def build(cfg, model, tokenizer, splits, validation, output_dir, callbacks):
    train_data, truncated = tokenize_split(splits["train"], tokenizer, cfg)
    eval_data = tokenize_split(validation, tokenizer, cfg)[0] if validation else None
    trainer = builders.sft_trainer(cfg, model, tokenizer, train_data, output_dir, callbacks, eval_data=eval_data)
    return trainer, truncated


def as_trained(records, training_cfg) -> list:
    """`training.mc_format=cloze`: multiple-choice records train as the cloze scorer reads them (the
    question without its options, the option's text as the answer); `letter` (default): options
    listed and `B. <text>` as the answer, what the letter scorer reads."""
    from dataclasses import replace

    if training_cfg.get("mc_format", "letter") != "cloze":
        return records
    return [replace(r, options=(), answer_index=None) if r.is_multiple_choice else r for r in records]


def encode_records(records, tokenizer, cfg) -> list:
    """Each record as training sees it: the task's prompt through the model's chat template, the
    answer mask, truncation to training.max_seq_len (medft.prompts.task_prompts.encode_for_task)."""

    return [
        encode_for_task(tokenizer, r, cfg.model.system_prompt, cfg.training.max_seq_len, cfg.task)
        for r in as_trained(records, cfg.training)
    ]


def tokenize_split(records, tokenizer, cfg):
    """A split as the SFT trainer's dataset (input_ids + completion_mask) and its truncated count."""
    from datasets import Dataset

    encoded = encode_records(records, tokenizer, cfg)
    truncated = sum(e.truncated for e in encoded)
    if truncated:
        log.warning(
            "%d of %d training examples exceed training.max_seq_len=%d and were truncated "
            "(prompt start dropped, answers kept)",
            truncated,
            len(encoded),
            cfg.training.max_seq_len,
        )
    dataset = Dataset.from_dict(
        {"input_ids": [e.input_ids for e in encoded], "completion_mask": [e.completion_mask for e in encoded]}
    )
    return dataset, truncated
