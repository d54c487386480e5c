"""The README.md model card every export writes: what the model is, how it was made and scored,
how to run this format, what it is for and what it is not (Mitchell et al. 2019, "Model Cards")."""

from __future__ import annotations

import json
from pathlib import Path

from medft.models.seq2seq import language_model_class

NOT_A_DEVICE = (
    "**Not a medical device.** This model is a research artefact. It has not been validated for clinical "
    "use, is not approved by any regulator, and its output is not medical advice. It can state wrong, "
    "outdated or harmful things fluently. Do not use it to diagnose, treat or triage anyone; a qualified "
    "clinician must check anything derived from it."
)

USAGE = {
    "merged": "```python\nfrom transformers import {auto}, AutoTokenizer\n"
    'tokenizer = AutoTokenizer.from_pretrained("{out}")\n'
    'model = {auto}.from_pretrained("{out}")\n```',
    "gguf": "```bash\nollama create medft-model -f {out}/Modelfile && ollama run medft-model\n"
    "llama-cli -m {out}/{first} -cnv        # llama.cpp\n```",
    "onnx": "```python\nfrom medft.export.onnx import OnnxCausalLM\n"
    'logits = OnnxCausalLM("{out}").logits(input_ids)  # onnxruntime, [1, seq, vocab]\n```',
}


def _pct(x) -> str:
    return "" if x is None else f"{100 * x:.1f}"


def _interval(ci) -> str:
    return "" if not ci or None in ci else f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def metrics_table(metrics: dict) -> list[str]:
    """One row per evaluated set: accuracy before and after with 95% intervals, and the paired test."""
    before, after, paired = metrics.get("eval_before", {}), metrics.get("eval_after", {}), metrics.get("paired", {})
    lines = [
        "| set | n | base acc (%) [95% CI] | tuned acc (%) [95% CI] | change (points) [95% CI] | McNemar p |",
        "|---|---:|---|---|---|---:|",
    ]
    for name, result in after.items():
        b, p = before.get(name, {}), paired.get(name, {})
        change = f"{100 * p['acc_delta']:+.1f} {_interval(p.get('acc_delta_ci95'))}" if "acc_delta" in p else ""
        p_value = f"{p['p_value']:.2g}" if "p_value" in p else ""
        lines.append(
            f"| {name} | {result.get('n', '')} | {_pct(b.get('acc'))} {_interval(b.get('acc_ci95'))} | "
            f"{_pct(result.get('acc'))} {_interval(result.get('acc_ci95'))} | {change} | {p_value} |"
        )
    return lines


def _results_table(metrics: dict) -> list[str]:
    if not metrics.get("eval_after"):
        return ["No evaluation was run after training."]
    lines = metrics_table(metrics)
    for name, result in metrics.get("benchmarks_after", {}).items():
        if "acc" in result:
            lines.append(
                f"| benchmark {name} | {result.get('n')} | | {_pct(result['acc'])} {_interval(result.get('acc_ci95'))} | | |"
            )
    return lines


def tensor_type_lines(types: dict) -> list[str]:
    """One line per GGUF file: how many tensors of each type, and which matrices stay in floating point."""
    lines = []
    for name, found in types.items():
        counts = ", ".join(f"{count} {kind}" for kind, count in sorted(found["counts"].items(), key=lambda kv: -kv[1]))
        kept = found["float_matrices"]
        quantized = any(kind.startswith("Q") for kind in found["counts"])
        note = (
            f"; matrices kept in floating point: {', '.join(f'`{m}`' for m in kept)}"
            if quantized and kept
            else "; every matrix quantized"
            if quantized
            else ""
        )
        lines.append(f"- `{name}`: {counts} tensors{note}")
    if any(m == "token_embd.weight" for found in types.values() for m in found["float_matrices"]):
        lines.append(
            "- With tied embeddings `token_embd.weight` is also the output head, so llama.cpp's quantizer "
            "gives it the output type (`gguf.output_tensor_type`) in quantized files."
        )
    return lines


def model_card(weights, fmt: str, files: list[str], out: Path, extra: dict | None = None) -> str:
    """Markdown for `out/README.md`; `weights` is the run's medft.run.saved_model.RunWeights."""
    cfg = weights.train_cfg
    metrics_file = weights.run_dir / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    train = metrics.get("train", {})
    peft = cfg.peft_method
    method = (
        peft.method
        if peft.method == "full"
        else (
            f"{peft.method} (r={peft.r}, alpha={peft.alpha}, targets={peft.target_modules or list(cfg.model.lora_target_modules)})"
        )
    )
    base = cfg.model.hub_id or cfg.model.get("path") or cfg.model.name
    lines = [
        f"# {cfg.model.name} fine-tuned by medft ({cfg.name}) - {fmt} export",
        "",
        NOT_A_DEVICE,
        "",
        "## Model",
        "",
        f"- Base model: `{cfg.model.name}` ({base}, source: {cfg.model.source})",
        f"- Method: {method}; base quantization during training: {cfg.quantization.method}"
        + (" (merged into the fp32 base weights)" if cfg.quantization.method != "none" else ""),
        f"- Training run: `{weights.run_dir}` (seed {cfg.seed}, {train.get('steps', '?')} steps, "
        f"{train.get('tokens', '?')} tokens, train loss {train.get('train_loss', float('nan')):.4f})",
        f"- Data: `dataset={cfg.dataset.name}` (kind {cfg.dataset.kind}"
        + (f", {cfg.dataset.path}" if cfg.dataset.get("path") else "")
        + ")",
        f"- System prompt used in training: {cfg.model.system_prompt or 'the medft default (medft/prompts)'}",
        "",
        "## Files",
        "",
        *[f"- `{name}`" for name in files],
        "",
        "## Use",
        "",
        USAGE[fmt].format(out=out, first=files[0] if files else "", auto=language_model_class(cfg.model).__name__),
        "",
        "## Evaluation (from the run's metrics.json)",
        "",
        *_results_table(metrics),
        "",
        "Multiple-choice accuracy on held-out questions with Wilson 95% intervals; the base model is scored on "
        "the same questions, and McNemar's test compares the two on the same items.",
    ]
    checks = {key: value for key, value in (extra or {}).items() if key != "tensor_types"}
    if checks:
        lines += ["", "## Export check", "", *[f"- {key}: {value}" for key, value in checks.items()]]
    if (extra or {}).get("tensor_types"):
        lines += ["", "## Tensor precision (read back from each file)", "", *tensor_type_lines(extra["tensor_types"])]
    lines += [
        "",
        "## Intended use",
        "",
        "Research on fine-tuning methods for medical language tasks: reproducing and comparing runs, studying "
        "what adapters learn, building evaluation pipelines. Not for patient care, clinical decision support, "
        "or any setting where its output reaches a patient or a clinician without expert review.",
        "",
        "## Limitations",
        "",
        "- Small models trained on small data memorise facts more than they reason; accuracy on questions "
        "outside the training facts can fall (see the control set above, when present).",
        "- The scores are multiple-choice accuracies on this project's held-out sets; they say nothing about "
        "safety, calibration or free-text correctness.",
        "- Quantized formats (q8_0 and lower) change the logits slightly; compare with the merged model "
        "(perf/bench_export.py) before relying on one.",
        "- Medical knowledge changes; the model knows nothing after its training data.",
        "",
    ]
    return "\n".join(lines)
