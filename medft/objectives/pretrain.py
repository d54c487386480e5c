"""objective=pretrain: continued pretraining with TRL's SFTTrainer, loss on every token, packed.

A plain-text record (dataset=text) is its document; any other record trains on its rendered
prompt + answer text (the chat template's, as SFT sees it), so any dataset can be pretrained on.
Documents longer than training.max_seq_len are counted; with packing TRL's `bfd_split` splits them
across rows (nothing is lost), without packing they are truncated.
"""

from __future__ import annotations

import logging

from medft import builders, prompts
from medft.config.derived import packing_enabled

log = logging.getLogger(__name__)


def document_text(tokenizer, record, system_prompt) -> str:
    if not record.question and not record.options:  # plain text: the answer field is the document
        return record.answer
    prompt, completion = prompts.render(tokenizer, record, system_prompt)
    return prompt + completion


def tokenize_documents(records, tokenizer, cfg):
    from datasets import Dataset

    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    ids = [
        tokenizer(document_text(tokenizer, r, cfg.model.system_prompt), add_special_tokens=False)["input_ids"] + eos
        for r in records
    ]
    too_long = sum(len(x) > cfg.training.max_seq_len for x in ids)
    return Dataset.from_dict({"input_ids": ids}), too_long


def build(cfg, model, tokenizer, splits, validation, output_dir, callbacks):
    train_data, too_long = tokenize_documents(splits["train"], tokenizer, cfg)
    packing = packing_enabled(cfg)
    if too_long:
        log.warning(
            "%d of %d documents exceed training.max_seq_len=%d: %s",
            too_long,
            len(train_data),
            cfg.training.max_seq_len,
            "split across packed rows" if packing else "truncated (packing is off)",
        )
    eval_data = tokenize_documents(validation, tokenizer, cfg)[0] if validation else None
    trainer = builders.sft_trainer(
        cfg,
        model,
        tokenizer,
        train_data,
        output_dir,
        callbacks,
        eval_data=eval_data,
        completion_only_loss=False,
        packing_strategy="bfd_split",
    )
    return trainer, too_long
