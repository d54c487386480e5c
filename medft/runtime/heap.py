"""glibc's malloc settings for a process: which blocks get their own mapping instead of the heap.

glibc serves a block of at least its mmap threshold from a fresh mapping that is unmapped when the
block is freed; smaller blocks come from the heap, which keeps freed memory resident. The threshold
starts at 128 KiB and rises to the size of each mapped block freed (up to 32 MiB), so after the first
step of a sharded run (FSDP2's per-layer buffers, ~14 MB for SmolLM2) those buffers come from the heap,
interleave with smaller long-lived blocks, and the heap grows step after step: 16-step FSDP2 full
fine-tuning ranks of SmolLM2 peaked at up to 1.6x their memory plan, 1.1-1.3 GB above the same run with a
fixed threshold (`mallopt(M_MMAP_THRESHOLD, ...)`, which also stops the rise and keeps the large buffers
out of the heap). Called through ctypes because neither torch nor Python exposes it; on another C library
(macOS, musl) nothing is changed.
"""

from __future__ import annotations

import ctypes
import platform

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
MMAP_THRESHOLD_MAX_MB = 32  # glibc refuses a larger threshold on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX)


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _glibc():
    """This process's C library when it is glibc, else None."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    return ctypes.CDLL(None)  # the C library already loaded into the process


def set_mmap_threshold(mb: int) -> bool:
    """Serve blocks of `mb` MiB and up from their own mappings from now on; False where not glibc."""
    libc = _glibc()
    if libc is None:
        return False
    if not libc.mallopt(M_MMAP_THRESHOLD, int(mb) * 2**20):
        raise ValueError(f"glibc refused an mmap threshold of {mb} MiB (it takes at most {MMAP_THRESHOLD_MAX_MB})")
    return True


def mapped_bytes() -> int | None:
    """Bytes of the live blocks glibc serves from their own mappings (mallinfo2's hblkhd); None where not glibc."""
    libc = _glibc()
    if libc is None or not hasattr(libc, "mallinfo2"):  # mallinfo2: glibc 2.33 and later
        return None
    libc.mallinfo2.restype = _MallInfo2
    return int(libc.mallinfo2().hblkhd)
