"""The evaluation recipe behind `evaluate.py`: pick the model (a base model or a training run's
adapter on its base), score the configured benchmarks, write results.json, results.md,
manifest.json and per-item predictions into the evaluation folder.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from medft.config.errors import UserError
from medft.config.validate import check_values
from medft.evaluation.benchmark_suite import check_benchmark_config, evaluate_benchmarks, load_sources
from medft.evaluation.results_markdown import markdown_tables
from medft.models.fast_paths import compile_layers
from medft.models.packed_linear import enable_for_scoring
from medft.run.manifest import git_state, hardware_info, package_versions
from medft.run.saved_model import RunDirError, load_model_and_tokenizer, run_weights  # noqa: F401 (RunDirError: re-exported)
from medft.runtime.files import atomic_write_json, atomic_write_text
from medft.runtime.notices import silence_unactionable_notices
from medft.runtime.progress import quiet_library_bars, set_progress

log = logging.getLogger(__name__)

RESULTS_FILE = "results.json"
TABLE_FILE = "results.md"


def model_under_test(cfg):
    """(model config, quantization config, adapter folder or None, description) for cfg."""
    if not cfg.run_dir:
        return cfg.model, cfg.quantization, None, {"label": cfg.model.name}
    weights = run_weights(cfg.run_dir)
    return (
        weights.model_cfg,
        weights.quant_cfg,
        weights.adapter,
        {"label": weights.label, "run_dir": str(weights.run_dir)},
    )


def load_for_evaluation(cfg, model_cfg, quant_cfg, adapter: Path | None):
    """The model under test, with `hardware.compile=regional` applied (scoring only: generation keeps eager)
    and, on a CPU, marked for packed linear weights while it is scored (`hardware.packed_linear`)."""

    model, tokenizer, resolved = load_model_and_tokenizer(
        model_cfg, quant_cfg, cfg.hardware, cfg.cache_dir, cfg.seed, adapter
    )
    compile_layers(model, cfg.hardware)
    enable_for_scoring(model, cfg.hardware)
    return model, tokenizer, resolved


def run(cfg, out_dir: str | Path) -> dict:
    out_dir = Path(out_dir)
    started = time.time()
    check_values(cfg)
    check_benchmark_config(cfg.benchmark)
    if not cfg.benchmark.members:
        raise UserError("benchmark=none scores nothing: choose benchmark=medical_suite or one benchmark")
    sources = load_sources(cfg.benchmark)  # every file read before the model loads (minutes for a 7B)
    model_cfg, quant_cfg, adapter, described = model_under_test(cfg)
    silence_unactionable_notices(quant_cfg.method)
    import torch

    quiet_library_bars(set_progress(cfg.get("progress", "auto")))  # progress=auto: bars only on a terminal
    if cfg.hardware.num_threads:
        torch.set_num_threads(cfg.hardware.num_threads)
    model, tokenizer, resolved = load_for_evaluation(cfg, model_cfg, quant_cfg, adapter)
    loaded = time.time()
    log.info("Loaded %s in %.1f s", described["label"], loaded - started)

    benchmarks, _ = evaluate_benchmarks(
        model, tokenizer, cfg.benchmark, model_cfg.system_prompt, items_dir=out_dir / "items", sources=sources
    )
    if not any(result.get("n") for result in benchmarks.values()):  # no results.json that reads as finished
        raise UserError(
            f"benchmark={cfg.benchmark.name} scored no item: "
            + "; ".join(f"{name}: {result.get('skipped') or 'no items'}" for name, result in benchmarks.items())
            + "; check benchmark.split and the benchmark files"
        )
    model_info = {
        **described,
        "name": model_cfg.name,
        "source": resolved.source,
        "path": resolved.path,
        "checksum": resolved.checksum,
        "adapter": str(adapter) if adapter else None,
        "quantization": quant_cfg.method,
    }
    results = {
        "model": model_info,
        "benchmarks": benchmarks,
        "settings": {
            key: cfg.benchmark[key]
            for key in ("prompt_style", "generative_prompt_style", "shots", "split", "limit", "generative_limit")
        },
        "timing": {
            "load_s": round(loaded - started, 2),
            "evaluate_s": round(time.time() - loaded, 2),
            "total_s": round(time.time() - started, 2),
            "per_benchmark_s": {k: v.get("wall_s") for k, v in benchmarks.items()},
        },
    }
    atomic_write_json(
        out_dir / "manifest.json",
        {
            "command": sys.argv,
            "git": git_state(),
            "packages": package_versions(),
            "hardware": hardware_info(),
            "hardware_profile": cfg.hardware.name,
            "seed": cfg.seed,
            "model": model_info,
            "data": {
                k: {"source": v.get("source"), "split": v.get("split"), "fingerprint": v.get("data_fingerprint")}
                for k, v in benchmarks.items()
                if "skipped" not in v
            },
        },
    )
    table = markdown_tables(results)
    atomic_write_text(out_dir / TABLE_FILE, table)
    atomic_write_json(out_dir / RESULTS_FILE, results)  # last: its presence means the evaluation finished
    print(table)
    log.info("Wrote %s", out_dir / RESULTS_FILE)
    return results
