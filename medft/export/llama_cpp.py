"""llama.cpp's own converters (HF checkpoint -> GGUF, PEFT LoRA adapter -> GGUF), obtained once.

They are the reference implementation of the format, so medft calls them rather than writing
GGUF by hand. They ship with the llama-cpp-python source archive (vendor/llama.cpp/); medft
takes the converter scripts, their `conversion/` package and the matching `gguf-py` from a pinned
release (`gguf.llama_cpp_version`), downloaded with pip into the cache on first use, or from an
existing llama.cpp checkout (`gguf.llama_cpp_dir`). They need torch, transformers, numpy,
sentencepiece and pyyaml, all medft dependencies already.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from medft.errors import UserError

log = logging.getLogger(__name__)

MODEL_CONVERTER = "convert_hf_to_gguf.py"
ADAPTER_CONVERTER = "convert_lora_to_gguf.py"
NEEDED = (MODEL_CONVERTER, ADAPTER_CONVERTER, "conversion/", "gguf-py/")  # the rest of llama.cpp is C++
DONE_MARKER = ".medft-complete"
GGUF_TYPES = ("f32", "f16", "bf16", "q8_0")  # what convert_hf_to_gguf.py writes without llama-quantize


class LlamaCppError(UserError, RuntimeError):
    """The converters could not be obtained or failed; the message says what to set."""


def _download_sdist(version: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    found = sorted(dest.glob(f"llama_cpp_python-{version}.tar.gz"))
    if found:
        return found[0]
    log.info("Downloading the llama-cpp-python %s source archive (~77 MB, once) into %s", version, dest)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               f"llama-cpp-python=={version}", "-d", str(dest)]
    done = subprocess.run(command, capture_output=True, text=True)
    found = sorted(dest.glob(f"llama_cpp_python-{version}.tar.gz"))
    if done.returncode != 0 or not found:
        raise LlamaCppError(
            f"could not download llama-cpp-python=={version} ({done.stderr.strip().splitlines()[-1:]}). "
            "Give a local copy with gguf.sdist=/path/llama_cpp_python-<version>.tar.gz or a llama.cpp "
            "checkout with gguf.llama_cpp_dir=/path/llama.cpp")
    return found[0]


def _extract(sdist: Path, target: Path) -> None:
    tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    with tarfile.open(sdist) as archive:
        members = []
        for member in archive.getmembers():
            parts = member.name.split("/vendor/llama.cpp/", 1)
            if len(parts) == 2 and any(parts[1] == n or (n.endswith("/") and parts[1].startswith(n)) for n in NEEDED):
                member.name = parts[1]
                members.append(member)
        if not any(m.name == MODEL_CONVERTER for m in members):
            raise LlamaCppError(f"gguf.sdist={sdist}: no vendor/llama.cpp/{MODEL_CONVERTER} inside; "
                                "is it a llama-cpp-python source archive?")
        archive.extractall(tmp, members=members, filter="data")
    (tmp / DONE_MARKER).write_text(str(sdist))
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)


def converters_dir(gguf_cfg, cache_dir: str | Path) -> Path:
    """A folder holding convert_hf_to_gguf.py, convert_lora_to_gguf.py, conversion/ and gguf-py/."""
    if gguf_cfg.llama_cpp_dir:
        folder = Path(gguf_cfg.llama_cpp_dir).expanduser()
        if not (folder / MODEL_CONVERTER).is_file():
            raise LlamaCppError(f"gguf.llama_cpp_dir={folder}: no {MODEL_CONVERTER} there; give a llama.cpp checkout")
        return folder
    target = Path(cache_dir).expanduser() / "llama.cpp" / gguf_cfg.llama_cpp_version
    if not (target / DONE_MARKER).is_file():
        sdist = (Path(gguf_cfg.sdist).expanduser() if gguf_cfg.sdist
                 else _download_sdist(gguf_cfg.llama_cpp_version, target.parent / "sdist"))
        if not sdist.is_file():
            raise LlamaCppError(f"gguf.sdist={sdist}: no such file")
        _extract(sdist, target)
    return target


def _run(command: list[str], what: str) -> None:
    log.info("%s: %s", what, " ".join(command))
    env = {k: v for k, v in os.environ.items() if k != "NO_LOCAL_GGUF"}  # use the gguf-py beside the script
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-6:])
        raise LlamaCppError(f"{what} failed (exit {done.returncode}):\n{tail}")


def convert_checkpoint(llama_dir: Path, checkpoint: Path, out_file: Path, outtype: str) -> Path:
    if outtype not in GGUF_TYPES:
        raise LlamaCppError(f"gguf.types: {outtype!r} is not one of {list(GGUF_TYPES)}")
    _run([sys.executable, str(llama_dir / MODEL_CONVERTER), str(checkpoint), "--outfile", str(out_file),
          "--outtype", outtype], f"GGUF {outtype}")
    return out_file


def convert_adapter(llama_dir: Path, adapter: Path, base: Path, out_file: Path, outtype: str = "f16") -> Path:
    _run([sys.executable, str(llama_dir / ADAPTER_CONVERTER), str(adapter), "--base", str(base),
          "--outfile", str(out_file), "--outtype", outtype], "GGUF adapter")
    return out_file
