"""The overnight sweep's view of one run, through train.py as a user runs it: a run interrupted with
Ctrl-C, a second process refused while it is running, a dry run and a run refused by validation
under the same name, a resume refused for a changed key, then `resume=true` continuing the right
folder to the weights and metrics of the run that was never interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import RUN_VOLATILE_KEYS
from omegaconf import OmegaConf
from safetensors.torch import load_file

from medft.config.compose import compose_train
from medft.recipes.train import run
from medft.run.checkpoints import SEAL_FILE

pytestmark = pytest.mark.faults

ROOT = Path(__file__).resolve().parent.parent
STEPS = 40  # long enough that the interruption lands mid-run
RUN = [
    "model=tiny-random",
    "logger=none",
    f"training.max_steps={STEPS}",
    "training.batch_size=4",
    "hardware.micro_batch_size=4",
    "training.save_every_steps=1",
    "training.save_total_limit=3",
    "training.logging_steps=1",
    "training.eval_batch_size=16",
    "dataset.eval_limit=12",
    "dataset.max_samples=64",
    "eval.before=true",
    "eval.validation=false",
    "hardware.num_threads=1",
]
VOLATILE = RUN_VOLATILE_KEYS


def train_py(args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=ROOT,
        env=env,
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
    )


def finished(args: list[str], log: Path, timeout: int = 600) -> tuple[int, str]:
    proc = train_py(args, log)
    return proc.wait(timeout=timeout), log.read_text()


def comparable(metrics: dict) -> dict:
    return {
        k: ({n: v for n, v in value.items() if n not in VOLATILE} if k == "train" else value)
        for k, value in metrics.items()
        if k not in VOLATILE
    }


def test_an_interrupted_run_comes_back_as_if_it_had_never_stopped(tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "out"
    args = [*RUN, f"cache_dir={cache}", f"output_root={out}", "name=job"]
    reference = run(compose_train([*RUN, f"cache_dir={cache}"]), tmp_path / "reference")

    first = train_py(args, tmp_path / "first.log")
    deadline = time.time() + 300
    while not list(out.glob(f"job/*/checkpoints/checkpoint-*/{SEAL_FILE}")):
        assert first.poll() is None and time.time() < deadline, (tmp_path / "first.log").read_text()[-3000:]
        time.sleep(0.05)
    (run_dir,) = (out / "job").iterdir()
    first_config = (run_dir / ".hydra" / "config.yaml").read_bytes()

    # While it trains (held still, so it cannot finish first), resume=true is refused before Hydra writes there.
    first.send_signal(signal.SIGSTOP)
    time.sleep(0.5)
    log_size = (run_dir / "train.log").stat().st_size
    try:
        code, log = finished([*args, "resume=true"], tmp_path / "joiner.log")
    finally:
        first.send_signal(signal.SIGCONT)
    assert code == 2 and f"{run_dir} is in use by pid {first.pid} on host " in log and "Traceback" not in log
    assert not (run_dir / ".hydra" / "resumes").exists() and (run_dir / "train.log").stat().st_size == log_size

    first.send_signal(signal.SIGINT)  # Ctrl-C: a checkpoint, one line, exit 130
    assert first.wait(timeout=120) == 130, (tmp_path / "first.log").read_text()[-3000:]
    log = (tmp_path / "first.log").read_text()
    assert "Traceback" not in log and "KeyboardInterrupt" not in log
    (stopped,) = [line for line in log.splitlines() if "Stopped by Ctrl-C after step" in line]
    step = int(stopped.split("after step ")[1].split(";")[0])
    assert 0 < step < STEPS and f"checkpoint-{step} saved. Continue with: " in stopped and "resume=true" in stopped

    code, log = finished([*args, "dry_run=true"], tmp_path / "dry.log")
    assert code == 0, log[-3000:]
    code, log = finished([*args, "training.batch_size=0"], tmp_path / "refused.log")
    assert code == 2 and "batch_size" in log, log[-3000:]
    assert len(list((out / "job").iterdir())) == 3  # the run, the dry run, the refused run: none resumable

    code, log = finished([*args, "resume=true", "peft_method.r=4"], tmp_path / "changed.log")
    assert code == 2 and "  peft_method.r: 16 -> 4" in log and "resume=false" in log, log[-3000:]
    assert "size mismatch" not in log and (run_dir / ".hydra" / "config.yaml").read_bytes() == first_config
    assert not (run_dir / ".hydra" / "resumes").exists()  # a refused resume leaves no record of one

    code, log = finished([*args, "resume=true", "training.logging_steps=2"], tmp_path / "resumed.log")
    assert code == 0, log[-3000:]
    assert f"Resuming from checkpoint-{step} (step {step} of {STEPS}) in {run_dir}" in log
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["train"]["resumed_from"] == str(run_dir / "checkpoints" / f"checkpoint-{step}")
    assert comparable(metrics) == comparable(reference)
    weights = load_file(str(run_dir / "adapter" / "adapter_model.safetensors"))
    ref_weights = load_file(str(tmp_path / "reference" / "adapter" / "adapter_model.safetensors"))
    assert weights.keys() == ref_weights.keys() and all(torch.equal(weights[k], ref_weights[k]) for k in weights)

    # The record of the run: the first start's config; this start's under .hydra/resumes/; the change in the manifest.
    assert (run_dir / ".hydra" / "config.yaml").read_bytes() == first_config
    (resumed_config,) = (run_dir / ".hydra" / "resumes").glob("*/config.yaml")
    assert OmegaConf.load(resumed_config).training.logging_steps == 2
    (resume,) = json.loads((run_dir / "manifest.json").read_text())["resumes"]
    assert resume["changed"] == {"training.logging_steps": {"old": 1, "new": 2}}
