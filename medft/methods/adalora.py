"""AdaLoRA (Zhang et al. 2023): its rank-pruning schedule in steps, its config, and the callback that
runs its step hooks inside TRL's trainer."""

from __future__ import annotations


def adalora_steps(peft_cfg, total_steps: int) -> dict[str, int]:
    """AdaLoRA's schedule in steps, from fractions of the run (so one config serves 2 steps and 2000)."""
    tinit = int(peft_cfg.adalora_tinit * total_steps)
    tfinal = int(peft_cfg.adalora_tfinal * total_steps)
    return {
        "total_step": total_steps,
        "tinit": tinit,
        "tfinal": min(tfinal, max(0, total_steps - tinit - 1)),
        "deltaT": max(1, peft_cfg.adalora_delta_t),
    }


def adalora_config(peft_cfg, targets, total_steps: int):
    from peft import AdaLoraConfig, TaskType

    return AdaLoraConfig(
        task_type=TaskType.CAUSAL_LM,
        init_r=peft_cfg.adalora_init_r,
        target_r=peft_cfg.adalora_target_r,
        lora_alpha=peft_cfg.alpha,
        lora_dropout=peft_cfg.dropout,
        target_modules=targets,
        bias=peft_cfg.bias,
        orth_reg_weight=peft_cfg.adalora_orth_reg_weight,
        **adalora_steps(peft_cfg, total_steps),
    )


def orthogonal_penalty(peft_model):
    """AdaLoRA's regulariser, mean over matrices of ||P P^T - I||_F (the formula of peft's AdaLoraModel.forward).

    peft adds it to `outputs.loss`, but TRL's SFTTrainer computes its loss from the fused LM head's
    log-probabilities and never reads `outputs.loss`, so the term would silently vanish.
    """
    import torch

    terms = []
    for name, param in peft_model.named_parameters():
        if param.requires_grad and ("lora_A" in name or "lora_B" in name):
            cov = param @ param.T if "lora_A" in name else param.T @ param
            terms.append(torch.linalg.matrix_norm(cov - torch.eye(cov.shape[0], dtype=cov.dtype, device=cov.device)))
    return torch.stack(terms).mean()


def adalora_callback(peft_model):
    """A TrainerCallback that runs AdaLoRA's step hooks: the orthogonal penalty's gradient before the
    optimizer step, then peft's `update_and_allocate` (needs the gradients: before `zero_grad`)."""
    from transformers import TrainerCallback

    tuner = peft_model.base_model
    weight = tuner.peft_config[tuner.trainable_adapter_name].orth_reg_weight

    class AdaLoraSchedule(TrainerCallback):
        def on_pre_optimizer_step(self, args, state, control, **kwargs):
            # Added once per optimizer step, after gradient clipping (the callback's only seam before the step).
            if weight > 0:
                (weight * orthogonal_penalty(peft_model)).backward()

        def on_optimizer_step(self, args, state, control, **kwargs):
            tuner.update_and_allocate(state.global_step)  # global_step counts the steps before this one

    return AdaLoraSchedule()
