"""The seed skill's smaller items: checkpoints by epoch, the plain prompt format, its LoRA preset,
generation from an 8-bit base, and several adapters on one base from the command line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import TINY, tiny_llama

ROOT = Path(__file__).resolve().parents[1]


def test_plain_format_is_prompt_eos_response_for_training_and_generation():
    from medft.data.records import Record
    from medft.prompts import CHAT_TEMPLATES, chat_prompt, render

    _, tokenizer = tiny_llama()
    tokenizer.chat_template = CHAT_TEMPLATES["plain"]
    eos = tokenizer.eos_token
    prompt, completion = render(tokenizer, Record("What does insulin do?", "Lowers blood glucose."), "ignored system")
    assert (prompt, completion) == (f"What does insulin do?{eos}", f"Lowers blood glucose.{eos}")
    assert chat_prompt(tokenizer, [{"role": "user", "content": "Why?"}], None) == f"Why?{eos}"


def test_epoch_checkpoints_with_the_seed_lora_block_in_the_plain_format(tmp_path):
    import json

    from medft.config.compose import compose_train
    from medft.recipes.train import run

    shrunk = [o for o in TINY if not o.startswith(("training.max_steps", "training.save_every_steps"))]
    cfg = compose_train(
        shrunk
        + [
            f"cache_dir={tmp_path / 'cache'}",
            "training.epochs=2",
            "dataset.max_samples=8",
            "training.save_strategy=epoch",
            "model.chat_template=plain",
            "peft_method=lora_seed",
            "peft_method.r=8",  # the preset's 64 exceeds tiny-random's 32-wide k_proj (refused at compose time)
            "peft_method.alpha=16",
            "eval.before=false",
            "eval.after=false",
            "eval.validation=false",
        ]
    )
    run(cfg, tmp_path / "run")
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("checkpoint-*")) == [
        "checkpoint-2",  # 8 records / batch 4 = 2 steps per epoch: one checkpoint at each epoch's end
        "checkpoint-4",
    ]
    adapter = json.loads((tmp_path / "run" / "adapter" / "adapter_config.json").read_text())
    assert (adapter["r"], adapter["lora_alpha"], adapter["lora_dropout"]) == (8, 16, 0.05)
    seed_block = compose_train(["peft_method=lora_seed"]).peft_method  # on the default model: the seed's values
    assert (seed_block.method, seed_block.r, seed_block.alpha, seed_block.dropout) == ("lora", 64, 128, 0.05)
    assert set(adapter["target_modules"]) == {
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    }
    with pytest.raises(Exception, match="save_strategy"):
        compose_train(["training.save_strategy=halfway"])


def test_generate_loads_a_run_in_8bit(trained_tiny_run):
    from medft.config.compose import compose_named
    from medft.recipes.generate import load_for_generation, reply

    cfg = compose_named("generate", [f"run_dir={trained_tiny_run}", "load_in_8bit=true", "sampling.max_new_tokens=4"])
    bot = load_for_generation(cfg)
    kinds = {type(m).__name__ for m in bot.model.modules()}
    assert "Linear8bitLt" in kinds  # bitsandbytes int8 layers, with the run's LoRA on top
    assert isinstance(reply(bot, [{"role": "user", "content": "What does insulin do?"}], cfg.sampling), str)


@pytest.fixture
def second_run(trained_tiny_run, tmp_path):
    """A copy of the trained run whose adapter is another LoRA (random B, so it differs)."""
    from peft import LoraConfig, TaskType, get_peft_model

    from medft.run.saved_model import load_run

    other = tmp_path / "other-run"
    shutil.copytree(trained_tiny_run, other, ignore=shutil.ignore_patterns("checkpoints", "adapter"))
    base, _, _ = load_run(trained_tiny_run, merge=True)
    config = LoraConfig(task_type=TaskType.CAUSAL_LM, r=4, init_lora_weights=False, target_modules=["q_proj"])
    get_peft_model(base, config).save_pretrained(other / "adapter")
    return other


def test_several_adapters_on_one_base_from_the_cli(trained_tiny_run, second_run):
    from medft.config.compose import compose_named
    from medft.recipes.generate import load_for_generation

    done = subprocess.run(
        [sys.executable, "-m", "medft", "generate", f"run_dir={trained_tiny_run}", f"adapters=[{second_run}]"]
        + ["prompt=What does insulin do?", "stream=false", "sampling.max_new_tokens=6"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert f"[{trained_tiny_run}]" in lines and f"[{second_run}]" in lines  # one labelled answer per adapter

    cfg = compose_named("generate", [f"run_dir={trained_tiny_run}", f"adapters=[{second_run}]"])
    bot = load_for_generation(cfg)
    assert list(bot.adapters.values()) == [str(trained_tiny_run), str(second_run)]
    probe = bot.tokenizer("What does insulin do?", return_tensors="pt")
    outputs = []
    for name in bot.adapters:  # what answer_once does between answers: each adapter alone
        bot.model.set_adapter(name)
        with torch.no_grad():
            outputs.append(bot.model(**probe).logits)
    assert (outputs[0] - outputs[1]).abs().max() > 1e-4  # two adapters really answer, not one twice

    stack = ["adapter_mode=stack", "adapter_weights=[1.0,0.5]"]
    cfg = compose_named("generate", [f"run_dir={trained_tiny_run}", f"adapters=[{second_run}]", *stack])
    bot = load_for_generation(cfg)
    assert bot.model.active_adapter == "stacked" and bot.adapters is None
