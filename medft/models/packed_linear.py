"""CPU scoring matmuls through oneDNN with each weight pre-packed once (`hardware.packed_linear`).

`nn.Linear` on a CPU calls MKL's sgemm with the weight in its plain row-major layout, so every
call re-blocks the weight for the cache. oneDNN can reorder a weight once into its own blocked
layout and reuse it; that is what inductor's CPU "freezing" pass does for inference, but it
needs a compile (a cold start of tens of seconds here). These are the same two PyTorch ops it
emits (`torch.ops.mkldnn._reorder_linear_weight` and `_linear_pointwise`), called directly.
Measured on this machine's 2 cores at the models' shapes (`perf/bench_eval.py` shows the
end-to-end effect): 164-204 GFLOP/s packed against 122-178 plain.

Used by the log-likelihood scorer (`medft.evaluation.loglikelihood`): every fp32 CPU `nn.Linear`
computes with a packed copy of its weight inside `torch.no_grad()`, packed on entry and dropped
on exit, because the weights of a model being trained change between evaluations (packing all of
SmolLM2 takes ~0.2 s). Scoring holds one more copy of the linear weights while it runs. The
numbers are the same sums in another order (fp32 rounding, ~1e-6 relative; `bench_eval.py`
shows every prediction equal to the harness's with and without it).

Not used for training: packing the frozen base layers under LoRA (forward and input gradient
through packed copies of the weight and its transpose) measured 1.18x and 0.97x in two
alternating pairs of 10-step SmolLM2 runs (the micro-batches are ~400 rows, and dropout and the
adapters' small matmuls weigh as much) at +1.0 GB peak memory, so it was not kept.
"""

from __future__ import annotations

import contextlib
import logging

from medft.models.fast_paths import cpu_option_on

log = logging.getLogger(__name__)

MARK = "_medft_packed_linear"  # set on a model whose evaluations may pack (decided once, from the config)
BATCH_HINT = 512  # rows per call oneDNN tunes the layout for; any row count works with it


def available() -> bool:
    """Whether this PyTorch build has oneDNN and the two ops (private ops: checked, not assumed)."""
    import torch

    ops = getattr(torch.ops, "mkldnn", None)
    return bool(
        torch.backends.mkldnn.is_available()
        and ops is not None
        and hasattr(ops, "_reorder_linear_weight")
        and hasattr(ops, "_linear_pointwise")
    )


def wanted(hardware) -> bool:
    """`hardware.packed_linear` on a CPU run where oneDNN is present (else one notice, plain matmuls)."""

    if not cpu_option_on(hardware, "packed_linear"):
        return False
    if not available():
        log.warning("hardware.packed_linear: this PyTorch has no oneDNN linear ops; plain matmuls")
        return False
    return True


def enable_for_scoring(model, hardware) -> bool:
    """Mark `model` so the scorers pack its linear weights while they score (see the module docstring)."""
    on = wanted(hardware)
    setattr(model, MARK, on)
    return on


def _packable(module) -> bool:
    import torch

    weight = getattr(module, "weight", None)
    # type() is, not isinstance: bitsandbytes' Linear4bit/Linear8bitLt subclass nn.Linear with other weights.
    # A module whose forward is already replaced (accelerate's hooks) is left alone.
    return (
        type(module) is torch.nn.Linear
        and weight is not None
        and weight.dtype == torch.float32
        and weight.device.type == "cpu"
        and "forward" not in vars(module)
    )


@contextlib.contextmanager
def packed_linear_weights(model):
    """While scoring under `torch.no_grad()`: every fp32 CPU linear layer computes with a packed copy of its
    weight. A no-op unless `enable_for_scoring` marked the model; with gradients on, the plain path runs."""
    import torch

    if not getattr(model, MARK, False):
        yield
        return
    patched = []
    for module in model.modules():
        if _packable(module):
            packed = torch.ops.mkldnn._reorder_linear_weight(module.weight.detach(), BATCH_HINT)
            module.forward = _inference_forward(module, packed)
            patched.append(module)
    try:
        yield
    finally:
        for module in patched:
            del module.forward  # back to nn.Linear.forward


def _inference_forward(module, packed):
    import torch
    import torch.nn.functional as F

    def forward(x):
        if torch.is_grad_enabled() or x.dtype != torch.float32:
            return F.linear(x, module.weight, module.bias)
        return torch.ops.mkldnn._linear_pointwise(x, packed, module.bias, "none", [], "")

    return forward
