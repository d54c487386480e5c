"""The memory planner: every profile with every model plans in-process (no weights), published
fit / no-fit reference points hold, and a run that cannot fit is refused with the fix."""

from __future__ import annotations

import pytest

from medft.config.compose import CONF_DIR, compose_train
from medft.config.errors import ConfigError
from medft.config.validate import validate
from medft.hardware.fit import check_plan, fitting_overrides
from medft.hardware.planner import GiB, parameter_counts, plan_training

PROFILES = sorted(p.stem for p in (CONF_DIR / "hardware").glob("*.yaml"))
MODELS = sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml"))


def test_profiles_are_the_expected_set():
    assert PROFILES == sorted(
        [
            "cpu",
            "t4-16g",
            "consumer-24g",
            "a100-40g",
            "a100-80g",
            "h100-80g",
            "multi-gpu-zero2",
            "multi-gpu-zero3",
            "multi-gpu-zero3-offload",
            "multi-gpu-fsdp",
            "multi-node",
        ]
    )


@pytest.fixture(scope="module")
def composed_models():
    return {model: compose_train([f"model={model}"]) for model in MODELS}


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_plans_every_model(profile, composed_models):
    # Composing all profile x model pairs takes minutes on a busy 2-core machine; the model group
    # touches no other group while composing, so putting each composed model into the composed
    # profile is the same config. One real pair per profile checks that equivalence.
    fixed = [f"hardware={profile}", "training.batch_size=64"]  # a multiple of every profile's micro-batch x processes
    base = compose_train(fixed)
    largest = max(MODELS, key=lambda m: composed_models[m].model.arch.n_params)
    real = compose_train(fixed + [f"model={largest}"])
    for model in MODELS:
        cfg = base.copy()
        cfg.model = composed_models[model].model
        if model == largest:
            assert cfg == real
        validate(cfg, dry_run=True)  # remote-code models: a warning, as in a dry run
        plan = plan_training(cfg)
        assert plan.total_bytes > 0 and plan.budget_bytes == cfg.hardware.memory_budget_gb * GiB
        assert set(plan.parts) >= {"weights", "gradients", "optimizer states", "activations", "logits"}
        assert plan.parts["adapter weights"] > 0  # the LoRA targets name real layers of this architecture


def test_every_model_dry_runs_without_a_download(composed_models, tmp_path, monkeypatch):
    """`dry_run=true` on every model: validated and planned from the config alone (the hub is off in tests)."""
    from medft.data.records import Record
    from medft.recipes import train as recipe

    one = {"train": [Record(question="What is x?", answer="y")]}  # data is not the point
    monkeypatch.setattr("medft.recipes.train.load_splits", lambda dataset_cfg: one)
    monkeypatch.setattr("medft.recipes.train.evaluation_sets", lambda *a, **k: {})
    base = compose_train(
        ["hardware=a100-80g", "quantization=nf4", "dry_run=true", "training.max_seq_len=512", "training.batch_size=16"]
    )
    for model in MODELS:
        cfg = base.copy()
        cfg.model = composed_models[model].model  # as composing model=<model> with the rest (see above)
        assert recipe.run(cfg, tmp_path / model) == {}


@pytest.mark.parametrize("model", [m for m in MODELS if m != "tiny-random"])
def test_architecture_sizes_add_up_to_the_parameter_count(model):
    arch = compose_train([f"model={model}"]).model.arch
    counts = parameter_counts(arch)
    counted = counts["linear"] + counts["embed"] + counts["head"]
    assert 0 <= arch.n_params - counted < 0.01 * arch.n_params  # the rest is norms and biases


def _arch(**sizes) -> list[str]:
    return [f"model.arch.{k}={v}" for k, v in {"tie_word_embeddings": False, **sizes}.items()]


LLAMA_65B = _arch(
    n_params=65_285_660_672,
    n_layers=80,
    hidden_size=8192,
    intermediate_size=22016,
    n_heads=64,
    n_kv_heads=64,
    vocab_size=32000,
)
LLAMA2_70B = _arch(
    n_params=68_976_648_192,
    n_layers=80,
    hidden_size=8192,
    intermediate_size=28672,
    n_heads=64,
    n_kv_heads=8,
    vocab_size=32000,
)


def _with_arch(overrides, arch):
    return compose_train(overrides + arch)


