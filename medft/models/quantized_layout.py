"""bitsandbytes 4-bit weights back in their standard layout before an adapter trains on them."""

from __future__ import annotations


def restore_4bit_layout(model) -> int:
    """Undo bitsandbytes' CPU inference repacking of 4-bit weights; returns the layers restored.

    On a CPU with AVX512-BF16, bitsandbytes 0.50 repacks a Linear4bit's weight into a CPU-only layout
    on its first eval-mode forward (here: the evaluation before training). Training on that layout
    left every LoRA weight unchanged after 2 steps at lr 1e-2 (tests/test_peft_methods.py, nf4), so
    the standard layout is restored before the adapter is attached.
    """
    from bitsandbytes.functional import _convert_weight_packed_for_cpu_inverse
    from bitsandbytes.nn import Linear4bit

    restored = 0
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if isinstance(module, Linear4bit) and getattr(weight.quant_state, "packing_format_for_cpu", False):
            weight.data, weight.quant_state = _convert_weight_packed_for_cpu_inverse(weight.data, weight.quant_state)
            restored += 1
    return restored
