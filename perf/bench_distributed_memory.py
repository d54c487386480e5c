"""Per-rank peak memory of a distributed run next to the planner's per-rank figure, one run per engine.

    python perf/bench_distributed_memory.py --engines fsdp deepspeed_zero3 -- model=smollm2-135m peft_method=full ...

For each engine, `python -m medft launch <overrides> hardware.distributed=<engine>
hardware.devices_per_node=2` runs in a fresh process group; every 0.5 s this script reads each rank's `train.py`
process's peak resident set so far (VmHWM in /proc/<pid>/status, the kernel's high-water mark) and keeps
the last; `--trace` writes the resident set at each sample (VmRSS). Printed per
engine: the planner's figure for each rank (medft.hardware.planner.plan_training on the same config;
under ZeRO-3 and FSDP rank 0 also loads an unsharded copy after training, to save and score it), each
rank's measured peak and plan / peak - 1. The run folders go to a temporary folder removed after each
engine unless the overrides name an `output_root=` (full fine-tuning leaves GBs of checkpoints per run).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without install


def status_mb(pid: int, field: str = "VmRSS") -> float:
    """A size from /proc/<pid>/status in MB: VmRSS (resident now) or VmHWM (its peak so far)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def engine_overrides(engine: str, overrides: list[str], devices: int) -> list[str]:
    return [*overrides, f"hardware.distributed={engine}", f"hardware.devices_per_node={devices}"]


def planned_mb(engine: str, overrides: list[str], devices: int) -> list[float]:
    """The planner's figure for each rank (rank 0 holds more under the engines that shard weights)."""
    from medft.config.compose import compose_train
    from medft.hardware.planner import plan_training

    plan = plan_training(compose_train(engine_overrides(engine, overrides, devices)))
    return [plan.total_bytes / 2**20] + [plan.other_ranks_bytes / 2**20] * (devices - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", nargs="+", default=["fsdp"])
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--trace", type=Path, default=None, help="write every sample (seconds, rank, MB) here")
    parser.add_argument(
        "overrides",
        nargs="*",
        help="train.py overrides shared by every engine; without output_root=, each run goes to a temporary "
        "folder deleted after it (full fine-tuning checkpoints are GBs per run)",
    )
    args = parser.parse_args()
    rows = []
    for engine in args.engines:
        plan = planned_mb(engine, args.overrides, args.devices)
        with run_folder_root(args.overrides) as overrides:
            peaks, wall = run_engine(engine, overrides, args.devices, args.trace)
        planned = " / ".join(f"{mb:,.0f}" for mb in plan)
        ranks = " / ".join(f"{peaks.get(r, 0):,.0f}" for r in range(args.devices))
        ratios = " / ".join(f"{plan[r] / peaks[r] - 1:+.0%}" if peaks.get(r) else "-" for r in range(args.devices))
        rows.append(f"{engine:<16} plan per rank {planned} MB | peak RSS per rank {ranks} MB | {ratios} | {wall:.0f} s")
        print(rows[-1], flush=True)
    print("\n".join(["", "overrides: " + " ".join(args.overrides), *rows]))


@contextmanager
def run_folder_root(overrides: list[str]):
    """The overrides, with a temporary output_root (removed afterwards) unless they name one."""
    if any(o.startswith("output_root=") for o in overrides):
        yield overrides
        return
    with tempfile.TemporaryDirectory(prefix="medft-bench-") as root:
        yield [*overrides, f"output_root={root}"]


def run_engine(engine: str, overrides: list[str], devices: int, trace: Path | None = None):
    """One `medft launch`; its ranks are found by a tag in the environment they inherit from it."""
    tag = f"{os.getpid()}-{engine}"
    command = [sys.executable, "-m", "medft", "launch", *engine_overrides(engine, overrides, devices)]
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "MEDFT_BENCH_LAUNCHER": tag}
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log_lines: list[str] = []
    reader = threading.Thread(target=lambda: log_lines.extend(process.stdout), daemon=True)
    reader.start()
    peaks: dict[int, float] = {}
    samples = []
    while process.poll() is None:
        for rank, pid in tagged_ranks(tag).items():
            samples.append((time.time(), rank, status_mb(pid)))
            # the kernel's high-water mark: spikes shorter than the sampling interval count too
            peaks[rank] = max(peaks.get(rank, 0.0), samples[-1][2], status_mb(pid, "VmHWM"))
        time.sleep(0.5)
    if trace is not None:  # wall-clock seconds, to line up with the run's log timestamps
        with trace.open("a") as out:
            out.writelines(f"{t:.1f} {engine} rank{r} {mb:.0f}\n" for t, r, mb in samples)
    reader.join(timeout=10)
    if process.returncode:
        sys.exit(f"{engine}: exit {process.returncode}\n{''.join(log_lines[-40:])}")
    return peaks, time.perf_counter() - started


def tagged_ranks(tag: str) -> dict[int, int]:
    """{rank: pid} of the train.py processes carrying `tag` in MEDFT_BENCH_LAUNCHER."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            if not any(part.endswith(b"train.py") for part in cmdline):
                continue
            environ = dict(
                item.split(b"=", 1) for item in (entry / "environ").read_bytes().split(b"\0") if b"=" in item
            )
        except OSError:  # the process ended while being read
            continue
        if environ.get(b"MEDFT_BENCH_LAUNCHER") == tag.encode() and b"RANK" in environ:
            found[int(environ[b"RANK"])] = int(entry.name)
    return found


if __name__ == "__main__":
    main()
