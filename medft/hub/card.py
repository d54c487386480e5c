"""The model card (README.md) pushed with a run: base model, method, data, metrics, and the notice
that this is a research artefact, not a medical device. Built from the run's own files only.

A small writer of its own because the export work (issue 8) may bring a shared one; the two
should become one (see the integrator's note).
"""

from __future__ import annotations

NOTICE = ("**Not a medical device.** This model was fine-tuned for research on medical question answering. "
          "It is not validated for clinical use, can be confidently wrong, and must not be used to diagnose, "
          "treat or give advice about any person's health.")


def _pct(x) -> str:
    return "" if x is None else f"{100 * x:.1f}"


def _interval(ci) -> str:
    return "" if not ci or None in ci else f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def metrics_table(metrics: dict) -> list[str]:
    """One row per evaluated set: accuracy before and after with 95% intervals, and the paired test."""
    before, after, paired = metrics.get("eval_before", {}), metrics.get("eval_after", {}), metrics.get("paired", {})
    lines = ["| set | n | base acc (%) [95% CI] | tuned acc (%) [95% CI] | change (points) [95% CI] | McNemar p |",
             "|---|---:|---|---|---|---:|"]
    for name, result in after.items():
        b, p = before.get(name, {}), paired.get(name, {})
        change = f"{100 * p['acc_delta']:+.1f} {_interval(p.get('acc_delta_ci95'))}" if "acc_delta" in p else ""
        p_value = f"{p['p_value']:.2g}" if "p_value" in p else ""
        lines.append(f"| {name} | {result.get('n', '')} | {_pct(b.get('acc'))} {_interval(b.get('acc_ci95'))} | "
                     f"{_pct(result.get('acc'))} {_interval(result.get('acc_ci95'))} | {change} | {p_value} |")
    return lines


def model_card(cfg, metrics: dict, manifest: dict, what: str) -> str:
    """README.md text with the hub's YAML metadata block first."""
    import yaml

    base = cfg.model.hub_id
    meta = {"library_name": "peft" if what == "adapter" else "transformers",
            "tags": ["medical", "medft", cfg.peft_method.method], "pipeline_tag": "text-generation"}
    if base:
        meta["base_model"] = base
    train = metrics.get("train", {})
    data = manifest.get("data", {})
    source = {"packaged": f"the `{cfg.model.package}` pip package ({cfg.model.gguf_file}, dequantized), whose "
                          f"original is `{base}`", "hub": f"`{base}`", "local": f"a local checkpoint ({cfg.model.path})",
              "random": "a randomly initialised test model"}.get(cfg.model.source, cfg.model.source)
    lines = [
        "---", yaml.safe_dump(meta, sort_keys=True).strip(), "---", "",
        f"# {cfg.name}: {cfg.model.name} + {cfg.peft_method.method}", "", NOTICE, "",
        "## What this is", "",
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
        "", "## Evaluation", "",
        f"Multiple-choice accuracy ({cfg.eval.formulation} scoring) of the base model and of this model on the "
        "same questions; the change is paired (McNemar's test, normal-approximation interval).", "",
        *metrics_table(metrics), "",
    ]
    if "test_vs_retention" in metrics.get("paired", {}):
        v = metrics["paired"]["test_vs_retention"]
        lines += [f"Forgetting check (`retention={cfg.retention.name}`, general non-medical questions): medical test "
                  f"gain {100 * v['test_gain']:+.1f} points, retention change {100 * v['retention_change']:+.1f} "
                  f"points.", ""]
    lines += ["## Limits", "",
              "Scores come from the run's own held-out questions; they say nothing about safety, bias or clinical "
              "usefulness. See the notice above.", ""]
    return "\n".join(lines)
