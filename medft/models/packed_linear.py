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

Whether packing pays depends on the CPU and the layer's shape: on one 2-core machine (2026-12-02)
it took 96 PubMedQA questions from 86.6 s to 56.9 s, on a 2-core AMD EPYC (2026-12-06) the same
questions took 66-67 s plain and 78-85 s packed, and single matmuls there ran faster packed at
576->1536 and 576->192 but slower at 1536->576 and 576->576. So each layer shape is timed once per
process (plain vs packed, best of 3 at up to 2,048 rows, ~0.2 s a shape on SmolLM2) and packed only
where packing is at least 5% faster; `hardware.packed_linear=false` never packs.

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
ALWAYS = "always"  # a MARK value that packs every packable layer without timing (tests of the packed numbers)
BATCH_HINT = 512  # rows per call oneDNN tunes the layout for; any row count works with it
TIMING_ROWS = 2048  # rows of the timed matmul: a scoring batch has thousands (16 questions x ~300 tokens)
TIMING_MACS = 2e9  # at most this much work per timed product (~25 ms): a vocabulary projection gets fewer rows
MIN_GAIN = 1.05  # packed must beat plain by this much: below it, timing noise decides
_faster: dict[tuple[int, int], bool] = {}  # (in, out) features -> packed measured faster, once per process


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

    mark = getattr(model, MARK, False)
    if not mark:
        yield
        return
    patched = []
    for module in model.modules():
        if _packable(module) and (mark == ALWAYS or packs_faster(module.in_features, module.out_features)):
            packed = torch.ops.mkldnn._reorder_linear_weight(module.weight.detach(), BATCH_HINT)
            module.forward = _inference_forward(module, packed)
            patched.append(module)
    try:
        yield
    finally:
        for module in patched:
            del module.forward  # back to nn.Linear.forward


def packs_faster(n_in: int, n_out: int) -> bool:
    """Whether a packed weight of this shape multiplies at least MIN_GAIN faster than the plain one here
    (timed on the first call in a process, then remembered)."""
    key = (n_in, n_out)
    if key not in _faster:
        gain = _packed_speedup(n_in, n_out)
        _faster[key] = gain >= MIN_GAIN
        log.info(
            "hardware.packed_linear: %dx%d weights %s (packed %.2fx plain when timed)",
            n_in,
            n_out,
            "packed" if _faster[key] else "left plain",
            gain,
        )
    return _faster[key]


def _packed_speedup(n_in: int, n_out: int) -> float:
    """Plain time / packed time of one (rows x n_in) @ (n_in x n_out) product, best of 3, alternating."""
    import time

    import torch
    import torch.nn.functional as F

    rows = int(min(TIMING_ROWS, max(16, TIMING_MACS // (n_in * n_out))))
    x, weight = torch.randn(rows, n_in), torch.randn(n_out, n_in)
    packed = torch.ops.mkldnn._reorder_linear_weight(weight, BATCH_HINT)
    runs = {
        "plain": lambda: F.linear(x, weight),
        "packed": lambda: torch.ops.mkldnn._linear_pointwise(x, packed, None, "none", [], ""),
    }
    best = dict.fromkeys(runs, float("inf"))
    with torch.no_grad():
        for run in runs.values():  # warm-up: oneDNN builds its kernel on the first call
            run()
        for _ in range(3):
            for name, run in runs.items():
                started = time.perf_counter()
                run()
                best[name] = min(best[name], time.perf_counter() - started)
    return best["plain"] / best["packed"]


def _inference_forward(module, packed):
    import torch
    import torch.nn.functional as F

    def forward(x):
        if torch.is_grad_enabled() or x.dtype != torch.float32:
            return F.linear(x, module.weight, module.bias)
        return torch.ops.mkldnn._linear_pointwise(x, packed, module.bias, "none", [], "")

    return forward
