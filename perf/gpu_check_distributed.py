"""What the CPU cannot show, checked in one go on a machine with NVIDIA GPUs.

    python perf/gpu_check_distributed.py [--model smollm2-135m] [--steps 4] [--out gpu_check]

On CPU processes (gloo) medft trains DeepSpeed ZeRO-2, ZeRO-3 and ZeRO-3 with offload, and FSDP2 with
LoRA, QLoRA and full fine-tuning (see docs/results/distributed-cpu). What a CPU cannot show runs here, each
as its own `medft launch` or `train.py` run under --out, each line printing PASS/FAIL with the reason:
- FSDP2 and ZeRO-3 on CUDA devices (NCCL), LoRA and full fine-tuning;
- QLoRA (quantization=nf4) with bitsandbytes' CUDA kernels, one GPU and with ZeRO-3 and FSDP;
- flash-attention 2 (hardware.attn_implementation=flash_attention_2) and Liger kernels (hardware.fast_kernels=liger);
- the planner's per-rank figure next to each rank's torch.cuda.max_memory_allocated (peak_mem_mb in
  metrics.json for rank 0; the "Rank 1 of N done (peak memory ...)" console line for the others).
With one GPU the multi-process cases run 2 processes on it (both ranks share the device's memory).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMON = ["logger=none", "training.batch_size=8", "hardware.micro_batch_size=4", "dataset.eval_limit=16"]
GPU = ["hardware=a100-80g", "hardware.memory_budget_gb=70"]
CASES = {  # name: (launched on 2 processes?, overrides)
    "fsdp-lora": (True, ["hardware.distributed=fsdp", "peft_method=lora"]),
    "fsdp-full": (True, ["hardware.distributed=fsdp", "peft_method=full", "quantization=none"]),
    "zero3-lora": (True, ["hardware.distributed=deepspeed_zero3", "peft_method=lora"]),
    "zero3-qlora": (True, ["hardware.distributed=deepspeed_zero3", "quantization=nf4"]),
    "fsdp-qlora": (True, ["hardware.distributed=fsdp", "quantization=nf4"]),
    "zero3-offload-full": (
        True,
        ["hardware.distributed=deepspeed_zero3", "hardware.optimizer_offload=true", "peft_method=full"],
    ),
    "qlora-one-gpu": (False, ["quantization=nf4"]),
    "flash-attention": (False, ["hardware.attn_implementation=flash_attention_2"]),
    "liger": (False, ["hardware.fast_kernels=liger"]),
}


def run_case(name: str, distributed: bool, overrides: list[str], args) -> str:
    folder = Path(args.out) / name
    common = [f"model={args.model}", f"training.max_steps={args.steps}", f"output_root={folder}", *COMMON, *GPU]
    if distributed:
        cmd = [sys.executable, "-m", "medft", "launch", "hardware.devices_per_node=2", *common, *overrides]
    else:
        cmd = [sys.executable, "train.py", *common, *overrides]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=args.timeout)
    (folder / "console.log").parent.mkdir(parents=True, exist_ok=True)
    (folder / "console.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-3:]
        return f"FAIL {name}: exit {result.returncode}: {' | '.join(tail)}"
    metrics = json.loads(next(folder.rglob("metrics.json")).read_text())
    plan = re.search(r"total\s+([\d.]+) GiB", (result.stdout + result.stderr))
    ranks = re.findall(r"Rank (\d+) of \d+ done \(peak memory (\d+) MB\)", result.stdout + result.stderr)
    peaks = {"0": round(metrics["train"]["peak_mem_mb"])} | dict(ranks)
    planned = f"{float(plan.group(1)) * 1024:.0f} MB" if plan else "?"
    return f"PASS {name}: loss {metrics['train']['train_loss']:.4f}, planned {planned} per rank, peak MB {peaks}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--out", default="outputs/gpu_check")
    parser.add_argument("--timeout", type=int, default=900)
    parser.add_argument("--only", nargs="*", default=list(CASES))
    args = parser.parse_args()
    failed = 0
    for name in args.only:
        line = run_case(name, *CASES[name], args)
        failed += line.startswith("FAIL")
        print(line, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
