"""What this machine's CPU really does with 16-bit floats: its flags, then a measurement.

A bf16 matmul runs about 2x fp32 on a CPU with AVX512-BF16 or AMX (2048x576x1536: 151 vs 71 GFLOP/s
on such an EPYC), and about 50x slower than fp32 on one without them (0.57 vs 29.9 GFLOP/s on a 2-core
AMD EPYC with no AVX-512 at all). A flag says what the silicon has, not what torch's kernels use, so
`cpu_autocast` asks both: the flags first (no flag, no bf16, nothing timed), then a training-shaped
linear layer (forward and backward) in each dtype, since square matmuls can take another kernel path.
"""

from __future__ import annotations

import time

SLOW_FACTOR = 4.0  # 16-bit compute more than this many times slower than fp32 is refused
BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of CPUs with bf16 dot-product units
AUTOCAST_GAIN = 0.8  # autocast only where a bf16 layer takes under this fraction of fp32's time


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags (Linux); empty where the file is missing or unreadable."""
    try:
        with open(cpuinfo, encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def has_bf16_units(flags: set[str]) -> bool:
    return any(flag in flags for flag in BF16_FLAGS)


def cpu_autocast(choice: str, flags: set[str] | None = None, slowdown=None) -> tuple[str, str]:
    """(`bf16` | `off`, why) for `hardware.autocast` on a CPU. `auto`: bf16 only where the flags show
    bf16 units and a bf16 layer measures faster than fp32 (`slowdown`: defaults to `matmul_slowdown`)."""
    if choice != "auto":
        return choice, f"hardware.autocast={choice}"
    flags = cpu_flags() if flags is None else flags
    if not has_bf16_units(flags):
        return "off", f"this CPU has none of {', '.join(BF16_FLAGS)}: fp32 (bf16 would be ~50x slower)"
    factor = (slowdown or matmul_slowdown)("bf16")
    if factor >= AUTOCAST_GAIN:
        return "off", f"bf16 layers measured {factor:.2f}x fp32's time despite the bf16 flags: fp32"
    return "bf16", f"bf16 units found and a bf16 layer measured {factor:.2f}x fp32's time: bf16 autocast"


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
