"""What the methods beyond a plain adapter add, checked on tiny-random: LoRA+'s learning-rate ratio
through the real trainer and scheduler, AdaLoRA's rank allocation and orthogonal penalty, LoftQ's
initialisation against the 4-bit error."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import tiny_llama
from transformers import TrainerCallback

from medft import builders
from medft.methods import adalora, loftq
from medft.recipes.train import run

QUIET = ["eval.before=false", "eval.after=false", "eval.validation=false"]


class LearningRates(TrainerCallback):
    """The learning rate of the group holding lora_A weights and of the one holding lora_B, each step."""

    def on_step_end(self, args, state, control, model=None, optimizer=None, **kwargs):
        names = {id(p): n for n, p in model.named_parameters()}
        lr = {}
        for group in optimizer.param_groups:
            for param in group["params"]:
                kind = "A" if "lora_A" in names[id(param)] else "B" if "lora_B" in names[id(param)] else None
                if kind:
                    lr.setdefault(kind, set()).add(group["lr"])
        self.steps = getattr(self, "steps", []) + [{k: v.pop() for k, v in lr.items() if len(v) == 1}]


def test_lora_plus_trains_b_at_the_ratio_and_keeps_the_schedule(tiny_cfg, tmp_path):
    cfg = tiny_cfg(
        "peft_method=lora_plus",
        "peft_method.loraplus_lr_ratio=16",
        "training.max_steps=4",
        "optimizer.warmup_ratio=0.5",
        "optimizer.lr=1e-3",
        *QUIET,
    )
    rates = LearningRates()
    run(cfg, tmp_path / "run", callbacks=[rates])
    assert len(rates.steps) == 4 and all(set(step) == {"A", "B"} for step in rates.steps)
    for step in rates.steps:
        assert step["B"] == pytest.approx(16 * step["A"])  # the ratio holds at every step of the schedule
    assert rates.steps[0]["A"] < rates.steps[1]["A"]  # warmup still applies: the scheduler drives both groups
    assert rates.steps[1]["A"] == pytest.approx(1e-3)


def test_adalora_prunes_to_its_target_budget(tiny_cfg, tmp_path):
    cfg = tiny_cfg(
        "peft_method=adalora",
        "training.max_steps=6",
        "peft_method.adalora_delta_t=1",
        "peft_method.adalora_tinit=0",
        "peft_method.adalora_tfinal=0.34",
        "optimizer.lr=1e-2",
        *QUIET,
    )
    run(cfg, tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "adapter" / "adapter_config.json").read_text())
    pattern = saved["rank_pattern"]
    assert pattern, "update_and_allocate never ran: no rank pattern was saved"
    kept = sum(sum(mask) for mask in pattern.values())
    assert kept == cfg.peft_method.adalora_target_r * len(pattern)  # the final budget, spread unevenly
    assert kept < cfg.peft_method.adalora_init_r * len(pattern)


def test_orthogonal_penalty_is_the_one_peft_adds_to_its_loss(tiny_cfg):
    from peft import get_peft_model

    cfg = tiny_cfg("peft_method=adalora", "training.max_steps=10")
    model, _ = tiny_llama()
    peft_model = get_peft_model(model, builders.peft_config(cfg.peft_method, cfg.model, total_steps=10)).train()
    ids = torch.randint(0, 320, (2, 12))
    with_penalty = peft_model(input_ids=ids, labels=ids).loss  # peft's AdaLoraModel.forward adds it
    tuner = peft_model.base_model
    plain = tuner.model(input_ids=ids, labels=ids).loss  # the wrapped model alone: no penalty
    expected = cfg.peft_method.adalora_orth_reg_weight * adalora.orthogonal_penalty(peft_model)
    assert float(expected) > 0.1  # random A and B are far from orthogonal
    assert float(with_penalty - plain) == pytest.approx(float(expected), rel=1e-5)


def test_loftq_starts_closer_to_the_full_precision_weights(tiny_cfg):
    from safetensors.torch import load_file

    from medft.models.resolve import resolve_model

    cfg = tiny_cfg("peft_method=loftq", "quantization=nf4")
    resolved = resolve_model(cfg.model, cfg.cache_dir, cfg.seed)
    model = builders.wrap_for_training(builders.load_model(cfg, resolved), cfg)
    original = load_file(loftq.original_weights_file(model))
    import bitsandbytes as bnb
    from peft.tuners.lora import Linear4bit

    checked = 0
    for name, module in model.named_modules():
        if not isinstance(module, Linear4bit):
            continue
        weight = original[name.removeprefix("base_model.model.") + ".weight"].float()
        base = module.get_base_layer().weight
        dequantized = bnb.functional.dequantize_4bit(base.data, base.quant_state).float()
        with torch.no_grad():
            update = module.scaling["default"] * module.lora_B["default"].weight @ module.lora_A["default"].weight
        error_qlora = torch.linalg.matrix_norm(weight - dequantized)  # plain LoRA starts with B = 0
        error_loftq = torch.linalg.matrix_norm(weight - dequantized - update)
        assert error_loftq < 0.8 * error_qlora, (name, float(error_loftq), float(error_qlora))
        checked += 1
    assert checked == 2 * len(cfg.model.lora_target_modules)  # every target of both layers
