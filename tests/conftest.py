"""Shared fixtures: compose configs in-process with Hydra's compose API, shrink runs to seconds."""

from __future__ import annotations

import os

import pytest

# No test may reach a hub, even by accident.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

TINY = [
    "model=tiny-random",
    "logger=none",
    "training.max_steps=2",
    "training.batch_size=4",
    "hardware.micro_batch_size=4",
    "training.save_every_steps=2",
    "training.eval_batch_size=16",
    "dataset.eval_limit=12",
    "dataset.max_samples=64",
]


@pytest.fixture
def compose():
    from medft.config.compose import compose_train

    return compose_train


@pytest.fixture
def tiny_cfg(tmp_path):
    """A factory: the config of a 2-step tiny-random run whose cache lives in tmp_path."""
    from medft.config.compose import compose_train

    def make(*overrides: str):
        return compose_train(TINY + [f"cache_dir={tmp_path / 'cache'}", *overrides])

    return make


def tiny_llama(**changes):
    """(model, byte tokenizer) of a 2-layer random Llama built in-process: the scorer tests' model."""
    from omegaconf import OmegaConf

    from medft.models.tiny import build_tiny_random

    arch = {
        "model_type": "llama",
        "n_params": 0,
        "n_layers": 2,
        "hidden_size": 64,
        "intermediate_size": 128,
        "n_heads": 4,
        "n_kv_heads": 2,
        "vocab_size": 320,
        "tie_word_embeddings": True,
        **changes,
    }
    return build_tiny_random(OmegaConf.create(arch), seed=0)


@pytest.fixture(scope="session")
def trained_tiny_run(tmp_path_factory):
    """A finished 2-step tiny-random LoRA run folder (lr 1e-2: adapter weights far from zero),
    with .hydra/config.yaml as train.py writes it; shared by the adapter, generate and export tests."""
    from omegaconf import OmegaConf

    from medft.config.compose import compose_train
    from medft.recipes.train import run

    root = tmp_path_factory.mktemp("tiny-run")
    cfg = compose_train(
        TINY
        + [
            f"cache_dir={root / 'cache'}",
            "optimizer.lr=1e-2",
            "eval.before=false",
            "eval.validation=false",
            f"output_root={root}",
        ]
    )
    run_dir = root / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
    run(cfg, run_dir)
    return run_dir


# What may differ between an interrupted run and an uninterrupted one: timings, memory, where it resumed,
# and whether the base model's scores were computed or read from the score cache (the same scores).
RUN_VOLATILE_KEYS = {"tokens_per_s", "wall_s", "peak_mem_mb", "resumed_from", "run_wall_s", "eval_before_source"}
