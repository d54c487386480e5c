"""LoftQ (Li et al. 2023) on a bitsandbytes 4-bit model: LoRA starts at the quantization error."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


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
        raise FileNotFoundError(
            f"peft_method=loftq needs the model's full-precision weights in one safetensors file; "
            f"{file} does not exist (sharded or hub-cached checkpoints are not supported yet)"
        )
    return str(file)
