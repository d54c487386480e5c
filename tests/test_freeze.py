"""peft_method=freeze trains exactly the chosen part of tiny-random: the counts follow from the
architecture sizes, what trains changes and nothing else does, and the run saves a whole model
that evaluate.py run_dir= loads."""

from __future__ import annotations

import pytest

from medft.config.errors import ConfigError
from medft.config.validate import validate
from medft.hardware.planner import freeze_trainable_params, layers_keeping_activations, plan_training
from medft.recipes.train import run
from tests.test_peft_methods import ParameterWatch


def layer_size(arch) -> int:
    """One Llama decoder layer: q, k, v, o, gate, up, down and its two RMSNorm weights."""
    h, i, kv = arch.hidden_size, arch.intermediate_size, arch.n_kv_heads * arch.hidden_size // arch.n_heads
    return h * h + 2 * h * kv + h * h + 3 * h * i + 2 * h


@pytest.mark.parametrize(
    "overrides,expected",
    [
        # the last layer and the final norm
        (["peft_method.trainable_layers=1"], lambda a: layer_size(a) + a.hidden_size),
        # both layers, no norm, plus the (tied) head = the embedding matrix
        (
            ["peft_method.trainable_layers=2", "peft_method.train_final_norm=false", "peft_method.train_lm_head=true"],
            lambda a: 2 * layer_size(a) + a.vocab_size * a.hidden_size,
        ),
        # named modules only: every layer's down projection
        (
            [
                "peft_method.trainable_layers=0",
                "peft_method.train_final_norm=false",
                "peft_method.trainable_modules=[*.mlp.down_proj.*]",
            ],
            lambda a: a.n_layers * a.intermediate_size * a.hidden_size,
        ),
    ],
)
def test_freeze_trains_exactly_the_chosen_parameters(tiny_cfg, tmp_path, overrides, expected):
    cfg = tiny_cfg("peft_method=freeze", "optimizer.lr=1e-2", "optimizer.warmup_ratio=0", *overrides)
    watch = ParameterWatch()
    metrics = run(cfg, tmp_path / "run", callbacks=[watch])
    count = expected(cfg.model.arch)
    assert metrics["train"]["trainable_params"] == count == freeze_trainable_params(cfg)
    assert metrics["train"]["trainable_params"] < metrics["train"]["total_params"]
    assert watch.trainable and watch.changed == watch.trainable, (
        f"trained but unchanged: {sorted(watch.trainable - watch.changed)[:3]}; "
        f"changed but frozen: {sorted(watch.changed - watch.trainable)[:3]}"
    )
    if "peft_method.trainable_layers=1" in overrides:
        assert all(".layers.1." in n or n == "model.norm.weight" for n in watch.trainable)
    saved = tmp_path / "run" / "model"
    assert (saved / "config.json").is_file() and not (tmp_path / "run" / "adapter").exists()


def test_a_saved_freeze_run_is_evaluated_as_a_whole_model(tiny_cfg, tmp_path):
    from omegaconf import OmegaConf

    from medft.recipes.evaluate import model_under_test

    cfg = tiny_cfg("peft_method=freeze", "eval.before=false", "eval.after=false")
    run(cfg, tmp_path / "run")
    (tmp_path / "run" / ".hydra").mkdir()
    OmegaConf.save(cfg, tmp_path / "run" / ".hydra" / "config.yaml")
    model_cfg, _, adapter, _ = model_under_test(OmegaConf.create({"run_dir": str(tmp_path / "run")}))
    assert adapter is None and model_cfg.path == str((tmp_path / "run" / "model").resolve())


def test_freeze_refuses_quantization_and_unknown_names(tiny_cfg, tmp_path):
    with pytest.raises(ConfigError, match="quantization=none for peft_method=freeze"):
        validate(tiny_cfg("peft_method=freeze", "quantization=nf4"))
    from medft.models.freeze import FreezeConfigError

    with pytest.raises(FreezeConfigError, match=r"peft_method.trainable_modules: '\*.nonexistent\*'"):
        run(tiny_cfg("peft_method=freeze", "peft_method.trainable_modules=[*.nonexistent*]"), tmp_path / "a")
    with pytest.raises(FreezeConfigError, match="peft_method.trainable_layers=3"):
        run(tiny_cfg("peft_method=freeze", "peft_method.trainable_layers=3"), tmp_path / "b")


def test_planner_counts_freeze_memory(compose):
    base = ["model=smollm2-135m", "peft_method=freeze", "quantization=none"]
    two = compose(base)
    arch = two.model.arch
    # SmolLM2: 2 of 30 layers and the final norm train; gradients and AdamW states for those only.
    assert freeze_trainable_params(two) == 2 * layer_size(arch) + arch.hidden_size
    plan, full = plan_training(two), plan_training(compose(base[:1] + ["peft_method=full", "quantization=none"]))
    assert plan.parts["gradients"] == freeze_trainable_params(two) * 4
    assert plan.parts["optimizer states"] == freeze_trainable_params(two) * 8
    assert layers_keeping_activations(two) == 2 and plan.parts["activations"] < full.parts["activations"] / 10
    assert plan.total_bytes < full.total_bytes
    # Training the tied head trains the input embeddings: every layer then keeps its activations.
    assert layers_keeping_activations(compose(base + ["peft_method.train_lm_head=true"])) == 30
