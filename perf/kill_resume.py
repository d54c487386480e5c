"""Kill a training run with SIGKILL at random moments, resume it each time, compare with a clean run.

    OMP_NUM_THREADS=1 PYTHONPATH=. python perf/kill_resume.py --model smollm2-135m --steps 30 \\
        --kills 20 --batch-size 2 --out /tmp/kill_resume [--seed 0]

One uninterrupted run first (the reference; it also measures how long a launch takes to reach
its first step and how long a step takes). Then the same command again, killed with SIGKILL
after a delay drawn from a seeded RNG, relaunched with `resume=true`, killed again, ... `--kills`
times, then left to finish. A checkpoint is written every step, so kills also land inside
checkpoint writes, which resume must skip (medft/run/checkpoints.py). Printed: one row per
kill (delay, newest checkpoint on disk, what the next launch resumed from and what it skipped)
and the comparison: max abs difference of the final adapter weights and of the per-step losses
(trainer_state.json's log history). Exit code 0 when both are below --tolerance.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN_NAME = "kill_resume"


def overrides(model: str, steps: int, batch: int, out: Path, extra: list[str]) -> list[str]:
    return [
        f"model={model}",
        "logger=none",
        f"training.max_steps={steps}",
        f"training.batch_size={batch}",
        f"hardware.micro_batch_size={batch}",
        "training.save_every_steps=1",
        "training.save_total_limit=2",
        "training.logging_steps=1",
        "eval.before=false",
        "eval.after=false",
        "eval.validation=false",
        "hardware.num_threads=1",
        f"output_root={out}",
        f"name={RUN_NAME}",
        *extra,
    ]


def started_folder(out: Path) -> Path | None:
    """The newest folder whose run started training (started.json): the one resume=true continues."""
    found = sorted(p for p in (out / RUN_NAME).glob("*") if (p / "started.json").is_file())
    return found[-1] if found else None


def run_folder(out: Path) -> Path | None:
    """The run being trained: the newest started one, else the newest folder a launch created."""
    found = sorted(p for p in (out / RUN_NAME).glob("*") if (p / ".hydra").is_dir())
    return started_folder(out) or (found[-1] if found else None)


def launch(args: list[str], log_file: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handle = open(log_file, "w", encoding="utf-8")
    return subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *args], cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT
    )


def newest_checkpoint_step(run_dir: Path | None) -> int | None:
    if run_dir is None:
        return None
    steps = [int(p.name.split("-")[-1]) for p in (run_dir / "checkpoints").glob("checkpoint-*")]
    return max(steps) if steps else None


def reference_run(base: list[str], out: Path) -> dict:
    started = time.time()
    proc = launch(base + ["resume=false"], out / "reference.log")
    if proc.wait() != 0:
        raise SystemExit(f"the reference run failed; see {out / 'reference.log'}")
    wall = time.time() - started
    run_dir = run_folder(out)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    train = metrics["train"]
    return {
        "run_dir": run_dir,
        "wall_s": wall,
        "startup_s": wall - train["wall_s"],  # imports, data, model
        "step_s": train["wall_s"] / train["steps"],
    }


def resumed_from(log_text: str) -> tuple[str, list[str]]:
    start = re.search(r"Resuming from .*?(checkpoint-\d+)", log_text)
    skipped = re.findall(r"Not resuming from (checkpoint-\d+): ([^.]*)", log_text)
    return (start.group(1) if start else "step 0"), [f"{name} ({why.split(':')[0]})" for name, why in skipped]


def sealed_step(run_dir: Path | None) -> int:
    """The newest step with a complete (sealed) checkpoint, 0 when none."""
    from medft.run.checkpoints import SEAL_FILE

    if run_dir is None:
        return 0
    steps = [int(p.parent.name.split("-")[-1]) for p in (run_dir / "checkpoints").glob(f"checkpoint-*/{SEAL_FILE}")]
    return max(steps, default=0)


def wait_for_new_checkpoint(proc: subprocess.Popen, out: Path, launched: float, at_most: float | None = None) -> bool:
    """Block until this launch starts writing a checkpoint folder (False: it exited first, or
    `at_most` seconds after `launched` passed first).

    By creation time, not step: a half-written folder a previous kill left is no new checkpoint,
    and the one this launch writes after moving it aside has the same name."""
    while proc.poll() is None:
        if at_most is not None and time.time() - launched >= at_most:
            return False
        run_dir = run_folder(out)
        if run_dir is not None and any(
            p.stat().st_ctime >= launched for p in (run_dir / "checkpoints").glob("checkpoint-*")
        ):
            return True
        time.sleep(0.02)
    return False


def kill_moments(kills: int, seed: int, startup_s: float, step_s: float) -> list[tuple[str, float]]:
    """A quarter of the kills land at a random time in a launch's startup (imports, data, model,
    loading the checkpoint; drawn over the reference's startup, cut short where a launch's own
    startup ends sooner); the rest at a random time within one step of the moment the launch
    starts writing its first new checkpoint, so many land inside a checkpoint write and a launch
    advances 1-2 steps: 20 kills fit in a 30-step run."""
    rng = random.Random(seed)
    return [
        ("startup", rng.uniform(0, startup_s)) if rng.random() < 0.25 else ("training", rng.uniform(0, step_s))
        for _ in range(kills)
    ]


def killed_run(base: list[str], out: Path, moments: list[tuple[str, float]]) -> tuple[Path, list[dict]]:
    rows = []
    for attempt in range(len(moments) + 1):
        log_file = out / f"attempt-{attempt:02d}.log"
        # A launch killed before its run started training (started.json) left nothing to resume: start anew.
        resume = "true" if started_folder(out) is not None else "false"
        launched = time.time()
        proc = launch(base + [f"resume={resume}"], log_file)
        phase, delay = moments[attempt] if attempt < len(moments) else ("none", None)
        if phase == "training":
            if wait_for_new_checkpoint(proc, out, launched):
                try:
                    proc.wait(timeout=delay)
                except subprocess.TimeoutExpired:
                    proc.send_signal(signal.SIGKILL)
            else:
                phase = "finished first"
        elif phase == "startup":
            if wait_for_new_checkpoint(proc, out, launched, at_most=delay):
                # This launch's startup was shorter than the reference's (warm caches, a quieter
                # machine): kill it as its first checkpoint write begins, so the kill still lands.
                phase, delay = "startup, cut at first checkpoint", time.time() - launched
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
        proc.wait()
        start, skipped = resumed_from(log_file.read_text(encoding="utf-8", errors="replace"))
        rows.append(
            {
                "attempt": attempt,
                "phase": phase,
                "delay_s": delay,
                "exit": proc.returncode,
                "since_launch_s": round(time.time() - launched, 1),
                "resumed_from": start,
                "skipped": skipped,
                "newest_checkpoint_after": newest_checkpoint_step(run_folder(out)),
                "sealed_after": sealed_step(run_folder(out)),
            }
        )
        if proc.returncode == 0 or (run_folder(out) / "metrics.json").is_file():  # killed after it finished
            break
        if proc.returncode != -signal.SIGKILL:
            raise SystemExit(f"attempt {attempt} exited with {proc.returncode}; see {log_file}")
    return run_folder(out), rows


def adapter_weights(run_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(run_dir / "adapter" / "adapter_model.safetensors"))


def step_losses(run_dir: Path) -> dict[int, float]:
    final = max((run_dir / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    history = json.loads((final / "trainer_state.json").read_text())["log_history"]
    return {entry["step"]: entry["loss"] for entry in history if "loss" in entry}


def compare(reference: Path, resumed: Path) -> dict:
    ref_w, res_w = adapter_weights(reference), adapter_weights(resumed)
    assert ref_w.keys() == res_w.keys(), "the two adapters hold different tensors"
    weight_diff = max(float((ref_w[k] - res_w[k]).abs().max()) for k in ref_w)
    ref_l, res_l = step_losses(reference), step_losses(resumed)
    assert ref_l.keys() == res_l.keys(), f"logged steps differ: {sorted(ref_l)} vs {sorted(res_l)}"
    loss_diff = max(abs(ref_l[s] - res_l[s]) for s in ref_l)
    return {
        "max_abs_weight_diff": weight_diff,
        "max_abs_loss_diff": loss_diff,
        "steps_compared": len(ref_l),
        "tensors_compared": len(ref_w),
    }


def kill_resume(
    model: str, steps: int, kills: int, out: Path, seed: int = 0, batch: int = 2, extra: list[str] = ()
) -> dict:
    """The whole experiment; returns the reference timing, the kill rows and the comparison."""
    out.mkdir(parents=True, exist_ok=True)
    ref_out, killed_out = out / "reference", out / "killed"
    ref = reference_run(overrides(model, steps, batch, ref_out, list(extra)), ref_out)
    moments = kill_moments(kills, seed, ref["startup_s"], ref["step_s"])
    resumed_dir, rows = killed_run(overrides(model, steps, batch, killed_out, list(extra)), killed_out, moments)
    return {
        "reference": {k: (str(v) if isinstance(v, Path) else v) for k, v in ref.items()},
        "rows": rows,
        "kills_landed": sum(r["exit"] == -signal.SIGKILL for r in rows),
        **compare(ref["run_dir"], resumed_dir),
    }


def print_table(result: dict) -> None:
    ref = result["reference"]
    print(
        f"reference: {ref['wall_s']:.0f} s, training starts after {ref['startup_s']:.1f} s, {ref['step_s']:.2f} s/step"
    )
    print(
        "| launch | kill moment | killed after (s) | ended (s after launch) | exit | resumed from "
        "| skipped (half-written) | newest checkpoint folder after | newest sealed after |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in result["rows"]:
        delay = f"{r['delay_s']:.2f}" if r["delay_s"] is not None else "-"
        print(
            f"| {r['attempt']} | {r['phase']} | {delay} | {r['since_launch_s']} | {r['exit']} | {r['resumed_from']} "
            f"| {', '.join(r['skipped']) or '-'} | {r['newest_checkpoint_after']} | {r['sealed_after']} |"
        )
    print(
        f"kills that landed: {result['kills_landed']}; steps compared: {result['steps_compared']}; "
        f"adapter tensors compared: {result['tensors_compared']}"
    )
    print(f"max abs adapter weight difference: {result['max_abs_weight_diff']:.3g}")
    print(f"max abs per-step loss difference: {result['max_abs_loss_diff']:.3g}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0, help="seeds the kill delays (the run's seed is the config's)")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True, help="an empty folder for both runs and their logs")
    parser.add_argument("--tolerance", type=float, default=1e-5)
    parser.add_argument("overrides", nargs="*", help="extra train.py overrides for both runs")
    args = parser.parse_args(argv)
    result = kill_resume(args.model, args.steps, args.kills, args.out, args.seed, args.batch_size, args.overrides)
    (args.out / "kill_resume.json").write_text(json.dumps(result, indent=2, default=str))
    print_table(result)
    ok = result["max_abs_weight_diff"] < args.tolerance and result["max_abs_loss_diff"] < args.tolerance
    print("PASS" if ok else "FAIL", f"(tolerance {args.tolerance:g})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
