"""objective=orpo: ORPO from `trl.experimental.orpo` (TRL 1.16 moved ORPOTrainer out of the top level;
experimental APIs may change between TRL releases). No reference model: the loss is the SFT loss on
the chosen answer plus beta x the log odds ratio of chosen over rejected.
"""

from __future__ import annotations


def build(cfg, model, tokenizer, splits, validation, output_dir, callbacks):
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    from medft import builders
    from medft.config.validate import grad_accumulation
    from medft.objectives import preference_data as data

    train_pairs, eval_pairs = data.train_and_eval_pairs(cfg, splits, validation)
    train_data, too_long = data.paired_dataset(train_pairs, tokenizer, cfg)
    eval_data = data.paired_dataset(eval_pairs, tokenizer, cfg)[0] if eval_pairs else None
    args = builders.trainer_config(ORPOConfig, cfg, output_dir, grad_accumulation(cfg),
                                   **data.preference_arguments(cfg))
    trainer = ORPOTrainer(model=model, args=args, train_dataset=train_data, eval_dataset=eval_data,
                          processing_class=tokenizer,
                         callbacks=list(callbacks) + builders.peft_callbacks(cfg, model),
                         optimizers=(builders.peft_optimizer(cfg, model, args), None))  # LoRA+, AdaLoRA as in SFT
    return trainer, too_long
