"""Every `peft_method` option trains 2 steps and evaluates on tiny-random; what it trains changes and
nothing else does; LoRA, DoRA and IA3 train exactly the parameters their formulas give."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import TrainerCallback

from medft.config.choices import FULL_WEIGHT_METHODS
from medft.config.compose import CONF_DIR
from medft.hardware.planner import trainable_adapter_params
from medft.recipes.train import run

# lora_seed is lora with other values (r 64 is wider than tiny-random's layers): tests/test_seed_items.py covers it
PRESETS_OF_A_METHOD = {"lora_seed"}
ADAPTER_METHODS = sorted(
    p.stem
    for p in (CONF_DIR / "peft_method").glob("*.yaml")
    if p.stem not in FULL_WEIGHT_METHODS and p.stem not in PRESETS_OF_A_METHOD
)  # full and freeze: tests/test_freeze.py


class ParameterWatch(TrainerCallback):
    """Snapshots every parameter when training starts and compares when it ends."""

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.before = {n: p.detach().clone() for n, p in model.named_parameters()}

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self.trainable = {n for n, p in model.named_parameters() if p.requires_grad}
        self.changed = {n for n, p in model.named_parameters() if not torch.equal(p.detach(), self.before[n])}


def test_the_expected_methods_exist():
    assert ADAPTER_METHODS == [
        "adalora",
        "dora",
        "ia3",
        "loftq",
        "lora",
        "lora_plus",
        "olora",
        "p_tuning",
        "pissa",
        "prefix_tuning",
        "prompt_tuning",
        "rslora",
        "vera",
    ]


@pytest.mark.parametrize("method", ADAPTER_METHODS)
def test_each_method_trains_what_it_should_and_nothing_else(tiny_cfg, tmp_path, method):
    cfg = tiny_cfg(f"peft_method={method}", "optimizer.lr=1e-2", "optimizer.warmup_ratio=0")
    assert cfg.quantization.method == ("nf4" if method == "loftq" else "none")  # loftq brings its 4-bit base
    watch = ParameterWatch()
    metrics = run(cfg, tmp_path / "run", callbacks=[watch])
    assert metrics["train"]["steps"] == 2 and metrics["eval_after"]["test"]["n"] == 12
    assert (Path(tmp_path / "run" / "adapter") / "adapter_config.json").is_file()
    assert watch.trainable and watch.changed == watch.trainable, (
        f"trained but unchanged: {sorted(watch.trainable - watch.changed)[:3]}; "
        f"changed but frozen: {sorted(watch.changed - watch.trainable)[:3]}"
    )
    if method != "vera":  # the formula in the planner (vera: peft counts its shared random matrices too)
        assert metrics["train"]["trainable_params"] == trainable_adapter_params(cfg)


@pytest.mark.parametrize(
    "overrides",
    [
        ["peft_method=p_tuning", "peft_method.encoder_type=LSTM"],
        ["peft_method=prefix_tuning", "peft_method.prefix_projection=true"],
        ["peft_method=adalora", "peft_method.adalora_init_r=6", "peft_method.target_modules=[all-linear]"],
        ["peft_method=prompt_tuning", "peft_method.num_virtual_tokens=3"],
    ],
)
def test_the_planner_counts_the_variants_peft_builds(tiny_cfg, overrides):
    from conftest import tiny_llama

    from medft import builders

    cfg = tiny_cfg(*overrides)
    model, _ = tiny_llama()
    wrapped = builders.wrap_for_training(model, cfg)
    assert builders.count_parameters(wrapped)[0] == trainable_adapter_params(cfg)


class TrainableDtypes(TrainerCallback):
    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.dtypes = {p.dtype for p in model.parameters() if p.requires_grad}


@pytest.mark.parametrize("quantization", ["nf4", "int8"])
def test_qlora_adapters_train_and_save_in_the_profiles_precision_not_trls_bf16(tiny_cfg, tmp_path, quantization):
    """TRL casts a quantized model's trainable weights to bf16 in its constructor; the fp32 cpu profile
    trains (and saves) them in fp32, as one without quantization does."""
    from safetensors.torch import load_file

    from medft.models.adapter_precision import restore_adapter_precision

    cfg = tiny_cfg("peft_method=lora", f"quantization={quantization}")
    watch = TrainableDtypes()
    run(cfg, tmp_path / "run", callbacks=[watch])
    assert watch.dtypes == {torch.float32}
    saved = load_file(tmp_path / "run" / "adapter" / "adapter_model.safetensors")
    assert {t.dtype for t in saved.values()} == {torch.float32}

    bf16 = torch.nn.Linear(2, 2).to(torch.bfloat16)  # what TRL leaves
    assert restore_adapter_precision(bf16, "bf16") == 0 and bf16.weight.dtype == torch.bfloat16  # kept for bf16
    assert restore_adapter_precision(bf16, "fp16") == 2 and bf16.weight.dtype == torch.float32
