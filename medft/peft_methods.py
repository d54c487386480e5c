"""PEFT methods that need more than a peft config: prompt learning, AdaLoRA's schedule, LoRA+'s
optimizer, LoftQ's initialisation. Small translators from config to peft objects, like
`medft.builders` (which calls them); heavy imports stay inside the functions.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

PROMPT_LEARNING = ("prompt_tuning", "prefix_tuning", "p_tuning")  # they change the input, not the weights


def prompt_learning_config(peft_cfg):
    """PromptTuningConfig / PrefixTuningConfig / PromptEncoderConfig; sizes come from the model at wrap time."""
    from peft import PrefixTuningConfig, PromptEncoderConfig, PromptTuningConfig, TaskType

    method, tokens = peft_cfg.method, peft_cfg.num_virtual_tokens
    if method == "prompt_tuning":
        text = peft_cfg.prompt_init_text
        return PromptTuningConfig(
            task_type=TaskType.CAUSAL_LM, num_virtual_tokens=tokens,
            prompt_tuning_init="TEXT" if text else "RANDOM", prompt_tuning_init_text=text or None,
            tokenizer_name_or_path=None)  # set by wrap: the run's own tokenizer folder
    if method == "prefix_tuning":
        return PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=tokens,
                                  prefix_projection=peft_cfg.prefix_projection,
                                  encoder_hidden_size=peft_cfg.encoder_hidden_size)
    return PromptEncoderConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=tokens,
                               encoder_reparameterization_type=peft_cfg.encoder_type,
                               encoder_hidden_size=peft_cfg.encoder_hidden_size)


def adalora_steps(peft_cfg, total_steps: int) -> dict[str, int]:
    """AdaLoRA's schedule in steps, from fractions of the run (so one config serves 2 steps and 2000)."""
    tinit = int(peft_cfg.adalora_tinit * total_steps)
    tfinal = int(peft_cfg.adalora_tfinal * total_steps)
    return {"total_step": total_steps, "tinit": tinit, "tfinal": min(tfinal, max(0, total_steps - tinit - 1)),
            "deltaT": max(1, peft_cfg.adalora_delta_t)}


def adalora_config(peft_cfg, targets, total_steps: int):
    from peft import AdaLoraConfig, TaskType

    return AdaLoraConfig(
        task_type=TaskType.CAUSAL_LM, init_r=peft_cfg.adalora_init_r, target_r=peft_cfg.adalora_target_r,
        lora_alpha=peft_cfg.alpha, lora_dropout=peft_cfg.dropout, target_modules=targets, bias=peft_cfg.bias,
        orth_reg_weight=peft_cfg.adalora_orth_reg_weight, **adalora_steps(peft_cfg, total_steps))


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


def loraplus_optimizer(cfg, model, args):
    """LoRA+ (Hayou et al. 2024): peft's optimizer with B matrices at `loraplus_lr_ratio` x the learning rate.

    The optimizer class and its arguments (betas, eps, 8-bit variants) come from the optimizer group
    through transformers' own mapping, so LoRA+ changes only the learning rates.
    """
    from peft.optimizers import create_loraplus_optimizer
    from transformers import Trainer

    optimizer_cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(args, model)
    kwargs = dict(kwargs)
    lr = kwargs.pop("lr", cfg.optimizer.lr)
    return create_loraplus_optimizer(model, optimizer_cls, lr=lr, loraplus_lr_ratio=cfg.peft_method.loraplus_lr_ratio,
                                     loraplus_weight_decay=cfg.optimizer.weight_decay, **kwargs)


def loftq_initialise(peft_model, adapter: str = "default") -> int:
    """LoftQ (Li et al. 2023) on a bitsandbytes 4-bit model: each LoRA pair starts at the best rank-r
    approximation of the quantization error W - dequant(Q(W)), so base + adapter starts near W.

    This is peft's `replace_lora_weights_loftq` (the same SVD, peft's `_low_rank_decomposition`) on the
    weight's own device: peft 0.21.2 moves the weights to "cuda" unconditionally, so it fails on CPU.
    One difference on purpose: the pair is divided by LoRA's scale alpha/r, which peft ignores
    (exact for any alpha, not only alpha = r). Returns the number of layers initialised.
    """
    import bitsandbytes as bnb
    import torch
    from peft.tuners.lora import Linear4bit
    from peft.utils.loftq_utils import _low_rank_decomposition
    from safetensors import safe_open

    weights_file = original_weights_file(peft_model)
    prefix = "base_model.model."
    done = 0
    with safe_open(weights_file, framework="pt") as original, torch.no_grad():
        names = set(original.keys())
        for name, module in peft_model.named_modules():
            if not isinstance(module, Linear4bit) or adapter not in module.lora_A:
                continue
            key = name.removeprefix(prefix) + ".weight"
            key = key if key in names else key.removeprefix("model.")
            weight = original.get_tensor(key).to(torch.float32)
            base = module.get_base_layer().weight
            residual = weight.to(base.device) - bnb.functional.dequantize_4bit(base.data, base.quant_state).float()
            parts = _low_rank_decomposition(residual, reduced_rank=module.r[adapter])
            scale = module.scaling[adapter]
            module.lora_A[adapter].weight.copy_(parts["R"] / scale**0.5)
            module.lora_B[adapter].weight.copy_(parts["L"] / scale**0.5)
            done += 1
    if not done:
        raise ValueError("peft_method=loftq found no 4-bit LoRA layer: it needs quantization=nf4")
    log.info("LoftQ: %d LoRA pairs initialised to the 4-bit quantization error of %s", done, weights_file)
    return done


def original_weights_file(peft_model) -> str:
    """The full-precision safetensors file the 4-bit model was loaded from (LoftQ needs W itself)."""
    from pathlib import Path

    folder = Path(peft_model.base_model.model.config._name_or_path)
    file = folder / "model.safetensors"
    if not file.is_file():
        raise FileNotFoundError(f"peft_method=loftq needs the model's full-precision weights in one safetensors file; "
                                f"{file} does not exist (sharded or hub-cached checkpoints are not supported yet)")
    return str(file)
