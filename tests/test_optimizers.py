"""Every optimizer= option trains, with its own fields reaching the optimizer torch runs; a misspelt option or
field fails at compose time; the memory planner knows each optimizer's state size."""

from __future__ import annotations

import pytest
from conftest import TINY
from hydra.errors import ConfigCompositionException

from medft import builders
from medft.config.compose import CONF_DIR, compose_train
from medft.config.errors import ConfigError
from medft.config.validate import validate
from medft.data.load import load_splits
from medft.hardware.optimizer_state import state_bytes_per_param
from medft.hardware.planner import plan_training
from medft.models.resolve import resolve_model
from medft.objectives import build_trainer

OPTIONS = sorted(p.stem for p in (CONF_DIR / "optimizer").glob("*.yaml"))
NO_CHECKPOINT = "training.save_every_steps=100"  # the trainer-level tests need the steps, not a saved checkpoint
# What each option must hand torch: (optimizer class name, {param-group key: value} from the option's fields).
EXPECTED = {
    "adamw": ("AdamW", {"betas": (0.9, 0.999), "eps": 1e-8}),
    "adamw_fused": ("AdamW", {"fused": True}),
    "adamw_8bit": ("AdamW", {"betas": (0.9, 0.999)}),  # bitsandbytes' AdamW: 8-bit state
    "paged_adamw_8bit": ("AdamW", {"betas": (0.9, 0.999)}),
    "sgd": ("SGD", {"momentum": 0.9, "nesterov": False}),
    "rmsprop": ("RMSprop", {"alpha": 0.99, "momentum": 0.0, "centered": False}),
    "adafactor": ("Adafactor", {"relative_step": False, "scale_parameter": False, "decay_rate": -0.8}),
    "lion": ("Lion", {"betas": (0.9, 0.99)}),
    "lion_8bit": ("Lion", {"betas": (0.9, 0.99)}),
    "galore": ("AdamW", {"rank": 128, "update_proj_gap": 200, "scale": 0.25, "proj_type": "std"}),
}
NEEDS = {"galore": ["peft_method=full", "optimizer.lr=1e-4"]}  # GaLore projects whole weight matrices


class OptimizerSeen:
    """Keeps the optimizer the trainer built (a TrainerCallback: on_train_begin gets it)."""

    optimizer = None

    def __getattr__(self, name):
        return lambda *args, **kwargs: None

    def on_train_begin(self, args, state, control, optimizer=None, **kwargs):
        self.optimizer = optimizer


def test_every_option_is_covered():
    assert set(OPTIONS) == set(EXPECTED)


@pytest.fixture(scope="module")
def tiny_parts(tmp_path_factory):
    """The tiny-random run's data, resolved model and tokenizer: shared by every option (the trainer,
    model and optimizer are built anew for each)."""
    cfg = compose_train([*TINY, f"cache_dir={tmp_path_factory.mktemp('cache')}"])
    resolved = resolve_model(cfg.model, cfg.cache_dir, cfg.seed)
    return cfg.cache_dir, load_splits(cfg.dataset), resolved, builders.load_tokenizer(cfg.model, resolved)


def train_two_steps(tiny_parts, tmp_path, *overrides):
    """The trainer medft builds (medft.objectives.build_trainer, as a run does) for the tiny run with
    `overrides`, trained its 2 steps; returns it and the torch optimizer it stepped."""
    cache_dir, splits, resolved, tokenizer = tiny_parts
    cfg = compose_train([*TINY, f"cache_dir={cache_dir}", NO_CHECKPOINT, *overrides])
    validate(cfg)
    model = builders.wrap_for_training(builders.load_model(cfg, resolved), cfg)
    seen = OptimizerSeen()
    trainer, _ = build_trainer(cfg, model, tokenizer, splits, [], tmp_path / "checkpoints", [seen])
    trainer.train()
    return trainer, getattr(seen.optimizer, "optimizer", seen.optimizer)  # accelerate wraps it


@pytest.mark.parametrize("option", OPTIONS)
def test_each_optimizer_trains_two_steps_with_its_own_fields(tiny_parts, tmp_path, option):
    if option == "galore":
        pytest.importorskip("galore_torch", reason='optimizer=galore needs pip install -e ".[galore]"')
    trainer, optimizer = train_two_steps(tiny_parts, tmp_path, f"optimizer={option}", *NEEDS.get(option, []))
    assert trainer.state.global_step == 2 and trainer.state.log_history[-1]["train_loss"] > 0
    name, fields = EXPECTED[option]
    assert type(optimizer).__name__ == name
    groups = [g for g in optimizer.param_groups if g["params"]]
    target = groups[-1]  # GaLore's own fields sit on the last group (its target matrices)
    assert {key: target[key] for key in fields} == fields
    assert any(optimizer.state[p] for g in groups for p in g["params"])  # it stepped: state exists
    # bitsandbytes' options: 8-bit state where the name says so (tensors under its min_8bit_size, 4096
    # values, as all of tiny-random's adapters, keep 32-bit state: the planner counts real models' matrices).
    if type(optimizer).__module__.startswith("bitsandbytes"):
        assert optimizer.args.optim_bits == (8 if "8bit" in option else 32)