def test_qlora_paper_65b_fits_one_48gb_gpu():
    # Dettmers et al. 2023: LLaMA-65B QLoRA (NF4 + DQ, paged 8-bit optimizer-free Adam states of the adapters)
    # fine-tunes on a single 48 GB GPU.
    cfg = _with_arch(
        [
            "model=llama2-7b",
            "hardware=a100-40g",
            "quantization=nf4",
            "hardware.memory_budget_gb=48",
            "hardware.micro_batch_size=1",
            "training.batch_size=16",
            "training.max_seq_len=512",
        ],
        LLAMA_65B,
    )
    plan = plan_training(cfg)
    assert plan.fits and 33 * GiB < plan.total_bytes < 48 * GiB


def test_7b_qlora_fits_a_t4():
    check_plan(compose_train(["model=llama2-7b", "hardware=t4-16g", "quantization=nf4"]))


def test_full_finetuning_7b_is_refused_on_a_24gb_card_with_the_fix():
    cfg = compose_train(
        ["model=llama2-7b", "hardware=consumer-24g", "peft_method=full", "quantization=none", "optimizer.lr=2e-5"]
    )
    with pytest.raises(ConfigError) as err:
        check_plan(cfg)
    message = str(err.value)
    assert "consumer-24g" in message and "peft_method=lora" in message and "hardware=a100-80g" in message


def test_70b_qlora_is_refused_on_a_24gb_card():
    cfg = _with_arch(["model=llama2-7b", "hardware=consumer-24g", "quantization=nf4"], LLAMA2_70B)
    plan = plan_training(cfg)
    assert plan.parts["weights"] > 34 * GiB  # 4-bit weights alone, as published (~35 GB)
    with pytest.raises(ConfigError, match="No override of this profile makes it fit.*hardware=a100-80g"):
        check_plan(cfg)


def test_the_fix_is_the_fewest_overrides():
    cfg = compose_train(["model=llama3-8b", "hardware=t4-16g", "quantization=none"])
    assert fitting_overrides(cfg) == ["quantization=nf4"]


def test_a_profile_supplies_defaults_the_command_line_overrides():
    t4 = compose_train(["hardware=t4-16g"])
    assert (t4.quantization.method, t4.optimizer.name) == ("nf4", "paged_adamw_8bit")
    mine = compose_train(["hardware=t4-16g", "quantization=none", "optimizer=adamw"])
    assert (mine.quantization.method, mine.optimizer.name) == ("none", "adamw_torch")


def test_auto_batch_picks_the_largest_micro_batch_that_fits():
    cfg = compose_train(
        [
            "model=llama2-7b",
            "hardware=t4-16g",
            "quantization=nf4",
            "training.max_seq_len=512",
            "training.batch_size=16",
            "hardware.micro_batch_size=16",
            "hardware.gradient_checkpointing=false",
            "hardware.auto_batch=true",
        ]
    )
    assert not plan_training(cfg).fits
    plan = check_plan(cfg)
    micro = cfg.hardware.micro_batch_size
    assert plan.fits and micro < 16 and 16 % micro == 0
    assert not plan_training(cfg, micro_batch=[m for m in (16, 8, 4, 2, 1) if m > micro][-1]).fits


def test_sharding_divides_weights_by_the_world_size():
    one = plan_training(
        compose_train(["model=llama2-7b", "hardware=a100-80g", "peft_method=full", "quantization=none"])
    )
    eight = plan_training(
        compose_train(["model=llama2-7b", "hardware=multi-gpu-zero3", "peft_method=full", "quantization=none"])
    )
    assert eight.parts["weights"] == pytest.approx(one.parts["weights"] / 8)


