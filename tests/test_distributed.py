"""Distributed runs: the accelerate config comes from the profile, and a 2-process DDP run on CPU
(gloo, tiny-random) leaves one complete run folder written by rank 0 alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from medft.cli import launch_main as main
from medft.config.compose import compose_train
from medft.recipes.launch import accelerate_config

ROOT = Path(__file__).resolve().parents[1]


def test_zero3_and_fsdp_configs_follow_the_profile():
    zero3 = accelerate_config(
        compose_train(["hardware=multi-gpu-zero3", "hardware.optimizer_offload=true", "training.batch_size=64"])
    )
    assert zero3["distributed_type"] == "DEEPSPEED" and zero3["num_processes"] == 8
    assert (
        zero3["deepspeed_config"]["zero_stage"] == 3 and zero3["deepspeed_config"]["offload_optimizer_device"] == "cpu"
    )
    assert zero3["deepspeed_config"]["gradient_accumulation_steps"] == 2  # 64 = 4 x 8 GPUs x 2
    fsdp = accelerate_config(compose_train(["hardware=multi-node", "training.batch_size=64"]))
    assert fsdp["distributed_type"] == "FSDP" and fsdp["num_machines"] == 2 and fsdp["num_processes"] == 16
    assert fsdp["fsdp_config"]["fsdp_version"] == 2 and fsdp["mixed_precision"] == "bf16"
    assert fsdp["fsdp_config"]["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"  # the decoder layer
    zero2 = accelerate_config(compose_train(["hardware=multi-gpu-zero2", "training.batch_size=64"]))
    assert zero2["deepspeed_config"]["zero_stage"] == 2 and zero2["deepspeed_config"]["zero3_init_flag"] is False
    offload = accelerate_config(compose_train(["hardware=multi-gpu-zero3-offload", "training.batch_size=64"]))
    assert offload["deepspeed_config"]["offload_optimizer_device"] == "cpu"


def test_multi_node_prints_one_command_per_node(tmp_path, capsys):
    assert main(["--print", "hardware=multi-node", "training.batch_size=64", f"output_root={tmp_path}"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("# node")]
    assert len(lines) == 2 and "--machine_rank 1" in lines[1] and "accelerate launch --config_file" in lines[0]
    config = next(tmp_path.glob("builtin/*/accelerate_config.yaml"))
    assert yaml.safe_load(config.read_text())["distributed_type"] == "FSDP"


def test_a_single_process_profile_is_refused(capsys):
    assert main(["hardware=cpu"]) == 2
    assert "runs one process" in capsys.readouterr().err


def test_two_process_ddp_on_cpu_gives_one_run_folder(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "medft",
            "launch",
            f"output_root={tmp_path}/outputs",
            f"cache_dir={tmp_path}/cache",
            "hardware.distributed=ddp",
            "hardware.devices_per_node=2",
            "model=tiny-random",
            "logger=none",
            "training.max_steps=4",
            "training.batch_size=8",
            "hardware.micro_batch_size=4",
            "training.save_every_steps=2",
            "dataset.eval_limit=8",
            "dataset.max_samples=64",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    runs = list((tmp_path / "outputs" / "builtin").iterdir())
    assert len(runs) == 1
    run = runs[0]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["train"]["world_size"] == 2 and metrics["train"]["steps"] == 4
    assert set(metrics) >= {"eval_before", "eval_after", "paired", "train"}
    assert json.loads((run / "manifest.json").read_text())["world_size"] == 2
    assert (run / "adapter" / "adapter_config.json").is_file() and (run / "accelerate_config.yaml").is_file()
    log = (run / "train.log").read_text()
    assert "2 process(es)" in log and "Rank 1 of 2 done" not in log  # rank 1 logs to the console only
    assert "Rank 1 of 2 done" in result.stdout + result.stderr
