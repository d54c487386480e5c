"""objective=kto: trl.KTOTrainer (top level in TRL 1.16) on unpaired examples made from the pairs.

Each pair gives one desirable (chosen) and one undesirable (rejected) example, so the two classes
are balanced and KTO's default desirable/undesirable weights (1.0 each) apply. The reference is
the starting model, built the same way as for DPO (TRL's frozen "ref" copy of the adapter).
"""

from __future__ import annotations

from medft import builders
from medft.config.derived import grad_accumulation
from medft.objectives import preference_data as data
from medft.objectives.dpo import frozen_reference


def build(cfg, model, tokenizer, splits, validation, output_dir, callbacks):
    from trl import KTOConfig, KTOTrainer

    train_pairs, eval_pairs = data.train_and_eval_pairs(cfg, splits, validation)
    train_data, too_long = data.unpaired_dataset(train_pairs, tokenizer, cfg)
    eval_data = data.unpaired_dataset(eval_pairs, tokenizer, cfg)[0] if eval_pairs else None
    # KTO's KL term pairs each example with its batch neighbour's completion, so TRL requires
    # sequential sampling; the data is shuffled once with the seed instead.
    args = builders.trainer_config(
        KTOConfig,
        cfg,
        output_dir,
        grad_accumulation(cfg),
        **{**data.preference_arguments(cfg), "train_sampling_strategy": "sequential"},
    )
    trainer = KTOTrainer(
        model=model,
        ref_model=frozen_reference(model),
        args=args,
        train_dataset=train_data,
        eval_dataset=eval_data,
        processing_class=tokenizer,
        **builders.method_hooks(cfg, model, args, callbacks),
    )  # LoRA+, AdaLoRA as in SFT
    return trainer, too_long
