"""Adapter lifecycle on a trained tiny-random run: merge, refuse what cannot merge, switch, stack."""

from __future__ import annotations

import shutil

import pytest
import torch

PROBE = "<|im_start|>user\nWhat does insulin do?<|im_end|>\n<|im_start|>assistant\n"


def logits(model, tokenizer, text=PROBE):
    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return model(input_ids=ids).logits[0]


def base_model(run_dir):
    from medft.run.saved_model import CPU_FP32, load_model_and_tokenizer, run_weights

    weights = run_weights(run_dir)
    return load_model_and_tokenizer(
        weights.model_cfg, weights.quant_cfg, CPU_FP32, weights.train_cfg.cache_dir, weights.train_cfg.seed
    )[:2]


def test_merged_checkpoint_gives_the_logits_of_base_plus_adapter(trained_tiny_run, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from medft.prompts import CHATML_TEMPLATE
    from medft.run.saved_model import load_run, merge_and_save

    out = merge_and_save(trained_tiny_run, tmp_path / "merged")
    assert (out / "model.safetensors").is_file() and not list(out.glob("adapter_*"))
    merged = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.chat_template == CHATML_TEMPLATE  # the template the run trained with travels along
    live, live_tokenizer, _ = load_run(trained_tiny_run, merge=False)
    assert type(live).__name__ == "PeftModelForCausalLM"  # base + adapter, not folded
    base, _ = base_model(trained_tiny_run)

    with_adapter = logits(live, live_tokenizer)
    adapter_effect = (with_adapter - logits(base, live_tokenizer)).abs().max().item()
    diff = (logits(merged, tokenizer) - with_adapter).abs().max().item()
    print(f"merged vs base+adapter: max abs logit diff {diff:.2e} (adapter moves logits by {adapter_effect:.3f})")
    assert adapter_effect > 1e-2  # lr 1e-2 trained a real update, so the comparison means something
    assert diff < 1e-4


def test_saved_merge_is_the_in_memory_merge_bit_for_bit_with_the_head_still_tied(trained_tiny_run, tmp_path):
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from medft.run.saved_model import load_run, merge_and_save

    out = merge_and_save(trained_tiny_run, tmp_path / "merged")
    in_memory, _, _ = load_run(trained_tiny_run)  # merge=True: the same fold, not saved
    assert type(in_memory).__name__ == "LlamaForCausalLM"
    stored = load_file(out / "model.safetensors")
    expected = in_memory.state_dict()
    assert "lm_head.weight" not in stored  # tied: saved once, as the embedding
    assert set(stored) == set(expected) - {"lm_head.weight"}
    for name, tensor in stored.items():
        assert tensor.dtype == torch.float32 and torch.equal(tensor, expected[name]), name
    loaded = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    assert loaded.lm_head.weight.data_ptr() == loaded.model.embed_tokens.weight.data_ptr()
    base, _ = base_model(trained_tiny_run)
    assert torch.equal(loaded.lm_head.weight, base.lm_head.weight)  # LoRA on q/v only: the head is the base's


def test_merged_and_unmerged_fp32_are_each_within_1e_5_of_float64(trained_tiny_run):
    from medft.models.float64_reference import float64_copy
    from medft.run.saved_model import load_run

    live, tokenizer, _ = load_run(trained_tiny_run, merge=False)
    merged, _, _ = load_run(trained_tiny_run)
    reference = logits(float64_copy(live), tokenizer)
    assert reference.dtype == torch.float64
    plain_double = logits(live.double(), tokenizer)  # transformers' own float64: norms still round to fp32
    live.float()
    for name, model in (("unmerged", live), ("merged", merged)):
        error = (logits(model, tokenizer).double() - reference).abs().max().item()
        print(f"{name} fp32 vs float64: {error:.2e}")
        assert 0 < error < 1e-5
    assert (plain_double - reference).abs().max().item() > 0  # the norms' fp32 cast is real, and removed


def test_a_prompt_tuning_adapter_is_refused_for_merging(trained_tiny_run, tmp_path):
    from peft import PromptTuningConfig, TaskType, get_peft_model

    from medft.run.saved_model import NotMergeableError, merge_and_save

    run_dir = tmp_path / "run"
    shutil.copytree(trained_tiny_run / ".hydra", run_dir / ".hydra")
    base, _ = base_model(trained_tiny_run)
    prompt_tuned = get_peft_model(base, PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=4))
    prompt_tuned.save_pretrained(run_dir / "adapter")
    with pytest.raises(NotMergeableError, match="PROMPT_TUNING adapter .* cannot be merged"):
        merge_and_save(run_dir, tmp_path / "merged")
    assert not (tmp_path / "merged").exists()


def test_switching_and_stacking_adapters(trained_tiny_run, tmp_path):
    from peft import LoraConfig, PeftModel, TaskType, get_peft_model

    from medft.run.saved_model import load_adapters, stack_adapters, switch_adapter

    # A second, different adapter: LoRA with random (non-zero) B, on other modules.
    base, tokenizer = base_model(trained_tiny_run)
    other = get_peft_model(
        base,
        LoraConfig(
            task_type=TaskType.CAUSAL_LM,
            r=4,
            lora_alpha=8,
            init_lora_weights=False,
            target_modules=["q_proj", "v_proj"],
        ),
    )
    other.save_pretrained(tmp_path / "other")
    adapters = {"trained": trained_tiny_run / "adapter", "other": tmp_path / "other"}

    def alone(name):
        fresh, _ = base_model(trained_tiny_run)
        return logits(PeftModel.from_pretrained(fresh, str(adapters[name])).eval(), tokenizer)

    both = load_adapters(base_model(trained_tiny_run)[0], adapters)
    assert both.active_adapter == "trained"
    for name in ("other", "trained"):
        switch_adapter(both, name)
        assert (logits(both, tokenizer) - alone(name)).abs().max().item() < 1e-5
    with pytest.raises(KeyError, match="not loaded"):
        switch_adapter(both, "missing")

    # Stacking with `cat` is exactly both updates at once: merge one, then apply the other.
    stack_adapters(both, ["trained", "other"], [1.0, 1.0])
    sequential, _ = base_model(trained_tiny_run)
    sequential = PeftModel.from_pretrained(sequential, str(adapters["trained"])).merge_and_unload()
    sequential = PeftModel.from_pretrained(sequential, str(adapters["other"])).eval()
    stacked = logits(both, tokenizer)
    assert (stacked - logits(sequential, tokenizer)).abs().max().item() < 1e-4
    assert (stacked - alone("trained")).abs().max().item() > 1e-3  # the second adapter does count
