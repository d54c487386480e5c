"""Training objectives: what the trainer optimizes, one small module per option (conf/objective/).

Each module exposes `build(cfg, model, tokenizer, splits, validation, output_dir, callbacks)`
returning `(trainer, truncated_examples)`; the recipe around it (evaluation before and after,
the run folder) is the same for every objective, so method tables stay comparable.
"""

from __future__ import annotations

import importlib

from medft.models.adapter_precision import restore_adapter_precision
from medft.models.seq2seq import is_seq2seq

OBJECTIVES = ("sft", "dpo", "orpo", "kto", "pretrain", "reward", "grpo")
PREFERENCE_OBJECTIVES = ("dpo", "orpo", "kto")  # policies trained on (prompt, chosen, rejected) pairs
PAIR_OBJECTIVES = (*PREFERENCE_OBJECTIVES, "reward")  # everything that reads pairs (reward: a scorer, not a policy)


def build_trainer(cfg, model, tokenizer, splits, validation, output_dir, callbacks):
    """The objective's TRL trainer on this run's data, and how many examples were truncated."""
    from medft.data.sampling import shuffle_length_groups

    name = cfg.objective.name
    if name == "sft" and is_seq2seq(cfg.model):  # prompt to the encoder, answer to the decoder
        name = "sft_seq2seq"
    module = importlib.import_module(f"medft.objectives.{name}")
    trainer, truncated = module.build(cfg, model, tokenizer, splits, validation, output_dir, callbacks)
    restore_adapter_precision(trainer.model, cfg.hardware.precision)  # TRL casts QLoRA adapters to bf16
    return shuffle_length_groups(trainer), truncated
