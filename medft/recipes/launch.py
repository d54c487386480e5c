"""Distributed training from the Hydra config: `medft launch [--print] [overrides...]`.

The composed config stays the single source of truth. From the hardware profile this writes
the accelerate config (DeepSpeed ZeRO-3, FSDP or DDP) into the run folder, fixes the run
folder once for every process, and starts `accelerate launch train.py ...` (GPU), or
`torchrun --standalone` for DDP on CPU (gloo). `--print` writes the config and prints the
command for each node instead of running it (multi-node: run each line on its node, or submit
them with `hydra/launcher=slurm`). Every process trains; only rank 0 evaluates and writes files.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from pathlib import Path

from medft.config.compose import compose_train
from medft.config.derived import grad_accumulation
from medft.config.engines import fsdp_options
from medft.config.errors import UserError
from medft.config.validate import validate
from medft.hardware.environment import check_environment
from medft.run.folders import resolve_run_dir
from medft.runtime.files import atomic_write_text

ROOT = Path(__file__).resolve().parents[2]  # the repository: train.py is there
MIXED = {"bf16": "bf16", "fp16": "fp16", "fp32": "no"}
ZERO_STAGE = {"deepspeed_zero2": 2, "deepspeed_zero3": 3}


def accelerate_config(cfg) -> dict:
    """accelerate's config file contents for the profile (see `accelerate config` for the keys)."""
    hw = cfg.hardware
    base = {
        "compute_environment": "LOCAL_MACHINE",
        "mixed_precision": MIXED[hw.precision],
        "num_machines": int(hw.n_nodes),
        "num_processes": int(hw.devices_per_node) * int(hw.n_nodes),
        "machine_rank": 0,
        "main_training_function": "main",
        "rdzv_backend": "static",
        "same_network": True,
        "use_cpu": hw.device == "cpu",
    }
    if hw.distributed in ZERO_STAGE:
        return {**base, "distributed_type": "DEEPSPEED", "deepspeed_config": deepspeed_section(cfg)}
    if hw.distributed == "fsdp":
        return {**base, "distributed_type": "FSDP", "fsdp_config": fsdp_section(cfg)}
    return {**base, "distributed_type": "MULTI_CPU" if hw.device == "cpu" else "MULTI_GPU"}


def deepspeed_section(cfg) -> dict:
    """accelerate's `deepspeed_config` block: the ZeRO stage and offload from the profile."""
    hw = cfg.hardware
    stage = ZERO_STAGE[hw.distributed]
    return {
        "zero_stage": stage,
        "zero3_init_flag": stage == 3,  # stage 3 only: each rank builds only its shard of a large model
        "zero3_save_16bit_model": stage == 3,  # stage 3: save_model gathers one full state dict on rank 0
        "offload_optimizer_device": "cpu" if hw.optimizer_offload else "none",
        "offload_param_device": "none",  # parameter offload costs a host round trip per layer per step
        "gradient_accumulation_steps": grad_accumulation(cfg),
        "gradient_clipping": cfg.optimizer.max_grad_norm,
        # several nodes: each runs its own printed command (torchrun-style), not DeepSpeed's pdsh/ssh launcher
        "deepspeed_multinode_launcher": "standard",
    }


def fsdp_section(cfg) -> dict:
    """accelerate's `fsdp_config` block: the same FSDP2 settings TrainingArguments gets (builders.fsdp_options)."""
    options = fsdp_options(cfg.hardware)
    options["offload_params"] = options.pop("cpu_offload")
    return {f"fsdp_{key}": value for key, value in options.items()}


def commands(
    cfg, overrides: list[str], run_dir: Path, config_file: Path, main_ip: str = "$MAIN_IP", port: int = 29500
) -> list[list[str]]:
    """One command per node; DDP on CPU through torchrun (accelerate's multi-CPU path expects MPI),
    every other engine through `accelerate launch` (DeepSpeed falls back to gloo on CPU)."""
    script = [str(ROOT / "train.py"), *overrides, f"hydra.run.dir={run_dir}"]
    hw = cfg.hardware
    if hw.device == "cpu" and hw.distributed == "ddp" and hw.n_nodes == 1:
        return [["torchrun", "--standalone", f"--nproc_per_node={hw.devices_per_node}", *script]]
    out = []
    for node in range(int(hw.n_nodes)):
        cmd = ["accelerate", "launch", "--config_file", str(config_file)]
        if hw.n_nodes > 1:
            cmd += ["--machine_rank", str(node), "--main_process_ip", main_ip, "--main_process_port", str(port)]
        out.append(cmd + script)
    return out


def shell_line(cmd: list[str], variables: tuple[str, ...] = ("$MAIN_IP",)) -> str:
    """`cmd` as a shell line to paste: every argument quoted, except that a variable placeholder is
    double-quoted so the shell expands it (shlex.join would single-quote `$MAIN_IP`, passing it literally)."""
    return " ".join(f'"{arg}"' if arg in variables else shlex.quote(arg) for arg in cmd)


def launch(overrides: list[str], print_only: bool = False) -> int:
    """Write the accelerate config into the run folder and start (or, `print_only`, print) the command per node."""
    import yaml

    cfg = compose_train(overrides)
    validate(cfg, dry_run=print_only)
    if not print_only:
        check_environment(cfg)
    if cfg.hardware.distributed == "none" or cfg.hardware.devices_per_node * cfg.hardware.n_nodes < 2:
        raise UserError(
            f"hardware={cfg.hardware.name} runs one process; use python train.py, or a profile with "
            "hardware.distributed=ddp|fsdp|deepspeed_zero3 and devices_per_node x n_nodes > 1 "
            "(e.g. hardware=multi-gpu-fsdp, or hardware.distributed=ddp hardware.devices_per_node=2)"
        )
    run_dir = Path(resolve_run_dir(cfg.output_root, cfg.name, cfg.resume, time.strftime("%Y-%m-%d_%H-%M-%S")))
    run_dir.mkdir(parents=True, exist_ok=True)
    config_file = run_dir / "accelerate_config.yaml"
    atomic_write_text(
        config_file,
        "# generated by medft launch from the Hydra config; edit the profile, not this\n"
        + yaml.safe_dump(accelerate_config(cfg), sort_keys=False),
    )
    cmds = commands(cfg, overrides, run_dir, config_file)
    if print_only or len(cmds) > 1:
        if len(cmds) > 1:
            print("# set MAIN_IP to node 0's address on every node first, e.g. export MAIN_IP=10.0.0.1")
        for node, cmd in enumerate(cmds):
            print(f"# node {node}:" if len(cmds) > 1 else "#", shell_line(cmd))
        return 0
    env = dict(os.environ)
    if cfg.hardware.device == "cpu" and not cfg.hardware.num_threads:
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // cfg.hardware.devices_per_node)))
    print("#", shlex.join(cmds[0]), flush=True)
    return subprocess.call(cmds[0], env=env)
