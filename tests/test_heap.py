"""glibc's mmap threshold: a fixed one keeps large blocks out of the heap, and medft sets it only on the
CPU ranks of the engines that shard model state (their per-layer buffers grew the heap step after step)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from medft.config.compose import compose_train
from medft.config.engines import rank_mmap_threshold_mb
from medft.runtime.heap import mapped_bytes

ROOT = Path(__file__).resolve().parents[1]

# Run apart: the threshold is the whole process's. Under glibc's dynamic threshold, freeing a mapped 8 MiB
# block raises the threshold past it, so the next one comes from the heap; with set_mmap_threshold(4) first,
# it gets its own mapping again. (A block that fits in a free part of the heap is reused either way: the
# threshold decides only how the heap grows, which is why it is set before training starts.)
PROBE = """
import sys
import torch
from medft.runtime.heap import mapped_bytes, set_mmap_threshold
if sys.argv[1] == "fixed":
    assert set_mmap_threshold(4)
block = 2**21  # float32 elements: 8 MiB
first = torch.empty(block); del first
before = mapped_bytes(); again = torch.empty(block); print(mapped_bytes() - before)
"""


def _mapped_by_second_block(mode: str) -> int:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT)}
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return int(result.stdout)


@pytest.mark.skipif(mapped_bytes() is None, reason="glibc 2.33+ only (mallinfo2)")
def test_a_fixed_threshold_maps_a_large_block_the_dynamic_one_keeps_in_the_heap():
    assert _mapped_by_second_block("dynamic") == 0  # from the heap, which keeps it resident when freed
    assert _mapped_by_second_block("fixed") >= 8 * 2**20  # its own mapping, returned to the system when freed


FULL = ["peft_method=full", "hardware.devices_per_node=2"]


@pytest.mark.parametrize(
    "overrides,expected",
    [
        ([*FULL, "hardware.distributed=fsdp"], 4),
        ([*FULL, "hardware.distributed=deepspeed_zero3"], 4),
        ([*FULL, "hardware.distributed=deepspeed_zero2", "hardware.mmap_threshold_mb=8"], 8),
        ([*FULL, "hardware.distributed=fsdp", "hardware.mmap_threshold_mb=null"], None),
        ([*FULL, "hardware.distributed=ddp"], None),  # nothing sharded: glibc's default
        (["hardware.distributed=fsdp", "hardware.devices_per_node=2"], 4),  # LoRA: gathered weights, activations
        (["hardware.distributed=deepspeed_zero3", "hardware.devices_per_node=2", "quantization=nf4"], 4),  # QLoRA
        (["peft_method=full"], None),  # one process: not measured to help
        ([*FULL, "hardware=multi-gpu-fsdp", "training.batch_size=64"], None),  # GPU ranks: not malloc's tensors
    ],
)
def test_the_threshold_is_set_on_cpu_ranks_of_sharding_engines(overrides, expected):
    assert rank_mmap_threshold_mb(compose_train(overrides)) == expected


def test_the_plan_warns_where_glibc_heap_growth_is_left_in_place():
    from medft.hardware.planner import plan_training

    def notes(*overrides):
        cfg = compose_train(
            ["model=smollm2-135m", "hardware.distributed=fsdp", "hardware.devices_per_node=2", *overrides]
        )
        return " ".join(plan_training(cfg).notes)

    assert "glibc" not in notes("peft_method=full")  # the threshold is set: measured within 14% of the plan
    assert "1.6x these figures; hardware.mmap_threshold_mb=4 keeps them out" in notes(
        "peft_method=full", "hardware.mmap_threshold_mb=null"
    )
    assert "glibc" not in notes()  # LoRA too
    assert "1.3x these figures; hardware.mmap_threshold_mb=4 keeps them out" in notes("hardware.mmap_threshold_mb=null")
