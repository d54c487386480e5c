"""Training controls on tiny-random: init_from, early stopping, best checkpoint, resume for dpo and
pretrain, packing; and the one TrainingArguments translator every objective shares."""

from __future__ import annotations

import json

import pytest
from transformers import TrainerCallback

from medft.recipes.train import run

LONG = "training.max_seq_len=512"


def adapter_tensors(path):
    from safetensors.torch import load_file

    return load_file(str(path / "adapter_model.safetensors"))


def default_adapter_state(model):
    """The trainable adapter's tensors, keyed as peft saves them."""
    from peft import get_peft_model_state_dict

    return get_peft_model_state_dict(model, adapter_name="default")


class Capture(TrainerCallback):
    def __init__(self):
        self.at_start = None

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.at_start = {k: v.detach().clone() for k, v in default_adapter_state(model).items()}


def test_init_from_starts_from_the_earlier_adapter_exactly(tiny_cfg, tmp_path):
    import torch
    from omegaconf import OmegaConf

    sft_dir = tmp_path / "sft"
    sft_cfg = tiny_cfg("optimizer.lr=1e-2", "eval.before=false")
    run(sft_cfg, sft_dir)
    (sft_dir / ".hydra").mkdir()
    OmegaConf.save(sft_cfg, sft_dir / ".hydra" / "config.yaml")  # what hydra writes around train.py
    saved = adapter_tensors(sft_dir / "adapter")
    assert any(v.abs().sum() > 0 for k, v in saved.items() if "lora_B" in k)  # trained, not the zero init

    capture = Capture()
    metrics = run(tiny_cfg("objective=dpo", LONG, f"init_from={sft_dir}"), tmp_path / "dpo", callbacks=[capture])
    assert set(capture.at_start) == set(saved)
    for key, value in saved.items():
        assert torch.equal(capture.at_start[key], value), key
    assert metrics["train"]["init_from"] == str(sft_dir)
    after = adapter_tensors(tmp_path / "dpo" / "adapter")
    assert any(not torch.equal(after[k], saved[k]) for k in saved)  # DPO moved it


def test_init_from_refuses_another_base_model(tiny_cfg, compose, tmp_path):
    from medft.objectives.init_from import InitFromError, check_init_from

    run_dir = tmp_path / "earlier"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / "adapter").mkdir()
    (run_dir / "adapter" / "adapter_config.json").write_text("{}")
    from omegaconf import OmegaConf

    OmegaConf.save(compose(["model=gemma3-270m"]), run_dir / ".hydra" / "config.yaml")
    with pytest.raises(InitFromError) as err:
        check_init_from(tiny_cfg(f"init_from={run_dir}"))
    message = str(err.value)
    assert "model=gemma3-270m" in message and "model=tiny-random" in message
    with pytest.raises(InitFromError, match="not a run folder"):
        check_init_from(tiny_cfg(f"init_from={tmp_path / 'nothing'}"))


CONTROLS = (
    "training.eval_every_steps=1",
    "training.save_every_steps=1",
    "training.save_total_limit=2",
    "dataset.eval_limit=8",
    "eval.before=false",
)


def test_early_stopping_stops_on_a_plateau(tiny_cfg, tmp_path):
    # lr 1e-12 (0 is refused: it trains nothing): Adam moves each weight by about lr, so validation
    # accuracy is flat from the first evaluation.
    metrics = run(
        tiny_cfg(*CONTROLS, "training.max_steps=20", "optimizer.lr=1e-12", "training.early_stopping_patience=2"),
        tmp_path / "run",
    )
    # Evaluation 1 sets the best; evaluations 2 and 3 do not improve: patience 2 stops at step 3.
    assert metrics["train"]["steps"] == 3
    assert [e["step"] for e in metrics["train"]["eval_history"]] == [1, 2, 3]
    assert len({e["mc_acc"] for e in metrics["train"]["eval_history"]}) == 1


def test_best_checkpoint_is_the_best_validation_score_and_is_loaded(tiny_cfg, tmp_path):
    import torch

    run_dir = tmp_path / "run"
    metrics = run(tiny_cfg(*CONTROLS, "training.max_steps=6", "optimizer.lr=3e-2", "training.load_best=true"), run_dir)
    history = metrics["train"]["eval_history"]
    assert [e["step"] for e in history] == list(range(1, 7))
    best = max(history, key=lambda e: e["mc_acc"])  # the first of equal scores: the trainer needs a strict gain
    assert metrics["train"]["best_step"] == best["step"]
    assert metrics["train"]["best_metric"] == best["mc_acc"]
    best_dir = run_dir / "checkpoints" / f"checkpoint-{best['step']}"
    assert best_dir.is_dir()  # kept out of save_total_limit's rotation
    final, at_best = adapter_tensors(run_dir / "adapter"), adapter_tensors(best_dir)
    assert all(torch.equal(final[k], at_best[k]) for k in final)


class Interrupt(Exception):
    pass


