"""Prompt learning (prompt tuning, prefix tuning, P-tuning): the methods that change the input, not
the weights. A translator from config to peft's config; sizes come from the model at wrap time."""

from __future__ import annotations


def prompt_learning_config(peft_cfg):
    """PromptTuningConfig / PrefixTuningConfig / PromptEncoderConfig; sizes come from the model at wrap time."""
    from peft import PrefixTuningConfig, PromptEncoderConfig, PromptTuningConfig, TaskType

    method, tokens = peft_cfg.method, peft_cfg.num_virtual_tokens
    if method == "prompt_tuning":
        text = peft_cfg.prompt_init_text
        return PromptTuningConfig(
            task_type=TaskType.CAUSAL_LM,
            num_virtual_tokens=tokens,
            prompt_tuning_init="TEXT" if text else "RANDOM",
            prompt_tuning_init_text=text or None,
            tokenizer_name_or_path=None,
        )  # set by wrap: the run's own tokenizer folder
    if method == "prefix_tuning":
        return PrefixTuningConfig(
            task_type=TaskType.CAUSAL_LM,
            num_virtual_tokens=tokens,
            prefix_projection=peft_cfg.prefix_projection,
            encoder_hidden_size=peft_cfg.encoder_hidden_size,
        )
    return PromptEncoderConfig(
        task_type=TaskType.CAUSAL_LM,
        num_virtual_tokens=tokens,
        encoder_reparameterization_type=peft_cfg.encoder_type,
        encoder_hidden_size=peft_cfg.encoder_hidden_size,
    )
