"""An N-job sweep on a small model: jobs one after another with every core each (the default launcher)
against N/cores jobs at once with one thread each (`hydra/launcher=joblib`), same jobs, one run.

    python perf/bench_sweep_threads.py --model smollm2-135m --steps 4 --values 4,8

Each arrangement runs the same `peft_method.r=<values>` sweep from scratch in its own output folder
(base scoring off, so only training and the after-scores are compared; the score cache is a separate
saving). Printed: each arrangement's wall time and the ratio.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sweep(out: Path, model: str, steps: int, values: str, launcher: list[str]) -> float:
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        "-m",
        f"model={model}",
        f"peft_method.r={values}",
        f"training.max_steps={steps}",
        f"training.save_every_steps={steps}",
        "logger=none",
        "eval.before=false",
        "eval.validation=false",
        "dataset.eval_limit=24",
        f"output_root={out}",
        *launcher,
    ]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode:
        sys.exit(f"failed: {' '.join(command)}\n{result.stderr[-3000:]}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--values", default="4,8", help="peft_method.r values: one job each")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    jobs = len(args.values.split(","))
    arrangements = {
        f"{jobs} jobs one after another x {cores} threads": [],
        f"{min(jobs, cores)} jobs at once x {max(1, cores // min(jobs, cores))} thread(s)": [
            "hydra/launcher=joblib",
            f"hydra.launcher.n_jobs={min(jobs, cores)}",
        ],
    }
    walls = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, launcher in arrangements.items():
            walls[label] = sweep(Path(tmp) / str(len(walls)), args.model, args.steps, args.values, launcher)
            print(f"{label}: {walls[label]:.1f} s", flush=True)
    (sequential, parallel) = walls.values()
    print(
        f"\n{args.model}, {jobs} jobs of {args.steps} steps, {cores} cores: parallel / sequential speed-up "
        f"{sequential / parallel:.2f}x"
    )


if __name__ == "__main__":
    main()
