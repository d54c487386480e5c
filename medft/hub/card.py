"""The model card (README.md) pushed with a run: base model, method, data, metrics, and the notice
that this is a research artefact, not a medical device. Built from the run's own files only.

The notice and the metrics table are the export model card's (medft/export/model_card.py), so a
pushed run and an exported one describe the model the same way; only the hub's metadata and
upload-specific lines are added here.
"""

from __future__ import annotations

from medft.export.model_card import NOT_A_DEVICE as NOTICE
from medft.export.model_card import metrics_table


def model_card(cfg, metrics: dict, manifest: dict, what: str) -> str:
    """README.md text with the hub's YAML metadata block first."""
    import yaml

    base = cfg.model.hub_id
    meta = {
        "library_name": "peft" if what == "adapter" else "transformers",
        "tags": ["medical", "medft", str(cfg.peft_method.method)],
        "pipeline_tag": "text-generation",
    }  # str: yaml knows no Enum
    if base:
        meta["base_model"] = base
    train = metrics.get("train", {})
    data = manifest.get("data", {})
    source = {
        "packaged": f"the `{cfg.model.package}` pip package ({cfg.model.gguf_file}, dequantized), whose "
        f"original is `{base}`",
        "hub": f"`{base}`",
        "local": f"a local checkpoint ({cfg.model.path})",
        "random": "a randomly initialised test model",
    }.get(cfg.model.source, cfg.model.source)
    lines = [
        "---",
        yaml.safe_dump(meta, sort_keys=True).strip(),
        "---",
        "",
        f"# {cfg.name}: {cfg.model.name} + {cfg.peft_method.method}",
        "",
        NOTICE,
        "",
        "## What this is",
        "",
        f"- **Base model**: {cfg.model.name}, from {source}.",
        f"- **Method**: `peft_method={cfg.peft_method.method}`"
        + (f", `quantization={cfg.quantization.method}`" if cfg.quantization.method != "none" else "")
        + f"; {train.get('trainable_params', '?')} of {train.get('total_params', '?')} parameters trained.",
        f"- **Uploaded**: the {'adapter (load it on the base model with peft)' if what == 'adapter' else 'full model'}.",
        f"- **Data**: `dataset={cfg.dataset.name}` (kind {cfg.dataset.kind}); split sizes "
        f"{data.get('sizes', {})}; fingerprint `{data.get('fingerprint', '')}`.",
        f"- **Training**: {train.get('steps', '?')} steps of batch {cfg.training.batch_size}, "
        f"optimizer {cfg.optimizer.name} at lr {cfg.optimizer.lr}, seed {cfg.seed}, max length {cfg.training.max_seq_len}.",
        f"- **Made with**: medft, commit `{manifest.get('git', {}).get('commit', 'unknown')}`; "
        "the resolved config is `medft_config.yaml`, every number below is in `metrics.json`.",
        "",
        "## Evaluation",
        "",
        f"Multiple-choice accuracy ({cfg.eval.formulation} scoring) of the base model and of this model on the "
        "same questions; the change is paired (McNemar's test, normal-approximation interval).",
        "",
        *metrics_table(metrics),
        "",
    ]
    if "test_vs_retention" in metrics.get("paired", {}):
        v = metrics["paired"]["test_vs_retention"]
        lines += [
            f"Forgetting check (`retention={cfg.retention.name}`, general non-medical questions): medical test "
            f"gain {100 * v['test_gain']:+.1f} points, retention change {100 * v['retention_change']:+.1f} "
            f"points.",
            "",
        ]
    lines += [
        "## Limits",
        "",
        "Scores come from the run's own held-out questions; they say nothing about safety, bias or clinical "
        "usefulness. See the notice above.",
        "",
    ]
    return "\n".join(lines)
