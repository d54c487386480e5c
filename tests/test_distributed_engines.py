"""DeepSpeed ZeRO-2, ZeRO-3 and ZeRO-3 with offload, and FSDP2, on 2 CPU processes (gloo) through
`accelerate launch`, from the config `medft launch` writes, on tiny-random with LoRA (QLoRA and full
fine-tuning too): each run finishes with metrics.json written by rank 0, its step losses match one process
at the same effective batch, its checkpoints are the engine's own (one shard per rank), it resumes after
SIGTERM, and its consolidated adapter, and the merged model folded from it, equal the one-process run's.
FSDP runs on CPU through medft.runtime.cpu_fsdp (accelerate enables it for GPU device types only).

The DeepSpeed tests are `heavy` (about 1-2 minutes each on 2 shared cores, plus ~3 minutes the first time
DeepSpeed compiles its CPU collective): `python -m pytest -m heavy tests/test_distributed_engines.py`.
FSDP with LoRA (about 20 s a run) runs in the default suite, its QLoRA and full fine-tuning cases are heavy.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medft.config.compose import compose_train
from medft.hardware.planner import plan_training
from medft.runtime.heap import mapped_bytes

ROOT = Path(__file__).resolve().parents[1]
# Dropout off: each rank draws its own masks, so with dropout the losses differ from step 2 on (by ~1e-4)
COMMON = [
    "model=tiny-random",
    "logger=none",
    "training.batch_size=8",
    "hardware.micro_batch_size=4",
    "training.save_every_steps=2",
    "training.group_by_length=false",  # length grouping forms its groups per process: other batches
    "peft_method.dropout=0",
    "dataset.eval_limit=8",
    "dataset.max_samples=64",
]
LOSS_TOLERANCE = 1e-4  # relative, per step: the same batches, summed in another order across 2 ranks
needs_deepspeed = pytest.mark.skipif(importlib.util.find_spec("deepspeed") is None, reason="pip install .[deepspeed]")


def _run(args: list[str], tmp: Path, timeout: int = 900, **popen) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=timeout, env=env, **popen)


def _args(tmp: Path, name: str, steps: int) -> list[str]:
    return [
        *COMMON,
        f"output_root={tmp}/outputs",
        f"cache_dir={tmp}/cache",
        f"name={name}",
        f"training.max_steps={steps}",
    ]


def _launch(tmp: Path, name: str, engine: str, *extra: str, steps: int = 4) -> list[str]:
    return [
        sys.executable,
        "-m",
        "medft",
        "launch",
        f"hardware.distributed={engine}",
        "hardware.devices_per_node=2",
        *_args(tmp, name, steps),
        *extra,
    ]


def _only_run(tmp: Path, name: str) -> Path:
    (run,) = (tmp / "outputs" / name).iterdir()
    return run


def _losses(run: Path, step: int) -> list[float]:
    return json.loads((run / "checkpoints" / f"checkpoint-{step}" / "medft_losses.json").read_text())["losses"]


def _adapter(run: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(run / "adapter" / "adapter_model.safetensors")


def _single(tmp_path_factory, *extra: str) -> Path:
    tmp = tmp_path_factory.mktemp("single")
    result = _run([sys.executable, "train.py", *_args(tmp, "single", 4), *extra], tmp)
    assert result.returncode == 0, result.stderr[-3000:]
    return _only_run(tmp, "single")


@pytest.fixture(scope="module")
def one_process(tmp_path_factory) -> Path:
    return _single(tmp_path_factory)


@pytest.fixture(scope="module")
def one_process_nf4(tmp_path_factory) -> Path:
    return _single(tmp_path_factory, "quantization=nf4")


def _assert_one_shard_per_rank(run: Path, engine: str, step: int) -> None:
    checkpoint = run / "checkpoints" / f"checkpoint-{step}"
    if engine == "fsdp":  # torch.distributed.checkpoint: each rank writes its shard of weights and optimizer
        for part in ("pytorch_model_fsdp_0", "optimizer_0"):
            files = sorted(p.name for p in (checkpoint / part).iterdir())
            assert files == [".metadata", "__0_0.distcp", "__1_0.distcp"], part
        return
    # DeepSpeed's own checkpoint: one model-state and one optimizer-state file per rank
    shards = sorted(p.name for p in (checkpoint / f"global_step{step}").iterdir())
    assert [s for s in shards if "optim_states" in s] == [
        f"zero_pp_rank_{r}_mp_rank_00_optim_states.pt" for r in (0, 1)
    ]


heavy_deepspeed = [pytest.mark.heavy, needs_deepspeed]


@pytest.mark.parametrize(
    "engine, extra",
    [
        pytest.param("deepspeed_zero2", [], marks=heavy_deepspeed, id="zero2"),
        pytest.param("deepspeed_zero3", [], marks=heavy_deepspeed, id="zero3"),
        pytest.param("deepspeed_zero3", ["hardware.optimizer_offload=true"], marks=heavy_deepspeed, id="zero3-offload"),
        # QLoRA: the NF4 base is frozen, ZeRO-3 shards the adapter
        pytest.param("deepspeed_zero3", ["quantization=nf4"], marks=heavy_deepspeed, id="zero3-qlora"),
        pytest.param("fsdp", [], marks=pytest.mark.slow, id="fsdp"),
        pytest.param("fsdp", ["quantization=nf4"], marks=pytest.mark.heavy, id="fsdp-qlora"),
    ],
)
def test_sharded_engine_trains_on_two_cpu_processes_like_one(tmp_path, request, engine, extra):
    one_process = request.getfixturevalue("one_process_nf4" if "quantization=nf4" in extra else "one_process")
    result = _run(_launch(tmp_path, "ds", engine, *extra), tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run = _only_run(tmp_path, "ds")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["train"]["world_size"] == 2 and metrics["train"]["steps"] == 4
    log = (run / "train.log").read_text()
    assert f"Engine: {engine} on 2 process(es), backend gloo" in log
    if mapped_bytes() is not None:  # glibc: the cpu profile keeps the sharded buffers out of the heap
        assert "glibc mmap threshold 4 MiB (hardware.mmap_threshold_mb)" in log
    assert "Rank 1 of 2 done" not in log and "Rank 1 of 2 done" in result.stdout + result.stderr  # rank 1: console
    _assert_one_shard_per_rank(run, engine, 4)
    _assert_losses_match(run, one_process, 4)
    ours, theirs = _adapter(run), _adapter(one_process)
    assert any(float(t.abs().max()) > 0 for k, t in ours.items() if "lora_B" in k)
    _assert_same_weights(ours, theirs)  # consolidated from the shards: the one-process adapter
    single = json.loads((one_process / "metrics.json").read_text())
    assert {k: v["acc"] for k, v in metrics["eval_after"].items()} == {
        k: v["acc"] for k, v in single["eval_after"].items()
    }
    _assert_merged_models_agree(run, one_process, tmp_path)


def _assert_losses_match(run: Path, one_process: Path, step: int) -> None:
    for got, want in zip(_losses(run, step), _losses(one_process, step), strict=True):
        assert abs(got - want) <= LOSS_TOLERANCE * abs(want), (got, want)


def _assert_same_weights(ours: dict, theirs: dict) -> None:
    """The same tensors by name, each within 1e-5."""
    assert ours.keys() == theirs.keys()
    for key, tensor in ours.items():
        assert float((tensor - theirs[key]).abs().max()) <= 1e-5, key


def _assert_merged_models_agree(run: Path, one_process: Path, tmp: Path) -> None:
    """The sharded run's adapter folded into the base (what `medft export format=merged` writes) is the
    one-process run's merged model: same weights within 1e-5, same next-token scores on a prompt."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from medft.run.saved_model import merge_and_save

    ours = merge_and_save(run, tmp / "merged-sharded")
    theirs = merge_and_save(one_process, tmp / "merged-single")
    _assert_same_weights(load_file(ours / "model.safetensors"), load_file(theirs / "model.safetensors"))
    prompt = torch.arange(3, 40).unsqueeze(0)
    logits = [
        AutoModelForCausalLM.from_pretrained(m, dtype=torch.float32).eval()(prompt).logits for m in (ours, theirs)
    ]
    assert float((logits[0] - logits[1]).abs().max()) <= 1e-4


