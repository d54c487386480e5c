"""The Python API composes the CLI's configs: the same choices and seed give the same run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY

ROOT = Path(__file__).resolve().parents[1]


def test_api_run_reproduces_the_cli_run(tmp_path):
    from omegaconf import OmegaConf

    from medft import MedicalPEFTTrainer

    shared = TINY[1:] + [f"cache_dir={tmp_path / 'cache'}", "name=same", "eval.validation=false"]
    done = subprocess.run(
        [sys.executable, "train.py", "model=tiny-random", *shared, f"output_root={tmp_path / 'cli'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    cli_dir = next((tmp_path / "cli" / "same").glob("*/metrics.json")).parent
    cli = json.loads((cli_dir / "metrics.json").read_text())

    trainer = MedicalPEFTTrainer(model="tiny-random", overrides=shared, output_root=str(tmp_path / "api"))
    api = trainer.train()
    assert trainer.run_dir.parent == (tmp_path / "api" / "same").resolve()  # named as train.py names it
    for phase in ("eval_before", "eval_after", "paired"):
        assert api[phase] == cli[phase]
    for key in ("steps", "tokens", "train_loss", "trainable_params", "total_params"):
        assert api["train"][key] == cli["train"][key], key
    api_cfg = OmegaConf.load(trainer.run_dir / ".hydra" / "config.yaml")
    cli_cfg = OmegaConf.load(cli_dir / ".hydra" / "config.yaml")
    api_cfg.output_root = cli_cfg.output_root
    assert api_cfg == cli_cfg

    again = MedicalPEFTTrainer.from_run(cli_dir)
    answer = again.generate("What does insulin do?", max_new_tokens=4)
    assert isinstance(answer, str) and answer == trainer.generate("What does insulin do?", max_new_tokens=4)
    assert (again.merge_and_save() / "model.safetensors").is_file()


def test_legacy_keywords_become_overrides():
    from medft.api import ApiArgumentError, MedicalPEFTTrainer, build_overrides
    from medft.config.errors import UserError

    trainer = MedicalPEFTTrainer(
        model_name="tiny-random",
        task="medical_qa",
        lora_r=4,
        lora_alpha=8,
        use_qlora=False,
        target_modules=["q_proj"],
        learning_rate=1e-3,
        training={"max_steps": 3},
        **{"dataset.eval_limit": 5},
    )
    cfg = trainer.cfg
    assert (cfg.model.name, cfg.peft_method.r, cfg.peft_method.alpha, list(cfg.peft_method.target_modules)) == (
        "tiny-random",
        4,
        8,
        ["q_proj"],
    )
    assert (cfg.quantization.method, cfg.optimizer.lr, cfg.training.max_steps, cfg.dataset.eval_limit) == (
        "none",
        1e-3,
        3,
        5,
    )
    assert build_overrides({}, {"use_qlora": True, "task": "pubmedqa"}) == ["quantization=nf4", "dataset=pubmedqa"]
    assert build_overrides({}, {"model_name": "HuggingFaceTB/SmolLM2-135M-Instruct"}) == ["model=smollm2-135m"]
    assert build_overrides({}, {"name": "my run"}) == ["name='my run'"]
    with pytest.raises(ApiArgumentError, match=r"unknown keyword\(s\) \['lora_rank'\]. Accepted: .*'lora_r'"):
        MedicalPEFTTrainer(lora_rank=8)
    with pytest.raises(ApiArgumentError, match="task='triage' is not a medft task"):
        MedicalPEFTTrainer(task="triage")
    with pytest.raises(UserError, match="no config.json in a local folder of that name, in the hub cache, or on"):
        MedicalPEFTTrainer(model_name="someone/unknown-7b")  # offline, and not in the hub cache


def test_importing_medft_loads_no_heavy_library():
    code = (
        "import sys, medft; assert 'torch' not in sys.modules and 'transformers' not in sys.modules; "
        "print(medft.MedicalPEFTTrainer.__name__)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "MedicalPEFTTrainer", done.stderr
