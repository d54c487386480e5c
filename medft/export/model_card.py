"""The README.md model card every export writes: what the model is, how it was made and scored,
how to run this format, what it is for and what it is not (Mitchell et al. 2019, "Model Cards")."""

from __future__ import annotations

import json
from pathlib import Path

NOT_A_DEVICE = (
    "**Not a medical device.** This model is a research artefact. It has not been validated for clinical "
    "use, is not approved by any regulator, and its output is not medical advice. It can state wrong, "
    "outdated or harmful things fluently. Do not use it to diagnose, treat or triage anyone; a qualified "
    "clinician must check anything derived from it.")

USAGE = {
    "merged": "```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n"
              "tokenizer = AutoTokenizer.from_pretrained(\"{out}\")\n"
              "model = AutoModelForCausalLM.from_pretrained(\"{out}\")\n```",
    "gguf": "```bash\nollama create medft-model -f {out}/Modelfile && ollama run medft-model\n"
            "llama-cli -m {out}/{first} -cnv        # llama.cpp\n```",
    "onnx": "```python\nfrom medft.export.onnx import OnnxCausalLM\n"
            "logits = OnnxCausalLM(\"{out}\").logits(input_ids)  # onnxruntime, [1, seq, vocab]\n```",
}


def _results_table(metrics: dict) -> list[str]:
    before, after = metrics.get("eval_before", {}), metrics.get("eval_after", {})
    paired = metrics.get("paired", {})
    if not after:
        return ["No evaluation was run after training."]
    lines = ["| set | n | base acc [95% CI] | tuned acc [95% CI] | McNemar p |", "|---|---|---|---|---|"]
    for name, result in after.items():
        base = before.get(name)
        base_text = f"{base['acc']:.3f} [{base['acc_ci95'][0]:.3f}, {base['acc_ci95'][1]:.3f}]" if base else "-"
        p_value = paired.get(name, {}).get("p_value")
        lines.append(f"| {name} | {result['n']} | {base_text} | {result['acc']:.3f} "
                     f"[{result['acc_ci95'][0]:.3f}, {result['acc_ci95'][1]:.3f}] | "
                     f"{'-' if p_value is None else f'{p_value:.2g}'} |")
    for name, result in metrics.get("benchmarks_after", {}).items():
        if "acc" in result:
            lines.append(f"| benchmark {name} | {result.get('n')} | - | {result['acc']:.3f} | - |")
    return lines


def model_card(weights, fmt: str, files: list[str], out: Path, extra: dict | None = None) -> str:
    """Markdown for `out/README.md`; `weights` is the run's medft.adapters.RunWeights."""
    cfg = weights.train_cfg
    metrics_file = weights.run_dir / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    train = metrics.get("train", {})
    peft = cfg.peft_method
    method = peft.method if peft.method == "full" else (
        f"{peft.method} (r={peft.r}, alpha={peft.alpha}, targets={peft.target_modules or list(cfg.model.lora_target_modules)})")
    base = cfg.model.hub_id or cfg.model.get("path") or cfg.model.name
    lines = [
        f"# {cfg.model.name} fine-tuned by medft ({cfg.name}) - {fmt} export", "",
        NOT_A_DEVICE, "",
        "## Model", "",
        f"- Base model: `{cfg.model.name}` ({base}, source: {cfg.model.source})",
        f"- Method: {method}; base quantization during training: {cfg.quantization.method}"
        + (" (merged into the fp32 base weights)" if cfg.quantization.method != "none" else ""),
        f"- Training run: `{weights.run_dir}` (seed {cfg.seed}, {train.get('steps', '?')} steps, "
        f"{train.get('tokens', '?')} tokens, train loss {train.get('train_loss', float('nan')):.4f})",
        f"- Data: `dataset={cfg.dataset.name}` (kind {cfg.dataset.kind}"
        + (f", {cfg.dataset.path}" if cfg.dataset.get("path") else "") + ")",
        f"- System prompt used in training: {cfg.model.system_prompt or 'the medft default (medft/prompts)'}",
        "", "## Files", "", *[f"- `{name}`" for name in files],
        "", "## Use", "", USAGE[fmt].format(out=out, first=files[0] if files else ""),
        "", "## Evaluation (from the run's metrics.json)", "", *_results_table(metrics), "",
        "Multiple-choice accuracy on held-out questions with Wilson 95% intervals; the base model is scored on "
        "the same questions, and McNemar's test compares the two on the same items.",
    ]
    if extra:
        lines += ["", "## Export check", "", *[f"- {key}: {value}" for key, value in extra.items()]]
    lines += [
        "", "## Intended use", "",
        "Research on fine-tuning methods for medical language tasks: reproducing and comparing runs, studying "
        "what adapters learn, building evaluation pipelines. Not for patient care, clinical decision support, "
        "or any setting where its output reaches a patient or a clinician without expert review.",
        "", "## Limitations", "",
        "- Small models trained on small data memorise facts more than they reason; accuracy on questions "
        "outside the training facts can fall (see the control set above, when present).",
        "- The scores are multiple-choice accuracies on this project's held-out sets; they say nothing about "
        "safety, calibration or free-text correctness.",
        "- Quantized formats (q8_0 and lower) change the logits slightly; compare with the merged model "
        "(benchmarks/bench_export.py) before relying on one.",
        "- Medical knowledge changes; the model knows nothing after its training data.",
        "",
    ]
    return "\n".join(lines)
