"""Peak memory of one run, also when a sweep runs many runs in one process.

`ru_maxrss` only ever grows over a process's life, so job 2 of an in-process sweep would report
job 1's peak. On Linux, writing 5 to /proc/self/clear_refs resets the high-water mark (VmHWM)
that is then read back; elsewhere the process peak is the honest fallback.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def reset_peak_memory(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats()
        return
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        pass  # not Linux, or not allowed: peak_memory_mb falls back to the process peak


def _vm_hwm_mb() -> float | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**10  # kB
    except OSError:
        return None
    return None


def peak_memory_mb(device: str) -> float:
    """GPU: peak allocated by torch. CPU: peak resident memory since the last reset."""
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    hwm = _vm_hwm_mb()
    if hwm is not None:
        return hwm
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10
