"""End to end on tiny-random: 2 training steps + evaluation for every quantization option,
the run-folder contract, and resume after an interruption."""

from __future__ import annotations

import json

import pytest

from medft.recipes.train import run
from medft.run.folders import resolve_run_dir


def check_metrics_contract(metrics: dict, run_dir):
    assert json.loads((run_dir / "metrics.json").read_text()) == json.loads(json.dumps(metrics))
    for phase in ("eval_before", "eval_after"):
        for bench in ("test", "control"):
            result = metrics[phase][bench]
            assert result["n"] == 12 and 0 <= result["acc"] <= 1
            low, high = result["acc_ci95"]
            assert low <= result["acc"] <= high
    for bench in ("test", "control"):
        assert 0 <= metrics["paired"][bench]["p_value"] <= 1
    train = metrics["train"]
    assert set(train) >= {
        "steps",
        "tokens",
        "tokens_per_s",
        "train_loss",
        "wall_s",
        "peak_mem_mb",
        "trainable_params",
        "total_params",
    }
    assert train["steps"] == 2 and train["tokens"] > 0 and train["tokens_per_s"] > 0
    assert 0 < train["trainable_params"] < train["total_params"]


@pytest.mark.parametrize("quantization", ["none", "nf4", "fp4", "int8"])
def test_two_step_train_and_eval(tiny_cfg, tmp_path, quantization):
    cfg = tiny_cfg(f"quantization={quantization}")
    run_dir = tmp_path / "run"
    metrics = run(cfg, run_dir)
    check_metrics_contract(metrics, run_dir)
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()
    assert (run_dir / "adapter" / "tokenizer_config.json").is_file()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["seed"] == cfg.seed and len(manifest["data"]["fingerprint"]) == 64
    assert manifest["model"]["checksum"] and manifest["packages"]["torch"]
    assert not list(run_dir.rglob(".*.tmp-*")), "temporary files left behind"


def test_full_fine_tuning_trains_every_weight(tiny_cfg, tmp_path):
    metrics = run(tiny_cfg("peft_method=full", "optimizer.lr=1e-4"), tmp_path / "run")
    assert metrics["train"]["trainable_params"] == metrics["train"]["total_params"]
    assert (tmp_path / "run" / "model" / "config.json").is_file()


def test_tensorboard_events_hold_loss_lr_and_eval_accuracy(tiny_cfg, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run(tiny_cfg("logger=tensorboard", "training.logging_steps=1"), tmp_path / "run")
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/learning_rate", "eval_after/test_acc", "eval_before/test_acc"} <= tags


def test_training_lowers_the_loss_on_repeated_data(tiny_cfg, tmp_path):
    """A recorded-behaviour check: a random model starts near ln(vocab) and, trained 30 steps on
    8 examples, must fit them (mean loss well below the first step's)."""
    import math

    common = (
        "dataset.max_samples=8",
        "peft_method=full",
        "optimizer.lr=3e-3",
        "optimizer.warmup_ratio=0",
        "training.save_every_steps=100",
        "training.max_seq_len=512",
        "eval.before=false",
        "eval.after=false",
    )
    first = run(tiny_cfg(*common, "training.max_steps=1"), tmp_path / "a")["train"]["train_loss"]
    assert abs(first - math.log(320)) < 0.3  # uniform over the 320-token vocabulary
    fitted = run(tiny_cfg(*common, "training.max_steps=30"), tmp_path / "b")["train"]["train_loss"]
    assert fitted < 0.75 * first


class Interrupt(Exception):
    pass


def test_resume_after_interruption_continues_from_the_checkpoint(tiny_cfg, tmp_path):
    from transformers import TrainerCallback

    class StopAfter(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:
                raise Interrupt

    output_root, name = tmp_path / "outputs", "resume-test"
    run_dir = tmp_path / "outputs" / name / "2026-01-01_00-00-00"
    (run_dir / ".hydra").mkdir(parents=True)  # what hydra writes first
    overrides = ("training.max_steps=4", "training.save_every_steps=2")
    with pytest.raises(Interrupt):
        run(tiny_cfg(*overrides), run_dir, callbacks=[StopAfter()])
    assert (run_dir / "checkpoints" / "checkpoint-2").is_dir()
    assert not (run_dir / "metrics.json").exists()

    # resume=true finds this unfinished run folder, then continues from its last checkpoint.
    assert resolve_run_dir(str(output_root), name, True, "2026-02-02_00-00-00") == str(run_dir)
    metrics = run(tiny_cfg(*overrides, "resume=true"), run_dir)
    assert metrics["train"]["steps"] == 4
    assert metrics["train"]["resumed_from"].endswith("checkpoint-2")
    state = json.loads((run_dir / "checkpoints" / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    # The base model was scored once, before the interruption, and reused.
    assert metrics["eval_before"] == json.loads((run_dir / "eval_before.json").read_text())["summary"]


def test_resume_from_an_explicit_checkpoint_path(tiny_cfg, tmp_path):
    run_dir = tmp_path / "outputs" / "x" / "t"
    run(tiny_cfg("training.max_steps=2", "training.save_every_steps=1", "training.save_total_limit=3"), run_dir)
    checkpoint = run_dir / "checkpoints" / "checkpoint-1"
    assert resolve_run_dir("ignored", "x", str(checkpoint), "now") == str(run_dir.resolve())
    metrics = run(tiny_cfg("training.max_steps=2", f"resume={checkpoint}"), run_dir)
    assert metrics["train"]["resumed_from"] == str(checkpoint.resolve()) and metrics["train"]["steps"] == 2
