"""The model families: LoRA targets name real layers of each architecture, remote code is opt-in and pinned."""

from __future__ import annotations

import pytest

from medft.config.compose import CONF_DIR, compose_train
from medft.config.errors import ConfigError
from medft.config.validate import check_remote_code, validate

MODELS = sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml"))
REMOTE_CODE = {"baichuan2-7b", "baichuan2-13b", "chatglm3-6b"}
T5_TOY = dict(d_model=64, d_ff=96, num_layers=1, num_heads=4, d_kv=16, vocab_size=128, feed_forward_proj="gated-gelu")


@pytest.fixture(scope="module")
def models():
    return {m: compose_train([f"model={m}"]).model for m in MODELS}


def test_only_baichuan_and_chatglm_need_remote_code_and_none_trusts_it_by_default(models):
    assert {m for m, cfg in models.items() if cfg.needs_remote_code} == REMOTE_CODE
    assert not any(cfg.trust_remote_code for cfg in models.values())


@pytest.mark.parametrize("model", sorted(REMOTE_CODE))
def test_remote_code_runs_only_when_asked_and_pinned(model):
    cfg = compose_train([f"model={model}"])
    with pytest.raises(ConfigError, match="model.trust_remote_code=true"):
        validate(cfg)
    trusted = compose_train([f"model={model}", "model.trust_remote_code=true"])
    if trusted.model.revision is None:  # chatglm3: no commit pinned by the project
        with pytest.raises(ConfigError, match="model.revision=<commit sha"):
            check_remote_code(trusted.model)
    pinned = compose_train([f"model={model}", "model.trust_remote_code=true", "model.revision=" + "a" * 40])
    validate(pinned)
    unpinned = compose_train([f"model={model}", "model.trust_remote_code=true", "model.revision=null"])
    with pytest.raises(ConfigError, match="model.revision=<commit sha"):
        check_remote_code(unpinned.model)


def test_a_dry_run_of_a_remote_code_model_warns_instead(caplog):
    validate(compose_train(["model=chatglm3-6b"]), dry_run=True)
    assert "model.trust_remote_code=true" in caplog.text


def test_loading_refuses_before_any_download(tmp_path):
    from medft.models.resolve import resolve_model

    with pytest.raises(ConfigError, match="trust_remote_code"):
        resolve_model(compose_train(["model=baichuan2-7b"]).model, tmp_path)


def _tiny_of(arch):
    """The same architecture (transformers' own class for its model_type) at toy sizes, on the meta device."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM

    if arch.model_type == "t5":  # an encoder-decoder, under T5's own size names
        config = AutoConfig.for_model("t5", **T5_TOY)
        with torch.device("meta"):
            return AutoModelForSeq2SeqLM.from_config(config)
    sizes = {
        "hidden_size": 64,
        "intermediate_size": 96,
        "num_hidden_layers": 1,
        "num_attention_heads": 4,
        "num_key_value_heads": 2 if arch.n_kv_heads < arch.n_heads else 4,
        "vocab_size": 128,
    }
    if arch.head_dim:
        sizes["head_dim"] = 16
    if arch.num_experts > 1:
        sizes.update(num_local_experts=arch.num_experts, num_experts_per_tok=arch.experts_per_token)
    config = AutoConfig.for_model(arch.model_type, **sizes)
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


@pytest.mark.parametrize("model", sorted(set(MODELS) - REMOTE_CODE))
def test_lora_targets_are_linear_layers_of_the_architecture(model, models):
    import torch

    cfg = models[model]
    tiny = _tiny_of(cfg.arch)
    linear = {name.rsplit(".", 1)[-1] for name, module in tiny.named_modules() if isinstance(module, torch.nn.Linear)}
    linear.discard("lm_head")
    assert set(cfg.lora_target_modules) <= linear, (
        f"not layers of {cfg.arch.model_type}: {set(cfg.lora_target_modules) - linear}"
    )
    if cfg.arch.num_experts == 1:  # every linear layer is targeted (QLoRA's choice) where targets can name it
        assert set(cfg.lora_target_modules) == linear or cfg.name.startswith("tiny-random")


@pytest.mark.parametrize("model", sorted(REMOTE_CODE | {"phi-2"}))
def test_renamed_and_fused_layers_are_planned_under_their_own_names(model, models):
    from medft.hardware.planner import linear_shapes

    cfg = models[model]
    shapes = linear_shapes(cfg.arch)
    assert set(cfg.lora_target_modules) == set(shapes)
    if model == "chatglm3-6b":  # q (32 x 128) + k, v (2 groups x 128 each)
        assert shapes["query_key_value"] == (4096, 4096 + 2 * 256)
        assert shapes["dense_h_to_4h"] == (4096, 2 * 13696)
