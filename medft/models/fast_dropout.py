"""Adapter dropout on a CPU with masks from NumPy's SFC64 generator (`hardware.fast_dropout`).

Why: torch draws CPU dropout masks from its serial Mersenne Twister, one 32-bit draw per element
(`aten::bernoulli_`: 15% of a default SmolLM2 LoRA step here, while the rank-16 matmul each mask
feeds costs a tenth of that). SFC64 yields 64 random bits per call at a fraction of the cost.

What stays the same: each element is kept independently when its 32-bit word is at least
p * 2^32, so P(drop) is p to within 2^-32, and kept values are scaled by 1 / (1 - p): the same
distribution as `torch.nn.Dropout`, but other draws. Each call seeds a fresh SFC64 from one draw
of torch's CPU generator, so the masks follow `torch.manual_seed`, are restored with torch's RNG
state when a run resumes (the SIGKILL resume check compares weights bit for bit), and are replayed
by gradient checkpointing's recompute, which restores that state. The mask is kept for the
backward as one byte per element (torch keeps a float mask). Off a CPU, in eval mode or at p = 0
it is `nn.Dropout` itself.

Only the adapters' dropouts are swapped (peft's `lora_dropout` modules): they are the ones a PEFT
run pays for; the base model's dropouts are off in the checkpoints medft supports.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

from medft.models.fast_paths import cpu_option_on

log = logging.getLogger(__name__)

_WORD = 2**32


class _KeepAndScale(torch.autograd.Function):
    """x * keep / (1 - p), with the boolean mask saved for the backward."""

    @staticmethod
    def forward(ctx, x, keep, scale):
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return torch.where(keep, x, 0.0).mul_(scale)

    @staticmethod
    def backward(ctx, grad):
        (keep,) = ctx.saved_tensors
        return torch.where(keep, grad, 0.0).mul_(ctx.scale), None, None


def keep_mask(shape: torch.Size, p: float) -> torch.Tensor:
    """A boolean mask, each element True with probability 1 - p (to within 2^-32)."""
    count = shape.numel()
    seed = int(torch.randint(0, 2**63 - 1, ()))  # torch's generator decides: seeding and resume follow it
    words = np.random.SFC64(seed).random_raw((count + 1) // 2).view(np.int32)[:count]
    threshold = int(round(p * _WORD)) - 2**31  # compared as int32: torch has no uint32 comparison on CPU
    return torch.from_numpy(words).view(shape) >= threshold


class FastDropout(nn.Dropout):
    """`nn.Dropout` with the mask from `keep_mask` on CPU tensors in training mode."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0 or x.device.type != "cpu" or self.inplace:
            return super().forward(x)
        return _KeepAndScale.apply(x, keep_mask(x.shape, self.p), 1.0 / (1.0 - self.p))


def use_fast_dropout(model, hardware) -> int:
    """Swap the adapters' `nn.Dropout` modules for `FastDropout` on a CPU run; returns how many."""

    if not cpu_option_on(hardware, "fast_dropout"):
        return 0
    swapped = 0
    for module in model.modules():
        dropouts = getattr(module, "lora_dropout", None)
        if not isinstance(dropouts, nn.ModuleDict):
            continue
        for name, dropout in dropouts.items():
            if type(dropout) is nn.Dropout and dropout.p > 0:
                dropouts[name] = FastDropout(dropout.p)
                swapped += 1
    if swapped:
        log.info("hardware.fast_dropout: %d adapter dropouts draw their masks from SFC64", swapped)
    return swapped
