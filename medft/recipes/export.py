"""One export, top to bottom: the run's merged checkpoint first (every format starts from it),
then the format's files, then README.md (model card) and export.json (what was written, from what)."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from medft.config.errors import UserError
from medft.config.validate import check_values
from medft.export.llama_cpp import convert_adapter, converters_dir, tensor_types, write_ggufs
from medft.export.model_card import model_card
from medft.export.modelfile import modelfile
from medft.export.onnx import ONNX_FILE, check_against_torch, export_onnx
from medft.models.resolve import resolve_model
from medft.models.seq2seq import is_seq2seq
from medft.prompts import DEFAULT_SYSTEM_PROMPT
from medft.run.manifest import package_versions
from medft.run.saved_model import MERGE_INFO_FILE, adapter_config, merge_and_save, run_weights
from medft.runtime.files import atomic_save_dir, atomic_write_json, atomic_write_text
from medft.runtime.paths import inside, not_a_link

log = logging.getLogger(__name__)

FORMATS = ("merged", "gguf", "onnx")
EXPORTS_DIR = "exports"
TEMPORARY_MERGE = ".merged"  # with out=DIR: the merge a gguf/onnx export starts from, removed when done
CHECK_TEXT = "Question: Which vitamin deficiency causes scurvy?\nAnswer: Vitamin C deficiency."


def default_out(run_dir: Path, fmt: str) -> Path:
    return run_dir / EXPORTS_DIR / fmt


def ensure_merged(weights, cache_dir: str) -> Path:
    """<run>/exports/merged, made once and shared by the gguf and onnx exports."""

    merged = inside(weights.run_dir, default_out(weights.run_dir, "merged"), "<run_dir>/exports/merged")
    if not (merged / MERGE_INFO_FILE).is_file():
        merge_and_save(weights.run_dir, merged, cache_dir)
    return merged


def _export_gguf(cfg, weights, merged: Path, out: Path, cache_dir: str) -> tuple[list[str], dict]:
    from transformers import AutoTokenizer

    tools = converters_dir(cfg.gguf, cache_dir)
    stem = weights.train_cfg.model.name
    files = write_ggufs(tools, merged, out, stem, list(cfg.gguf.types), cfg.gguf.output_tensor_type)
    extra = {"tensor_types": {name: tensor_types(out / name) for name in files}}
    if cfg.gguf.adapter and weights.adapter is not None:
        config = adapter_config(weights.adapter)
        if config.get("peft_type") == "LORA" and not config.get("use_dora"):
            base = resolve_model(weights.train_cfg.model, cache_dir, weights.train_cfg.seed)
            files.append(convert_adapter(tools, weights.adapter, Path(base.path), out / f"{stem}-lora-f16.gguf").name)
            extra["adapter_gguf_base"] = base.origin
        else:  # llama.cpp applies plain LoRA at load time; other adapters only exist merged
            log.warning(
                "gguf.adapter: llama.cpp loads plain LoRA adapters only; %s is exported merged only",
                config.get("peft_type"),
            )
    tokenizer = AutoTokenizer.from_pretrained(merged)
    train_model = weights.train_cfg.model
    system = train_model.system_prompt or DEFAULT_SYSTEM_PROMPT
    num_ctx = min(train_model.max_seq_len, 4096)  # Ollama's KV cache is sized by num_ctx
    served = next((f for f in files if f.endswith("-f16.gguf")), files[0])  # f16: full quality at half the size
    atomic_write_text(
        out / "Modelfile",
        modelfile(served, tokenizer.chat_template, system, cfg.sampling, num_ctx, tokenizer.eos_token),
    )
    return [*files, "Modelfile"], extra


def _export_onnx(cfg, merged: Path, out: Path) -> tuple[list[str], dict]:
    from transformers import AutoTokenizer

    export_onnx(merged, out, cfg.onnx.opset)
    tokenizer = AutoTokenizer.from_pretrained(merged)
    tokenizer.save_pretrained(out)  # the graph takes token ids: the tokenizer and chat template go with it
    extra = {}
    if cfg.onnx.check:
        extra = check_against_torch(merged, out, tokenizer, CHECK_TEXT)
        log.info(
            "onnxruntime vs PyTorch on %d positions: max abs logit diff %.2e, top-1 agreement %.3f",
            extra["positions"],
            extra["max_abs_logit_diff"],
            extra["top1_agreement"],
        )
    return [ONNX_FILE, "tokenizer.json", "tokenizer_config.json"], extra


def _describe(cfg, weights, merged: Path, folder: Path, files, extra, started: float, shown_as: Path | None = None):
    """README.md (the model card) and, last, export.json into `folder` (named `shown_as` once in place)."""

    atomic_write_text(folder / "README.md", model_card(weights, cfg.format, files, shown_as or folder, extra))
    atomic_write_json(
        folder / "export.json",
        {
            "format": cfg.format,
            "run_dir": str(weights.run_dir),
            "merged_from": str(merged) if merged.name != TEMPORARY_MERGE else "a temporary merge, removed after export",
            "files": files,
            "check": extra,
            "gguf_types": list(cfg.gguf.types) if cfg.format == "gguf" else None,
            "packages": package_versions(),
            "wall_s": round(time.time() - started, 1),
        },
    )


def run(cfg) -> Path:
    check_values(cfg)  # unknown keys, numbers out of range: before anything loads
    if cfg.format not in FORMATS:
        raise UserError(f"format={cfg.format}: choose one of {', '.join(FORMATS)}")
    started = time.time()
    weights = run_weights(cfg.run_dir)  # refuses weights damaged since training saved them
    if cfg.format != "merged" and is_seq2seq(weights.model_cfg):  # both converters read one causal stack
        raise UserError(
            f"format={cfg.format}: run_dir={cfg.run_dir} trained an encoder-decoder ({weights.model_cfg.name}, "
            "model.architecture=seq2seq), and medft's GGUF and ONNX exports are written for decoder-only models; "
            "use format=merged (a checkpoint AutoModelForSeq2SeqLM loads)"
        )
    cache_dir = cfg.cache_dir or weights.train_cfg.cache_dir
    # An explicit out= is used as given (a link there is refused: its contents get replaced), and
    # nothing else is written; the default must stay inside the run folder, whatever links lie under it.
    out = (
        not_a_link(cfg.out, "out")
        if cfg.out
        else inside(weights.run_dir, default_out(weights.run_dir, cfg.format), "<run_dir>/exports")
    )
    if cfg.format == "merged":
        merged = out if cfg.out else ensure_merged(weights, cache_dir)
        if cfg.out:
            merge_and_save(weights.run_dir, out, cache_dir)
        files, extra = sorted(p.name for p in out.iterdir() if p.is_file()), {}
        _describe(cfg, weights, merged, out, files, extra, started)
    else:
        # Built in a sibling temporary folder and renamed into place when complete (model card and
        # export.json included): a kill or a full disk leaves the previous export or none, never half.
        out.parent.mkdir(parents=True, exist_ok=True)
        shared = default_out(weights.run_dir, "merged")

        def build(tmp: Path) -> None:
            tmp.mkdir(parents=True)
            # With out=, the run folder is only read: its shared merge if one exists, else a merge made in
            # the staging folder and removed before the export is renamed into place.
            if not cfg.out:
                merged = ensure_merged(weights, cache_dir)
            elif (shared / MERGE_INFO_FILE).is_file():
                merged = shared
            else:
                merged = merge_and_save(weights.run_dir, tmp / TEMPORARY_MERGE, cache_dir)
            files, extra = (
                _export_gguf(cfg, weights, merged, tmp, cache_dir)
                if cfg.format == "gguf"
                else _export_onnx(cfg, merged, tmp)
            )
            _describe(cfg, weights, merged, tmp, files, extra, started, shown_as=out)
            shutil.rmtree(tmp / TEMPORARY_MERGE, ignore_errors=True)

        atomic_save_dir(out, build)
    log.info("Exported %s to %s in %.0f s", cfg.format, out, time.time() - started)
    print(out)
    return out
