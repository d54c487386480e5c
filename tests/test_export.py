"""Exports of a run folder: merged checkpoint, ONNX (onnxruntime), GGUF (llama.cpp), Modelfile, model card."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest
import torch

PROBE = "<|im_start|>user\nWhat does insulin do?<|im_end|>\n<|im_start|>assistant\nIt lowers"


def export_cfg(run_dir, *overrides):
    from medft.config.compose import compose_named

    return compose_named("export", [f"run_dir={run_dir}", *overrides])


def test_merged_export_writes_checkpoint_tokenizer_and_model_card(trained_tiny_run, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from medft.export.model_card import NOT_A_DEVICE
    from medft.recipes.export import run

    out = run(export_cfg(trained_tiny_run, "format=merged", f"out={tmp_path / 'm'}"))
    assert out == (tmp_path / "m").resolve()
    assert {"model.safetensors", "tokenizer.json", "config.json", "README.md", "export.json"} <= {
        p.name for p in out.iterdir()
    }
    assert AutoTokenizer.from_pretrained(out).chat_template.startswith("{% for message in messages %}")
    AutoModelForCausalLM.from_pretrained(out)
    card = (out / "README.md").read_text()
    metrics = json.loads((trained_tiny_run / "metrics.json").read_text())
    test_acc = metrics["eval_after"]["test"]["acc"]
    assert NOT_A_DEVICE in card and "`tiny-random`" in card and "lora (r=16, alpha=32" in card
    assert (
        f"| test | {metrics['eval_after']['test']['n']} |   | {100 * test_acc:.1f} [" in card
    )  # eval.before=false: no base
    assert "## Intended use" in card and "## Limitations" in card


def test_modelfile_carries_template_stops_system_and_parameters():
    from omegaconf import OmegaConf

    from medft.export.modelfile import modelfile
    from medft.prompts import CHATML_TEMPLATE, GEMMA_TEMPLATE

    sampling = OmegaConf.create(
        {
            "do_sample": False,
            "temperature": 0.7,
            "top_p": 0.9,
            "max_new_tokens": 64,
            "repetition_penalty": 1.1,
            "seed": 0,
        }
    )
    text = modelfile("m-f16.gguf", CHATML_TEMPLATE, "You are careful.", sampling, 2048, "<|im_end|>")
    lines = text.splitlines()
    assert "FROM ./m-f16.gguf" in lines and 'SYSTEM """You are careful."""' in lines
    assert 'PARAMETER stop "<|im_end|>"' in lines and "PARAMETER temperature 0" in lines  # greedy
    assert "PARAMETER num_ctx 2048" in lines and "PARAMETER num_predict 64" in lines
    template = text.split('TEMPLATE """', 1)[1].split('"""', 1)[0]
    assert "<|im_start|>{{ .Role }}" in template and template.endswith("<|im_start|>assistant\n")
    assert "<end_of_turn>" in modelfile("g.gguf", GEMMA_TEMPLATE, "s", sampling, 512)
    unknown = modelfile("x.gguf", "{{ messages }}", "s", sampling, 512, "</s>")
    assert "TEMPLATE" not in unknown and 'PARAMETER stop "</s>"' in unknown  # Ollama uses the GGUF's own


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime not installed")
def test_onnx_export_runs_in_onnxruntime_with_the_merged_logits(trained_tiny_run, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from medft.export.onnx import OnnxCausalLM
    from medft.recipes.export import run

    out = run(export_cfg(trained_tiny_run, "format=onnx", f"out={tmp_path / 'o'}"))
    check = json.loads((out / "export.json").read_text())["check"]
    assert check["max_abs_logit_diff"] < 1e-4 and check["top1_agreement"] == 1.0
    merged_dir = run(export_cfg(trained_tiny_run, "format=merged", f"out={tmp_path / 'm'}"))  # out=: only there
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    ids = tokenizer(PROBE, add_special_tokens=False, return_tensors="pt")["input_ids"]  # another length
    with torch.no_grad():
        reference = merged(input_ids=ids).logits[0].numpy()
    got = OnnxCausalLM(out).logits(ids.numpy())[0]
    assert abs(got - reference).max() < 1e-4
    assert "onnxruntime" in (out / "README.md").read_text()


def smollm2_run(tmp_path: Path) -> Path:
    """A SmolLM2 run folder holding a real (untrained, non-zero) LoRA adapter: the export path of a
    finished run without minutes of training."""
    from omegaconf import OmegaConf
    from peft import LoraConfig, TaskType, get_peft_model

    from medft.config.compose import compose_train
    from medft.run.saved_model import CPU_FP32, load_model_and_tokenizer

    cfg = compose_train(["logger=none"])
    run_dir = tmp_path / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
    base, tokenizer, _ = load_model_and_tokenizer(cfg.model, cfg.quantization, CPU_FP32, cfg.cache_dir, cfg.seed)
    torch.manual_seed(0)
    lora = LoraConfig(
        task_type=TaskType.CAUSAL_LM, r=4, lora_alpha=8, init_lora_weights=False, target_modules=["q_proj", "v_proj"]
    )
    model = get_peft_model(base, lora)
    for name, param in model.named_parameters():
        if "lora_" in name:
            param.data.mul_(0.05)  # small: a plausible trained update, not noise that swamps the model
    model.save_pretrained(run_dir / "adapter")
    return run_dir


@pytest.mark.slow
def test_gguf_export_loads_in_llama_cpp_with_the_merged_logits(tmp_path):
    """llama.cpp's converters on a SmolLM2 run (tiny-random's byte tokenizer is one llama.cpp does not
    know); set MEDFT_LLAMA_CPP_SDIST to a local llama-cpp-python sdist to skip the download."""
    import gguf

    from medft.recipes.export import run

    run_dir = smollm2_run(tmp_path)
    sdist = os.environ.get("MEDFT_LLAMA_CPP_SDIST")
    have_llama = importlib.util.find_spec("llama_cpp") is not None
    types = "[f16,q8_0]" if have_llama else "[f16]"  # q8_0 with an f16 head is llama.cpp's quantizer: the runtime
    out = run(export_cfg(run_dir, "format=gguf", f"gguf.types={types}", *([f"gguf.sdist={sdist}"] if sdist else [])))
    export = json.loads((out / "export.json").read_text())
    files = export["files"]
    assert files == [
        "smollm2-135m-f16.gguf",
        *(["smollm2-135m-q8_0.gguf"] if have_llama else []),
        "smollm2-135m-lora-f16.gguf",
        "Modelfile",
    ]
    if have_llama:  # the tied head (token_embd) stays f16, every other matrix is q8_0; the card says so
        q8 = export["check"]["tensor_types"]["smollm2-135m-q8_0.gguf"]
        assert q8["float_matrices"] == ["token_embd.weight"] and q8["counts"]["Q8_0"] == 210
        assert "matrices kept in floating point: `token_embd.weight`" in (out / "README.md").read_text()
        assert not list(out.glob(".*quantizer-source*"))  # f16 was asked for: it is the source, nothing extra
    reader = gguf.GGUFReader(str(out / files[0]))
    assert "tokenizer.chat_template" in reader.fields and "general.architecture" in reader.fields
    assert 'PARAMETER stop "<|im_end|>"' in (out / "Modelfile").read_text()
    if not have_llama:
        pytest.skip("llama_cpp not installed: GGUF written and read back, not run")
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_export import compare, llama_logits, sequences

    refs, _, _ = sequences(run_dir / "exports" / "merged", None, answer_tokens=8)
    row = compare("f16", refs[:4], llama_logits(out / files[0], threads=2))
    print(row)
    assert row["top1_agreement"] >= 0.99
