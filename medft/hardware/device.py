"""What this machine's CPU really does with 16-bit floats, measured rather than read from flags.

A bf16 matmul runs about 2x fp32 on a CPU whose kernels use AVX512-BF16, and 50x slower than fp32
on one without it (measured on a 2-core AMD EPYC: 0.57 vs 29.9 GFLOP/s); a flag says what the silicon
has, not what torch's kernels use. A 128x128 matmul in each
dtype settles it; the probe is a training-shaped linear layer (forward and backward), since
square matmuls can take a different kernel path than the layers a run executes.
"""

from __future__ import annotations

import time

SLOW_FACTOR = 4.0  # 16-bit compute more than this many times slower than fp32 is refused


def matmul_slowdown(dtype_name: str, tokens: int = 256, d_in: int = 576, d_out: int = 1536, repeats: int = 3) -> float:
    """Seconds per linear forward+backward in `dtype_name` (bf16 | fp16) over fp32, best of `repeats`."""
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[dtype_name]

    def best(dt) -> float:
        x = torch.randn(tokens, d_in).to(dt).requires_grad_()
        w = torch.randn(d_out, d_in).to(dt).requires_grad_()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            torch.nn.functional.linear(x, w).sum().backward()
            times.append(time.perf_counter() - start)
        return min(times)

    best(torch.float32)  # warm-up
    return best(dtype) / max(best(torch.float32), 1e-9)
