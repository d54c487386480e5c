"""Optional speed-ups (medft/models/fast_paths.py): detected, applied, or refused with one notice."""

from __future__ import annotations

import logging
import shutil

import pytest
import torch

from medft import builders
from medft.models import fast_paths
from medft.models.resolve import resolve_model


def _wrapped(cfg):
    resolved = resolve_model(cfg.model, cfg.cache_dir, cfg.seed)
    return builders.wrap_for_training(builders.load_model(cfg, resolved), cfg)


def test_decoder_layers_found_through_the_peft_wrapper(tiny_cfg):
    model = _wrapped(tiny_cfg())
    layers = fast_paths.decoder_layers(model)
    assert layers is model.base_model.model.model.layers
    assert len(layers) == model.config.num_hidden_layers


def test_liger_is_not_used_on_cpu_and_says_why_when_asked(tiny_cfg, caplog):
    assert fast_paths.liger_enabled(tiny_cfg().hardware) is False  # auto: silent on CPU
    with caplog.at_level(logging.WARNING):
        assert fast_paths.liger_enabled(tiny_cfg("hardware.fast_kernels=liger").hardware) is False
    assert "GPU only" in caplog.text
    args = builders.training_arguments(tiny_cfg(), "/tmp/unused", 1)
    assert args["use_liger_kernel"] is False


def test_unsloth_backend_falls_back_with_its_reasons(tiny_cfg, caplog):
    cfg = tiny_cfg("backend=unsloth", "peft_method=dora")
    with caplog.at_level(logging.WARNING):
        assert fast_paths.unsloth_available(cfg) is False
    assert "falling back" in caplog.text and "CUDA GPU" in caplog.text and "peft_method=dora" in caplog.text
    model = _wrapped(cfg)  # the plain path: a peft model, nothing from Unsloth
    assert not fast_paths.loaded_by_unsloth(model)
    assert type(model).__name__ == "PeftModelForCausalLM"


def test_unknown_compile_choice_is_refused(tiny_cfg):
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match="hardware.compile"):
        tiny_cfg("hardware.compile=everything")


@pytest.mark.slow
@pytest.mark.skipif(
    not (shutil.which("c++") or shutil.which("g++")), reason="torch.compile's CPU backend needs a C++ compiler"
)
def test_regional_compile_gives_the_eager_loss_and_gradients(tiny_cfg):
    """Compiled layers compute what eager ones do, keep the state-dict keys, and serve several widths."""
    torch.manual_seed(0)
    eager = _wrapped(tiny_cfg("peft_method.dropout=0"))
    compiled = _wrapped(tiny_cfg("peft_method.dropout=0", "hardware.compile=regional"))
    compiled.load_state_dict(eager.state_dict())
    assert list(compiled.state_dict()) == list(eager.state_dict())
    for width in (9, 17):  # dynamic shapes: no failure on a second width
        ids = torch.randint(3, 200, (2, width))
        losses = []
        for model in (eager, compiled):
            model.zero_grad()
            loss = model(input_ids=ids, labels=ids).loss
            loss.backward()
            grad = next(p.grad for n, p in model.named_parameters() if "lora_B" in n)
            losses.append((loss.item(), grad.clone()))
        assert losses[0][0] == pytest.approx(losses[1][0], abs=1e-5)
        assert torch.allclose(losses[0][1], losses[1][1], atol=1e-5)


def test_compact_lm_head_scores_only_labelled_positions_with_the_same_loss(tiny_cfg, monkeypatch):
    """TRL's fused head on CPU: every position unpatched, only labelled ones patched; same loss and gradient."""
    import trl.trainer.utils as trl_utils
    from trl.kernels.chunked_logprob import _use_triton as trl_own
    from trl.trainer.utils import add_fused_lm_head

    monkeypatch.setattr(trl_utils, "_use_triton", trl_own)  # TRL as shipped, even if an earlier run patched it
    rows = []
    original_apply = trl_utils._ChunkedLogProbFunction.apply

    def counting_apply(hidden, *args):
        rows.append(hidden.shape[0])
        return original_apply(hidden, *args)

    monkeypatch.setattr(trl_utils._ChunkedLogProbFunction, "apply", counting_apply)
    model = _wrapped(tiny_cfg("peft_method.dropout=0"))
    add_fused_lm_head(model.get_base_model())
    ids = torch.randint(3, 200, (2, 12))
    labels = ids.clone()
    labels[:, :9] = -100  # a prompt of 9 tokens, 3 answer tokens per row
    results = []
    for compact in (False, True):
        if compact:
            assert fast_paths.compact_lm_head(tiny_cfg().hardware)
        model.zero_grad()
        loss = model(input_ids=ids, labels=labels, fused_lm_head=True).loss
        loss.backward()
        grad = next(p.grad for n, p in model.named_parameters() if "lora_B" in n).clone()
        results.append((loss.item(), grad))
    assert rows == [2 * 11, 2 * 3]  # every shifted position (11 per row), then only the 3 answer tokens per row
    assert results[0][0] == pytest.approx(results[1][0], abs=1e-6)
    assert torch.allclose(results[0][1], results[1][1], atol=1e-6)