def test_fields_set_on_the_command_line_reach_torch(tiny_parts, tmp_path):
    _, optimizer = train_two_steps(
        tiny_parts, tmp_path, "optimizer=sgd", "optimizer.momentum=0.5", "optimizer.nesterov=true"
    )
    assert (optimizer.param_groups[0]["momentum"], optimizer.param_groups[0]["nesterov"]) == (0.5, True)
    _, optimizer = train_two_steps(tiny_parts, tmp_path, "optimizer=adafactor", "optimizer.relative_step=true")
    assert optimizer.param_groups[0]["relative_step"] is True  # Adafactor chooses its own step sizes


@pytest.mark.parametrize(
    "overrides,needle",
    [
        (["optimizer=adamm"], "Could not find 'optimizer/adamm'"),
        (["optimizer.name=adamm"], "optimizer.name=adamm"),
        (["optimizer=sgd", "optimizer.momentun=0.9"], "optimizer.momentun"),
        (["optimizer=adamw", "optimizer.momentum=0.9"], "optimizer.momentum"),  # AdamW has no momentum
        (["optimizer=lion", "optimizer.beta1=high"], "optimizer.beta1=high"),
    ],
)
def test_a_misspelt_optimizer_or_field_fails_at_compose_time(overrides, needle):
    with pytest.raises(ConfigCompositionException) as err:
        compose_train(overrides)
    assert needle in str(err.value) + str(err.value.__cause__)


@pytest.mark.parametrize(
    "overrides,needle",
    [
        (["optimizer=sgd", "optimizer.name=adamw_torch"], "optimizer=adamw optimizer.name=adamw_torch"),
        (["optimizer=galore"], "add peft_method=full"),
        (["optimizer=sgd", "optimizer.momentum=1.5"], "optimizer.momentum=1.5: must be in [0, 1)"),
        (["optimizer=sgd", "optimizer.nesterov=true", "optimizer.momentum=0"], "optimizer.nesterov=true needs"),
        (["optimizer=adafactor", "optimizer.relative_step=true", "peft_method=lora_plus"], "relative_step=false"),
    ],
)
def test_a_field_that_cannot_mean_what_it_says_is_refused_before_loading(overrides, needle):
    with pytest.raises(ConfigError, match=None) as err:
        validate(compose_train(overrides), dry_run=True)
    assert needle in str(err.value)


@pytest.mark.parametrize(
    "overrides,per_param",
    [
        (["optimizer=adamw"], 8),
        (["optimizer=adamw_fused"], 8),
        (["optimizer=adamw_8bit"], 2),
        (["optimizer=paged_adamw_8bit"], 2),
        (["optimizer=sgd"], 4),
        (["optimizer=sgd", "optimizer.momentum=0"], 0),
        (["optimizer=rmsprop"], 4),
        (["optimizer=rmsprop", "optimizer.momentum=0.9"], 8),
        (["optimizer=rmsprop", "optimizer.momentum=0.9", "optimizer.centered=true"], 12),
        (["optimizer=adafactor"], 8 / 16),  # factored: (rows + cols) per matrix, rank 16 adapters
        (["optimizer=adafactor", "optimizer.beta1=0.9"], 4 + 8 / 16),
        (["optimizer=lion"], 4),
        (["optimizer=lion_8bit"], 1),
    ],
)
def test_the_planner_counts_each_optimizers_state(overrides, per_param):
    cfg = compose_train(["model=llama2-7b", "hardware=a100-80g", "quantization=none", *overrides])
    assert state_bytes_per_param(cfg.optimizer, cfg.peft_method.r) == per_param
    plan, adamw = (
        plan_training(cfg),
        plan_training(compose_train(["model=llama2-7b", "hardware=a100-80g", "quantization=none"])),
    )
    trainable = adamw.parts["optimizer states"] / 8
    assert plan.parts["optimizer states"] == pytest.approx(trainable * per_param)


def test_the_planner_counts_galore_on_whole_weights():
    cfg = compose_train(
        ["model=llama2-7b", "hardware=a100-80g", "quantization=none", "peft_method=full", "optimizer=galore"]
    )
    adamw = compose_train(["model=llama2-7b", "hardware=a100-80g", "quantization=none", "peft_method=full"])
    ratio = plan_training(cfg).parts["optimizer states"] / plan_training(adamw).parts["optimizer states"]
    assert ratio == pytest.approx(12 * 128 / 4096 / 8)  # rank 128 of a 4096-wide model: ~1/5 of AdamW's
