"""objective=dpo: trl.DPOTrainer (top level in TRL 1.16) on preference pairs.

The reference model is the model as training starts. With a LoRA policy TRL 1.16 adds a frozen
copy of the policy's adapter under the name "ref" (DPOTrainer.__init__, when it is given a
PeftModel and no ref_model) and scores the reference with that adapter active. Starting from
`init_from=<an SFT run>`, the policy's adapter *is* the SFT adapter, so the reference is the SFT
model, as DPO prescribes (the reference is the supervised model the preference step starts
from); from a fresh LoRA the copy has B = 0, so the reference is the base model. For
peft_method=full a frozen deep copy of the starting weights is passed as ref_model.
"""

from __future__ import annotations

from medft import builders
from medft.config.derived import grad_accumulation
from medft.objectives import preference_data as data


def frozen_reference(model):
    """A separate frozen reference for full fine-tuning (adapter methods use TRL's ref adapter)."""
    if hasattr(model, "peft_config"):
        return None
    import copy

    reference = copy.deepcopy(model).eval()
    for param in reference.parameters():
        param.requires_grad_(False)
    return reference


def build(cfg, model, tokenizer, splits, validation, output_dir, callbacks):
    from trl import DPOConfig, DPOTrainer

    train_pairs, eval_pairs = data.train_and_eval_pairs(cfg, splits, validation)
    train_data, too_long = data.paired_dataset(train_pairs, tokenizer, cfg)
    eval_data = data.paired_dataset(eval_pairs, tokenizer, cfg)[0] if eval_pairs else None
    args = builders.trainer_config(
        DPOConfig,
        cfg,
        output_dir,
        grad_accumulation(cfg),
        loss_type=[cfg.objective.loss_type],
        **data.preference_arguments(cfg),
    )
    trainer = DPOTrainer(
        model=model,
        ref_model=frozen_reference(model),
        args=args,
        train_dataset=train_data,
        eval_dataset=eval_data,
        processing_class=tokenizer,
        **builders.method_hooks(cfg, model, args, callbacks),
    )  # LoRA+, AdaLoRA as in SFT
    return trainer, too_long
