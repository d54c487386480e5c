"""objective=sft on an encoder-decoder (model.architecture=seq2seq, Flan-T5): prompt in, answer out.

Each record is rendered by the same prompt module as for a decoder-only model; the prompt becomes the
encoder's input and the answer the decoder's labels, so the loss is on the answer only by construction.
TRL's SFTTrainer (1.16) builds its labels from one causal sequence and has no encoder-decoder path, so
this objective uses transformers' own `Trainer` with `DataCollatorForSeq2Seq` (labels padded with -100,
which the loss ignores); the training arguments are the same translator's as every other objective's
(`medft.builders.training_arguments`), so hardware profiles, logging and checkpoints behave alike.
"""

from __future__ import annotations

import logging

from medft import builders, prompts
from medft.config.derived import grad_accumulation
from medft.models.seq2seq import with_eos
from medft.objectives.sft import as_trained
from medft.prompts.task_prompts import with_instruction

log = logging.getLogger(__name__)

IGNORE_INDEX = -100  # what transformers' cross-entropy skips: padding of the labels


def encode_pair(tokenizer, record, system_prompt, max_len: int) -> tuple[list[int], list[int], bool]:
    """(encoder ids, decoder labels, truncated) of one record: each side ends in eos and holds at most
    `max_len` tokens; a long prompt loses its start (as for decoder-only training), a long answer its end."""
    prompt, answer = prompts.render(tokenizer, record, system_prompt)
    source = with_eos(tokenizer(prompt, add_special_tokens=False)["input_ids"], tokenizer.eos_token_id)
    target = with_eos(tokenizer(answer, add_special_tokens=False)["input_ids"], tokenizer.eos_token_id)
    truncated = len(source) > max_len or len(target) > max_len
    return source[-max_len:], target[:max_len], truncated


def tokenize_split(records, tokenizer, cfg):
    """A split as the seq2seq trainer's dataset (input_ids + labels) and its truncated count."""
    from datasets import Dataset

    pairs = [
        encode_pair(tokenizer, with_instruction(r, cfg.task), cfg.model.system_prompt, cfg.training.max_seq_len)
        for r in as_trained(records, cfg.training)
    ]
    truncated = sum(cut for _, _, cut in pairs)
    if truncated:
        log.warning(
            "%d of %d training examples exceed training.max_seq_len=%d on the encoder or decoder side and were "
            "truncated (prompt start or answer end dropped)",
            truncated,
            len(pairs),
            cfg.training.max_seq_len,
        )
    return Dataset.from_dict({"input_ids": [s for s, _, _ in pairs], "labels": [t for _, t, _ in pairs]}), truncated


def trainer_arguments(cfg, output_dir, grad_accum: int):
    """transformers' TrainingArguments from the shared translator, less TRL's own `max_length`
    (lengths are cut when tokenizing), plus the label smoothing and NEFTune that SFT also reads."""
    from transformers import TrainingArguments

    fields = builders.training_arguments(cfg, output_dir, grad_accum)
    fields.pop("max_length")
    return TrainingArguments(
        **fields,
        label_smoothing_factor=cfg.training.get("label_smoothing_factor", 0.0),
        neftune_noise_alpha=cfg.training.get("neftune_noise_alpha"),
    )


def build(cfg, model, tokenizer, splits, validation, output_dir, callbacks):
    from transformers import DataCollatorForSeq2Seq, Trainer

    train_data, truncated = tokenize_split(splits["train"], tokenizer, cfg)
    eval_data = tokenize_split(validation, tokenizer, cfg)[0] if validation else None
    args = trainer_arguments(cfg, output_dir, grad_accumulation(cfg))
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_data,
        eval_dataset=eval_data,
        data_collator=DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=IGNORE_INDEX),
        processing_class=tokenizer,
        **builders.method_hooks(cfg, model, args, callbacks),
    )
    return trainer, truncated