class StopAfter(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 3:
            raise Interrupt


@pytest.mark.parametrize("objective", ["dpo", "pretrain"])
def test_resume_continues_every_objective_from_its_checkpoint(tiny_cfg, tmp_path, objective):

    overrides = (
        f"objective={objective}",
        LONG,
        "training.max_steps=4",
        "training.save_every_steps=2",
        "eval.before=false",
        "eval.after=false",
    )
    from medft.models.resolve import resolve_model

    # Build the cached tiny model first: building it draws random numbers, loading it does not, and
    # both runs compared here must start from the same generator state.
    cfg = tiny_cfg(*overrides)
    resolve_model(cfg.model, cfg.cache_dir, cfg.seed)
    straight = tmp_path / "straight"
    run(cfg, straight)
    run_dir = tmp_path / "outputs" / "resume" / "t"
    (run_dir / ".hydra").mkdir(parents=True)
    with pytest.raises(Interrupt):
        run(tiny_cfg(*overrides), run_dir, callbacks=[StopAfter()])
    assert not (run_dir / "metrics.json").exists()
    metrics = run(tiny_cfg(*overrides, "resume=true"), run_dir)
    assert metrics["train"]["steps"] == 4 and metrics["train"]["resumed_from"].endswith("checkpoint-2")
    # Same data order, same optimizer state: the interrupted run ends where the straight one did.
    resumed, reference = adapter_tensors(run_dir / "adapter"), adapter_tensors(straight / "adapter")
    worst = max((resumed[k] - reference[k]).abs().max().item() for k in reference)
    assert worst < 1e-6, worst


def sft_trainer_for(cfg, tmp_path):
    from medft import builders
    from medft.data.load import load_splits
    from medft.models.resolve import resolve_model
    from medft.objectives import build_trainer

    resolved = resolve_model(cfg.model, cfg.cache_dir, cfg.seed)
    tokenizer = builders.load_tokenizer(cfg.model, resolved)
    model = builders.wrap_for_training(builders.load_model(cfg, resolved), cfg)
    splits = load_splits(cfg.dataset)
    trainer, _ = build_trainer(cfg, model, tokenizer, splits, [], tmp_path / "ckpt", [])
    return trainer, model, splits


def test_packing_keeps_every_token_in_fewer_rows_without_cross_attention(tiny_cfg, tmp_path):
    import torch

    # Rows of 512 byte tokens hold ~3 builtin examples (~170 each).
    off, _, splits = sft_trainer_for(tiny_cfg("training.packing=false", LONG), tmp_path / "off")
    on, model, _ = sft_trainer_for(tiny_cfg("training.packing=true", LONG), tmp_path / "on")
    lengths_off = [len(x) for x in off.train_dataset["input_ids"]]
    lengths_on = [len(x) for x in on.train_dataset["input_ids"]]
    assert len(lengths_off) == len(splits["train"]) == 64
    assert sum(lengths_on) == sum(lengths_off)  # no example dropped or cut (all fit max_seq_len)
    assert len(lengths_on) < len(lengths_off) / 2 and max(lengths_on) <= 512
    row = on.train_dataset[0]
    assert sum(row["seq_lengths"]) == len(row["input_ids"]) and len(row["seq_lengths"]) > 1

    # The collator's position_ids restart per example; the model (as TRL calls it: no cache) then
    # scores each packed example exactly as it scores it alone.
    batch = on.data_collator([row])
    model.eval()
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits[0]
        start = 0
        for length in row["seq_lengths"]:
            ids = torch.tensor([row["input_ids"][start : start + length]])
            alone = model(input_ids=ids, use_cache=False).logits[0]
            assert torch.allclose(packed[start : start + length], alone, atol=1e-5)
            start += length


def test_packed_training_sees_more_tokens_per_step(tiny_cfg, tmp_path):
    common = ("eval.before=false", "eval.after=false", LONG)  # byte tokens: ~170 per example, ~3 per row
    off = run(tiny_cfg(*common, "training.packing=false"), tmp_path / "off")["train"]["tokens"]
    on = run(tiny_cfg(*common, "training.packing=true"), tmp_path / "on")["train"]["tokens"]
    assert on > 2 * off  # 4 packed rows of up to 512 tokens vs 4 single ~170-token examples


def test_every_objective_shares_the_training_arguments(tiny_cfg, tmp_path):
    from trl import DPOConfig, KTOConfig, SFTConfig
    from trl.experimental.orpo import ORPOConfig

    from medft import builders

    cfg = tiny_cfg(
        "optimizer.max_grad_norm=0.3",
        "training.eval_every_steps=5",
        "training.save_every_steps=10",
        "training.load_best=true",
        "training.eval_metric=loss",
    )
    built = [builders.trainer_config(c, cfg, tmp_path, 1) for c in (SFTConfig, DPOConfig, KTOConfig, ORPOConfig)]
    for args in built:
        assert (args.max_grad_norm, args.eval_steps, args.save_steps, args.metric_for_best_model) == (
            0.3,
            5,
            10,
            "loss",
        )
        assert args.load_best_model_at_end and not args.greater_is_better and args.use_cpu and not args.bf16
    sft = builders.sft_config(
        tiny_cfg("training.label_smoothing_factor=0.1", "training.neftune_noise_alpha=5"), tmp_path, 1
    )
    assert (sft.label_smoothing_factor, sft.neftune_noise_alpha, sft.packing) == (0.1, 5, False)
    assert builders.sft_config(tiny_cfg("objective=pretrain"), tmp_path, 1).packing  # pretrain packs by default
    saved = json.dumps(builders.training_arguments(cfg, tmp_path, 1))
    assert "eval_strategy" in saved
