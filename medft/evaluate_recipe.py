"""The evaluation recipe behind `evaluate.py`: pick the model (a base model or a training run's
adapter on its base), score the configured benchmarks, write results.json, results.md,
manifest.json and per-item predictions into the evaluation folder.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from medft import builders
from medft.errors import UserError
from medft.run.files import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

RESULTS_FILE = "results.json"
TABLE_FILE = "results.md"


class RunDirError(UserError, FileNotFoundError):
    """run_dir= does not point at a training run that can be evaluated."""


def model_under_test(cfg):
    """(model config, quantization config, adapter folder or None, description) for cfg."""
    from omegaconf import OmegaConf

    if not cfg.run_dir:
        return cfg.model, cfg.quantization, None, {"label": cfg.model.name}
    run_dir = Path(cfg.run_dir).expanduser().resolve()
    config_file = run_dir / ".hydra" / "config.yaml"
    if not config_file.is_file():
        raise RunDirError(f"run_dir={cfg.run_dir}: no training run there (missing {config_file}). "
                          "Give a folder like outputs/<name>/<YYYY-MM-DD_HH-MM-SS> made by train.py")
    train_cfg = OmegaConf.load(config_file)
    model_cfg = train_cfg.model
    adapter = run_dir / "adapter"
    full = run_dir / "model"
    if full.is_dir():  # full fine-tuning saved every weight: evaluate that checkpoint directly
        model_cfg = OmegaConf.merge(model_cfg, {"source": "local", "path": str(full)})
        adapter = None
    elif not adapter.is_dir():
        raise RunDirError(f"run_dir={cfg.run_dir}: no adapter/ or model/ folder, so training did not finish. "
                          f"Finish it with `python train.py name={train_cfg.name} resume=true`")
    label = f"{model_cfg.name} + {'adapter' if adapter else 'weights'} of {run_dir.name}"
    return model_cfg, train_cfg.quantization, adapter, {"label": label, "run_dir": str(run_dir)}


def load_for_evaluation(cfg, model_cfg, quant_cfg, adapter: Path | None):
    from omegaconf import OmegaConf

    from medft.models.resolve import resolve_model

    resolved = resolve_model(model_cfg, cfg.cache_dir, cfg.seed)
    view = OmegaConf.create({"model": OmegaConf.to_container(model_cfg), "hardware": OmegaConf.to_container(cfg.hardware),
                             "quantization": OmegaConf.to_container(quant_cfg)})
    tokenizer = builders.load_tokenizer(view.model, resolved)
    model = builders.load_model(view, resolved)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
        if quant_cfg.method == "none" and not model.active_peft_config.is_prompt_learning:
            # Folding the low-rank update into the weights gives the same function, scored at base speed
            # (virtual tokens of prompt learning are an input, not a weight: they cannot be folded).
            model = model.merge_and_unload()
    return model.eval(), tokenizer, resolved


def run(cfg, out_dir: str | Path) -> dict:
    from medft.benchmarks.report import markdown_tables
    from medft.benchmarks.suite import check_benchmark_config, evaluate_benchmarks
    from medft.run.manifest import git_state, hardware_info, package_versions

    out_dir = Path(out_dir)
    started = time.time()
    check_benchmark_config(cfg.benchmark)
    if not cfg.benchmark.members:
        raise UserError("benchmark=none scores nothing: choose benchmark=medical_suite or one benchmark")
    model_cfg, quant_cfg, adapter, described = model_under_test(cfg)
    import torch

    if cfg.hardware.num_threads:
        torch.set_num_threads(cfg.hardware.num_threads)
    model, tokenizer, resolved = load_for_evaluation(cfg, model_cfg, quant_cfg, adapter)
    loaded = time.time()
    log.info("Loaded %s in %.1f s", described["label"], loaded - started)

    benchmarks, _ = evaluate_benchmarks(model, tokenizer, cfg.benchmark, model_cfg.system_prompt,
                                        items_dir=out_dir / "items")
    model_info = {**described, "name": model_cfg.name, "source": resolved.source, "path": resolved.path,
                  "checksum": resolved.checksum, "adapter": str(adapter) if adapter else None,
                  "quantization": quant_cfg.method}
    results = {
        "model": model_info,
        "benchmarks": benchmarks,
        "settings": {key: cfg.benchmark[key] for key in ("prompt_style", "generative_prompt_style", "shots", "split", "limit",
                                                        "generative_limit")},
        "timing": {"load_s": round(loaded - started, 2), "evaluate_s": round(time.time() - loaded, 2),
                   "total_s": round(time.time() - started, 2),
                   "per_benchmark_s": {k: v.get("wall_s") for k, v in benchmarks.items()}},
    }
    atomic_write_json(out_dir / "manifest.json", {
        "command": sys.argv, "git": git_state(), "packages": package_versions(),
        "hardware": hardware_info(), "hardware_profile": cfg.hardware.name, "seed": cfg.seed, "model": model_info,
        "data": {k: {"source": v.get("source"), "split": v.get("split"), "fingerprint": v.get("data_fingerprint")}
                 for k, v in benchmarks.items() if "skipped" not in v},
    })
    table = markdown_tables(results)
    atomic_write_text(out_dir / TABLE_FILE, table)
    atomic_write_json(out_dir / RESULTS_FILE, results)  # last: its presence means the evaluation finished
    print(table)
    log.info("Wrote %s", out_dir / RESULTS_FILE)
    return results