def test_dry_run_prints_the_plan_and_fails_when_it_cannot_fit(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    ROOT = Path(__file__).resolve().parents[1]
    ok = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "dry_run=true", f"output_root={tmp_path}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert ok.returncode == 0 and "Memory plan" in ok.stdout + ok.stderr and "fits" in ok.stdout + ok.stderr
    bad = subprocess.run(
        [
            sys.executable,
            str(ROOT / "train.py"),
            "dry_run=true",
            f"output_root={tmp_path}",
            "training.max_seq_len=2048",
            "hardware.memory_budget_gb=4",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert bad.returncode == 2 and "It fits with:" in bad.stdout + bad.stderr


def test_auto_attention_uses_flash_attention_only_where_it_runs(monkeypatch):
    import importlib.util

    from medft.builders import attention_kernel

    gpu = compose_train(["hardware=a100-80g"]).hardware
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object() if name == "flash_attn" else None)
    assert attention_kernel(gpu) == "flash_attention_2"
    assert attention_kernel(compose_train(["hardware=a100-80g", "hardware.precision=fp32"]).hardware) == "sdpa"
    assert attention_kernel(compose_train(["hardware=cpu"]).hardware) == "sdpa"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)  # not installed
    assert attention_kernel(gpu) == "sdpa"


# torchtune's published Llama-2-7B peaks, as medft config. Decimal GB: torchtune's memory stats divide
# bytes by 1e9. The recipe (torchtune 0.1-0.2, recipes/configs/llama2/7B_lora_single_device.yaml and
# 7B_qlora_single_device.yaml; https://github.com/pytorch/torchtune): rank 8, alpha 16, dropout 0.05
# (the lora_llama2_7b builder's default then; 0.0 later, which plans 1-9% lower and stays inside the
# tolerance), bf16 weights and compute, AdamW, activation checkpointing on. LoRA on q_proj and v_proj
# only; QLoRA on every linear layer of a block (q, k, v, output and the MLP), NF4 with double-quantized
# block constants. The figures are torch.cuda.max_memory_reserved (the allocator's cache included),
# which the planner's allocated estimate should sit a little under.
TORCHTUNE_7B = [
    "model=llama2-7b",
    "hardware=a100-80g",
    "peft_method=lora",
    "peft_method.r=8",
    "peft_method.alpha=16",
    "peft_method.dropout=0.05",
    "optimizer=adamw",
    "hardware.gradient_checkpointing=true",
]
TT_LORA = ["quantization=none", "peft_method.target_modules=[q_proj,v_proj]"]
TT_QLORA = ["quantization=nf4", "peft_method.target_modules=[q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj]"]
TT_TUTORIAL = "https://pytorch.org/torchtune/stable/tutorials/qlora_finetune.html"  # "Peak memory reserved, training"
TT_README = "https://github.com/pytorch/torchtune#memory-and-training-speed"  # mid-2024 table, 1 x RTX 4090


def _tokens(micro_batch: int, seq_len: int) -> list[str]:
    return [
        f"hardware.micro_batch_size={micro_batch}",
        f"training.batch_size={micro_batch}",
        f"training.max_seq_len={seq_len}",
    ]


PUBLISHED_PEAKS = {  # name: (recipe overrides, published GB, where)
    # Alpaca-cleaned in batches of 2 (25,880 steps an epoch), cut at torchtune 0.1's alpaca max_seq_len of 512.
    "tutorial LoRA, 2 x 512": (TT_LORA + _tokens(2, 512), 15.57, TT_TUTORIAL),
    "README LoRA, 4 x 2048": (TT_LORA + _tokens(4, 2048), 21.3, TT_README),
    "README QLoRA, 4 x 2048 (torch.compile)": (TT_QLORA + _tokens(4, 2048), 12.3, TT_README),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_PEAKS))
def test_torchtune_published_peaks_within_15_percent(name):
    overrides, published_gb, _source = PUBLISHED_PEAKS[name]
    planned_gb = plan_training(compose_train(TORCHTUNE_7B + overrides)).total_bytes / 1e9
    assert planned_gb == pytest.approx(published_gb, rel=0.15), (name, round(planned_gb, 2))


def test_torchtune_tutorial_qlora_peak_was_set_while_loading_not_by_training():
    """The tutorial's QLoRA figure (9.29 GB reserved during training) is 0.16 GB over its model-init
    figure (9.13 GB): the peak came before the first step, while torchao converted the weights to NF4
    (its nearest-value search of that time held a numel x 16 difference tensor per weight; torchao's
    nf4tensor.py "Note: Quantize in Chunks" names the spike). A medft run quantizes with bitsandbytes'
    kernel, so the planner has no such term; its training peak stays far under the init figure."""
    planned_gb = plan_training(compose_train(TORCHTUNE_7B + TT_QLORA + _tokens(2, 512))).total_bytes / 1e9
    assert planned_gb < 0.7 * 9.13
