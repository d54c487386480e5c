"""Adapter weights in the precision the hardware profile trains in, whatever the trainer did to them.

TRL 1.16's trainers (SFT, DPO, KTO, GRPO, reward, ...) cast every trainable weight of a quantized model
to bf16 in their constructor, unconditionally (sft_trainer.py: "When using QLoRA, the PEFT adapter
weights are converted to bf16 to follow the recommendations from the original paper"). That suits a
bf16 GPU. It does not suit an fp32 profile (a CPU without fast bf16 matmuls then runs the adapters'
products in slow bf16, and a QLoRA-vs-fp32 ablation compares adapter precisions as well as base
weights) nor an fp16 GPU (no bf16 units). So after the trainer is built, medft puts the adapter back
into the profile's precision: bf16 under `hardware.precision=bf16` (TRL's choice, kept), fp32
otherwise (fp16 mixed precision keeps fp32 master weights too). DoRA's magnitude vector, which TRL
leaves in fp32, is not touched.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def restore_adapter_precision(model, precision: str) -> int:
    """Cast trainable bf16 weights back to fp32 unless the profile trains in bf16; returns how many."""
    import torch

    if precision == "bf16":
        return 0
    cast = 0
    for param in model.parameters():
        if param.requires_grad and param.dtype == torch.bfloat16:
            param.data = param.data.to(torch.float32)
            cast += 1
    if cast:
        log.info(
            "Adapter weights kept in fp32 (hardware.precision=%s): TRL casts a quantized model's trainable "
            "weights to bf16 (%d tensors), which only a bf16 profile wants",
            precision,
            cast,
        )
    return cast
