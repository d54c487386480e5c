"""Adapter dropout with SFC64 masks (medft/models/fast_dropout.py): nn.Dropout's distribution,
torch's seeding, replayed by gradient checkpointing, swapped only where configured."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from medft import builders
from medft.models.fast_dropout import FastDropout, keep_mask, use_fast_dropout
from medft.models.resolve import resolve_model


def test_masks_drop_with_probability_p_and_keep_values_scaled():
    p, n = 0.05, 2_000_000
    torch.manual_seed(0)
    x = torch.rand(n) + 1.0  # no zeros of its own
    y = FastDropout(p).train()(x)
    dropped = float((y == 0).double().mean())
    assert abs(dropped - p) < 5 * math.sqrt(p * (1 - p) / n)  # 5 sigma: ~7.7e-4 around 0.05
    kept = y != 0
    torch.testing.assert_close(y[kept], x[kept] * (1 / (1 - p)), rtol=0, atol=0)  # nn.Dropout's scaling
    # Neighbouring elements (two halves of one 64-bit word) are independent: P(both dropped) = p^2.
    pairs = (y.view(-1, 2) == 0).all(dim=1).double().mean()
    assert abs(float(pairs) - p * p) < 5 * math.sqrt(p * p / (n / 2))
    for rate in (0.0, 0.5, 0.9):
        m = keep_mask(torch.Size([200_000]), rate)
        assert abs(1 - float(m.double().mean()) - rate) < 0.01


def test_masks_follow_torch_seed_and_rng_state():
    torch.manual_seed(7)
    first = keep_mask(torch.Size([4096]), 0.3)
    state = torch.get_rng_state()
    second = keep_mask(torch.Size([4096]), 0.3)
    torch.set_rng_state(state)
    assert torch.equal(keep_mask(torch.Size([4096]), 0.3), second), "a restored RNG state replays the mask"
    torch.manual_seed(7)
    assert torch.equal(keep_mask(torch.Size([4096]), 0.3), first)
    assert not torch.equal(first, second)


def test_backward_passes_gradient_through_kept_elements_only():
    torch.manual_seed(1)
    x = torch.randn(64, 32, requires_grad=True)
    y = FastDropout(0.25).train()(x)
    grad = torch.randn_like(y)
    y.backward(grad)
    kept = y.detach() != 0
    torch.testing.assert_close(x.grad, torch.where(kept, grad * (1 / 0.75), 0.0), rtol=0, atol=0)


def test_gradient_checkpointing_recomputes_the_same_mask():
    layer = nn.Linear(32, 32)
    drop = FastDropout(0.3).train()

    def block(x):
        return layer(drop(x)).tanh()

    grads = []
    for checkpointed in (False, True):
        torch.manual_seed(3)
        x = torch.randn(16, 32, requires_grad=True)
        out = checkpoint(block, x, use_reentrant=False) if checkpointed else block(x)
        out.sum().backward()
        grads.append(x.grad.clone())
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=0)


def test_eval_mode_and_zero_p_are_the_identity():
    x = torch.randn(8, 8)
    assert torch.equal(FastDropout(0.5).eval()(x), x)
    assert torch.equal(FastDropout(0.0).train()(x), x)


@pytest.mark.parametrize("enabled", [True, False])
def test_lora_dropouts_are_swapped_only_when_configured(tiny_cfg, enabled):
    cfg = tiny_cfg(f"hardware.fast_dropout={str(enabled).lower()}", "peft_method.dropout=0.1")
    model = builders.wrap_for_training(builders.load_model(cfg, resolve_model(cfg.model, cfg.cache_dir, cfg.seed)), cfg)
    dropouts = [
        d
        for m in model.modules()
        if isinstance(getattr(m, "lora_dropout", None), nn.ModuleDict)
        for d in m.lora_dropout.values()
    ]
    assert dropouts, "the LoRA layers carry dropout modules"
    assert all(type(d) is (FastDropout if enabled else nn.Dropout) for d in dropouts)
    assert all(d.p == 0.1 for d in dropouts)
    assert use_fast_dropout(model, cfg.hardware) == 0, "nothing left to swap (or swapping is off)"