def _sealed(run_root: Path) -> list[Path]:
    return sorted(run_root.glob("*/checkpoints/checkpoint-*/medft_seal.json"))


@pytest.mark.heavy
def test_fsdp_full_fine_tuning_on_two_cpu_processes_like_one(tmp_path, tmp_path_factory):
    """Every weight trained and sharded: the gathered model equals the one-process run's."""
    from safetensors.torch import load_file

    one_process = _single(tmp_path_factory, "peft_method=full")
    result = _run(_launch(tmp_path, "full", "fsdp", "peft_method=full"), tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run = _only_run(tmp_path, "full")
    if mapped_bytes() is not None:  # glibc: the cpu profile keeps the per-layer gradient buffers out of the heap
        assert "glibc mmap threshold 4 MiB (hardware.mmap_threshold_mb)" in (run / "train.log").read_text()
    _assert_one_shard_per_rank(run, "fsdp", 4)
    _assert_losses_match(run, one_process, 4)
    _assert_same_weights(*(load_file(r / "model" / "model.safetensors") for r in (run, one_process)))


@pytest.mark.parametrize(
    "engine, shard_folder",
    [
        pytest.param("deepspeed_zero2", "global_step{}", marks=heavy_deepspeed, id="zero2"),
        pytest.param("deepspeed_zero3", "global_step{}", marks=heavy_deepspeed, id="zero3"),
        pytest.param("fsdp", "pytorch_model_fsdp_0", marks=pytest.mark.slow, id="fsdp"),
    ],
)
def test_sharded_run_resumes_after_sigterm(tmp_path, engine, shard_folder):
    args = _launch(tmp_path, "pre", engine, steps=40)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    deadline = time.time() + 600
    while not _sealed(tmp_path / "outputs" / "pre") and time.time() < deadline and process.poll() is None:
        time.sleep(0.5)
    assert process.poll() is None, process.stdout.read()[-3000:]
    os.killpg(process.pid, signal.SIGTERM)  # as SLURM does: every process of the job
    output = process.communicate(timeout=300)[0]
    run = _only_run(tmp_path, "pre")
    assert not (run / "metrics.json").exists(), output[-2000:]
    stopped_at = max(int(p.parent.name.split("-")[1]) for p in _sealed(tmp_path / "outputs" / "pre"))
    assert 2 <= stopped_at < 40 and "SIGTERM received" in output
    assert (run / "checkpoints" / f"checkpoint-{stopped_at}" / shard_folder.format(stopped_at)).is_dir()

    result = _run(_launch(tmp_path, "pre", engine, "resume=true", steps=40), tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["train"]["steps"] == 40 and f"checkpoint-{stopped_at}" in metrics["train"]["resumed_from"]
    assert len(_losses(run, 40)) == 40 and (run / "adapter" / "adapter_model.safetensors").is_file()


@pytest.mark.parametrize(
    "engine, sharded",
    [
        ("ddp", set()),
        ("deepspeed_zero2", {"gradients", "optimizer states"}),
        ("deepspeed_zero3", {"weights", "gradients", "optimizer states"}),
        ("fsdp", {"weights", "gradients", "optimizer states"}),
    ],
)
def test_planner_divides_what_each_stage_shards(engine, sharded):
    base = ["model=smollm2-135m", "peft_method=full", "quantization=none", "hardware=a100-80g"]
    alone = plan_training(compose_train(base)).parts
    four = plan_training(compose_train([*base, f"hardware.distributed={engine}", "hardware.devices_per_node=4"])).parts
    for part in ("weights", "gradients", "optimizer states"):
        assert four[part] == pytest.approx(alone[part] / (4 if part in sharded else 1)), part


def test_planner_adds_what_deepspeed_holds_besides_the_shards():
    """ZeRO-3 keeps a model under 1e9 parameters gathered whole during a step (stage3_max_live_parameters) and
    fills a reduce bucket with full-size gradients (as ZeRO-2 does), concatenated once more to be
    reduce-scattered, whose freed blocks glibc keeps on CPU, as it keeps a model's worth of gathered weights;
    ZeRO-2 clones its partition into an fp32 master copy. Measured on SmolLM2, 2 CPU processes:
    docs/results/distributed-cpu/index.md."""
    base = ["model=smollm2-135m", "peft_method=full", "quantization=none", "hardware.devices_per_node=2"]
    zero3 = plan_training(compose_train([*base, "hardware.distributed=deepspeed_zero3"])).parts
    assert zero3["weights"] + zero3["gathered weights (ZeRO-3)"] == pytest.approx(2 * zero3["weights"])
    zero2 = plan_training(compose_train([*base, "hardware.distributed=deepspeed_zero2"])).parts
    assert zero2["fp32 master partition (ZeRO-2)"] == pytest.approx(zero2["weights"] / 2)  # fp32: 4 bytes
    assert zero2["gradient reduce bucket (ZeRO-2)"] == pytest.approx(2 * zero2["gradients"])  # every full gradient
    big = ["model=llama3-70b", "peft_method=full", "hardware=a100-80g", "hardware.devices_per_node=8"]
    gathered = plan_training(compose_train([*big, "hardware.distributed=deepspeed_zero3"])).parts
    assert gathered["gathered weights (ZeRO-3)"] < gathered["weights"] * 8 / 50  # capped at 1e9 of 70e9 params
    # ZeRO-3's reduce bucket (5e8 elements by default) holds every full-size gradient of a smaller model
    assert zero3["gradient reduce bucket (ZeRO-3)"] == pytest.approx(2 * zero3["gradients"])  # sharded over 2
    assert gathered["gradient reduce bucket (ZeRO-3)"] == pytest.approx(5e8 * 2)  # bf16 gradients, capped
    # reduce_scatter_coalesced concatenates the bucket's gradients into one flat copy before reducing it
    assert zero3["reduce-scatter copy (ZeRO-3)"] == zero3["gradient reduce bucket (ZeRO-3)"]
    # on CPU full-size layer tensors (gathered weights, full gradients) stay in glibc's heap: one model's worth;
    # a GPU's caching allocator reuses them
    kept = "full-size layer tensors kept (ZeRO-3, CPU heap)"
    assert zero3[kept] == pytest.approx(2 * zero3["weights"]) == pytest.approx(2 * zero3["gradients"])
    assert kept not in gathered
    lora = plan_training(
        compose_train([*base[:1], "hardware.devices_per_node=2", "hardware.distributed=deepspeed_zero3"])
    ).parts
    assert lora[kept] == pytest.approx(2 * lora["weights"])  # the gathered weights, not the adapter's gradients
    assert lora["gradients"] < lora[kept] / 50


def test_optimizer_offload_moves_states_to_host_memory():
    base = ["model=smollm2-135m", "hardware.distributed=deepspeed_zero3", "hardware.devices_per_node=2"]
    kept = plan_training(compose_train(base))
    moved = plan_training(compose_train([*base, "hardware.optimizer_offload=true"]))
    assert moved.parts["optimizer states"] == 0 and kept.parts["optimizer states"] > 0
    # on a CPU the host is the process's own memory: the states (and an fp32 copy) still count
    assert moved.parts["offloaded states (host)"] >= kept.parts["optimizer states"]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.heavy
@needs_deepspeed
def test_two_nodes_on_one_machine_run_the_printed_commands(tmp_path):
    """`medft launch --print` for 2 nodes x 1 process; both lines run here (machine_rank 0 and 1, localhost)."""
    printed = _run(
        [
            sys.executable,
            "-m",
            "medft",
            "launch",
            "--print",
            "hardware.distributed=deepspeed_zero2",
            "hardware.devices_per_node=1",
            "hardware.n_nodes=2",
            *_args(tmp_path, "nodes", 2),
        ],
        tmp_path,
    )
    assert printed.returncode == 0, printed.stderr[-3000:]
    lines = [line.split(":", 1)[1] for line in printed.stdout.splitlines() if line.startswith("# node")]
    assert len(lines) == 2 and "--machine_rank 1" in lines[1]
    port = str(_free_port())  # the printed 29500 may be taken on a shared machine
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MAIN_IP": "127.0.0.1"}
    nodes = [
        subprocess.Popen(
            ["bash", "-c", line.replace("--main_process_port 29500", f"--main_process_port {port}")],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for line in lines
    ]
    outputs = [node.communicate(timeout=900)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    run = _only_run(tmp_path, "nodes")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["train"]["world_size"] == 2 and metrics["train"]["steps"] == 2
    assert "Rank 1 of 2 done" in outputs[1] and "Engine: deepspeed_zero2 on 2 process(es)" in outputs[0]


@pytest.mark.parametrize("engine", ["fsdp", "deepspeed_zero3"])
def test_planner_gives_rank_0_the_unsharded_copy_it_loads_after_training(engine):
    """Under the engines that shard weights, rank 0 alone loads a whole copy to save and score: its figure is
    the others' plus that copy, and the printed plan shows both (FSDP on SmolLM2, 2 processes: rank 0 peaked
    ~600 MB above rank 1; docs/results/distributed-cpu/index.md)."""
    base = ["model=smollm2-135m", "quantization=none", "hardware.devices_per_node=2"]
    plan = plan_training(compose_train([*base, f"hardware.distributed={engine}"]))
    alone = plan_training(compose_train(base))
    copy = plan.rank0_parts["unsharded copy after training"]
    assert copy == pytest.approx(alone.parts["weights"] + alone.parts["adapter weights"])
    assert plan.total_bytes == pytest.approx(plan.other_ranks_bytes + copy)
    assert "total, ranks 1 and up" in plan.describe() and "total, rank 0" in plan.describe()
    ddp = plan_training(compose_train([*base, "hardware.distributed=ddp"]))
    assert not ddp.rank0_parts and "rank 0" not in ddp.describe()
