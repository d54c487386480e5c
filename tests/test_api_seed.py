"""The seed skill's Quick Start and API keywords, as written, through MedicalPEFTTrainer."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest

# Only the model differs from the seed's Quick Start; the rest shrinks the run to seconds.
SMALL = {
    "logger": "none",
    "dataset.max_samples": 8,
    "dataset.eval_limit": 4,
    "eval.before": False,
    "eval.after": False,
    "eval.validation": False,
}


def test_the_seed_quick_start_trains_three_epochs_in_qlora(tmp_path):
    from omegaconf import OmegaConf

    from medft import MedicalPEFTTrainer

    trainer = MedicalPEFTTrainer(model_name="tiny-random", task="medical_qa", cache_dir=str(tmp_path / "c"), **SMALL)
    out = tmp_path / "medical_lora_model"
    metrics = trainer.train(output_dir=str(out), num_epochs=3, batch_size=4, use_qlora=True)

    assert trainer.run_dir == out.resolve() and (out / "adapter" / "adapter_model.safetensors").is_file()
    n_train = json.loads((out / "data_stats.json").read_text())["counts"]["train"]
    assert metrics["train"]["steps"] == 3 * math.ceil(n_train / 4)  # three epochs, not the default step count
    cfg = OmegaConf.load(out / ".hydra" / "config.yaml")  # the composed config, as train.py records it
    assert (cfg.training.epochs, cfg.training.max_steps, cfg.training.batch_size) == (3, None, 4)
    assert (cfg.quantization.method, cfg.hardware.micro_batch_size, cfg.task.name) == ("nf4", 4, "medical_qa")
    recorded = list(OmegaConf.load(out / ".hydra" / "overrides.yaml"))
    assert {"training.epochs=3", "quantization=nf4", "training.batch_size=4"} <= set(recorded)

    # The seed's other methods, on the trained run.
    pubmedqa = Path(__file__).parent / "fixtures" / "benchmarks" / "pubmedqa"
    results = trainer.evaluate(benchmark="pubmedqa", **{"benchmark.path": str(pubmedqa), "benchmark.limit": 4})
    assert 0 < results["benchmarks"]["pubmedqa"]["n"] <= 4  # the fixture holds 3
    assert isinstance(trainer.generate("What does insulin do?", max_new_tokens=4), str)
    model, _ = trainer.load_model()
    assert "Linear4bit" in {type(m).__name__ for m in model.modules()}  # the run's QLoRA base, as trained


def test_every_seed_keyword_becomes_its_override(caplog):
    from medft import MedicalPEFTTrainer

    caplog.set_level(logging.INFO, logger="medft.api")
    trainer = MedicalPEFTTrainer(
        model_name="meta-llama/Llama-2-7b-hf",
        task="diagnosis",
        lora_r=64,
        lora_alpha=128,
        use_qlora=False,
        target_modules=None,
        device_map="auto",
        trust_remote_code=True,
        gradient_checkpointing=True,
        max_seq_length=1024,
        use_flash_attention=True,
        bf16=True,
        batch_size=4,
        **{"training.max_steps": 3},
    )
    cfg = trainer.cfg
    assert (cfg.model.name, cfg.model.hub_id, cfg.model.chat_template) == (
        "llama2-7b-base",
        "meta-llama/Llama-2-7b-hf",
        "chatml",
    )
    assert (cfg.task.name, cfg.dataset.name, cfg.peft_method.r, cfg.peft_method.alpha) == (
        "diagnosis",
        "diagnosis_builtin",
        64,
        128,
    )
    assert cfg.peft_method.target_modules is None  # None: the model config's all-linear targets
    assert (cfg.training.max_seq_len, cfg.hardware.gradient_checkpointing, cfg.hardware.attn_implementation) == (
        1024,
        True,
        "auto",  # flash-attention 2 on a GPU where installed, else sdpa
    )
    assert cfg.model.trust_remote_code is False and cfg.model.revision is None  # the safe default stays
    assert cfg.hardware.precision in ("fp32", "bf16")  # fp32 where this CPU has no fast bf16 (measured)
    text = caplog.text
    assert "trust_remote_code=True without a pinned revision: kept off" in text
    assert "use_flash_attention=True: flash-attention 2 runs on CUDA GPUs only" in text and "sdpa" in text
    assert "bf16=True: this CPU computes bf16" in text
    assert "device_map='auto': the model goes where hardware=cpu puts it" in text

    assert MedicalPEFTTrainer(task="clinical_note").cfg.dataset.name == "notes_builtin"
    pinned = MedicalPEFTTrainer(trust_remote_code=True, revision="a" * 40).cfg.model
    assert (pinned.trust_remote_code, pinned.revision) == (True, "a" * 40)


def test_device_map_other_than_one_device_is_refused():
    from medft.api import ApiArgumentError, MedicalPEFTTrainer

    with pytest.raises(ApiArgumentError, match="device_map='balanced': medft loads the whole model on one device"):
        MedicalPEFTTrainer(device_map="balanced")


def test_model_name_a_checkpoint_folder_or_a_cached_hub_id_gets_a_generic_config(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from medft import MedicalPEFTTrainer
    from medft.models.tiny import build_tiny_random

    model, tokenizer = build_tiny_random(MedicalPEFTTrainer(model="tiny-random").cfg.model.arch, 0)
    model.config.max_position_embeddings = 512
    folder = tmp_path / "my-checkpoint"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    local = MedicalPEFTTrainer(model_name=str(folder)).cfg.model
    assert (local.name, local.source, local.path, local.max_seq_len) == ("my-checkpoint", "local", str(folder), 512)
    assert (local.arch.n_layers, local.arch.hidden_size, local.arch.n_kv_heads) == (2, 64, 2)
    assert list(local.lora_target_modules) == ["q_proj", "v_proj"]  # the smallest llama option's (tiny-random)

    # A hub id found in the hub cache (a mirror): config.json is read there, no network.
    snapshot = tmp_path / "hub" / "models--someone--med-llama" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text((folder / "config.json").read_text())
    (tmp_path / "hub" / "models--someone--med-llama" / "refs").mkdir()
    (tmp_path / "hub" / "models--someone--med-llama" / "refs" / "main").write_text("0" * 40)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    hub = MedicalPEFTTrainer(model_name="someone/med-llama").cfg.model
    assert (hub.name, hub.source, hub.hub_id, hub.arch.vocab_size) == (
        "someone-med-llama",
        "hub",
        "someone/med-llama",
        320,
    )
