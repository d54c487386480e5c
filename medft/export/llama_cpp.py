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

from medft.config.errors import UserError

log = logging.getLogger(__name__)

MODEL_CONVERTER = "convert_hf_to_gguf.py"
ADAPTER_CONVERTER = "convert_lora_to_gguf.py"
NEEDED = (MODEL_CONVERTER, ADAPTER_CONVERTER, "conversion/", "gguf-py/")  # the rest of llama.cpp is C++
DONE_MARKER = ".medft-complete"
CONVERTER_TYPES = ("f32", "f16", "bf16", "q8_0")  # what convert_hf_to_gguf.py writes by itself
QUANTIZER_SOURCE = "f16"  # llama.cpp's practice: convert to 16 bits, then quantize
HEAD_TYPES = ("f32", "f16", "q8_0")  # gguf.output_tensor_type choices


class LlamaCppError(UserError, RuntimeError):
    """The converters could not be obtained or failed; the message says what to set."""


def _download_sdist(version: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    found = sorted(dest.glob(f"llama_cpp_python-{version}.tar.gz"))
    if found:
        return found[0]
    log.info("Downloading the llama-cpp-python %s source archive (~77 MB, once) into %s", version, dest)
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        f"llama-cpp-python=={version}",
        "-d",
        str(dest),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    found = sorted(dest.glob(f"llama_cpp_python-{version}.tar.gz"))
    if done.returncode != 0 or not found:
        raise LlamaCppError(
            f"could not download llama-cpp-python=={version} ({done.stderr.strip().splitlines()[-1:]}). "
            "Give a local copy with gguf.sdist=/path/llama_cpp_python-<version>.tar.gz or a llama.cpp "
            "checkout with gguf.llama_cpp_dir=/path/llama.cpp"
        )
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
            raise LlamaCppError(
                f"gguf.sdist={sdist}: no vendor/llama.cpp/{MODEL_CONVERTER} inside; "
                "is it a llama-cpp-python source archive?"
            )
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
        sdist = (
            Path(gguf_cfg.sdist).expanduser()
            if gguf_cfg.sdist
            else _download_sdist(gguf_cfg.llama_cpp_version, target.parent / "sdist")
        )
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
    if outtype not in CONVERTER_TYPES:
        raise LlamaCppError(f"gguf.types: {outtype!r} is not one of {list(CONVERTER_TYPES)}")
    _run(
        [
            sys.executable,
            str(llama_dir / MODEL_CONVERTER),
            str(checkpoint),
            "--outfile",
            str(out_file),
            "--outtype",
            outtype,
        ],
        f"GGUF {outtype}",
    )
    return out_file


def convert_adapter(llama_dir: Path, adapter: Path, base: Path, out_file: Path, outtype: str = "f16") -> Path:
    _run(
        [
            sys.executable,
            str(llama_dir / ADAPTER_CONVERTER),
            str(adapter),
            "--base",
            str(base),
            "--outfile",
            str(out_file),
            "--outtype",
            outtype,
        ],
        "GGUF adapter",
    )
    return out_file


def quantize(source: Path, out_file: Path, qtype: str, output_tensor_type: str) -> Path:
    """A quantized GGUF made by llama.cpp's own quantizer (`llama_model_quantize`, the library call behind
    `llama-quantize`), with the output head kept at `output_tensor_type`.

    llama.cpp's quantizer, not the converter: the converter has no per-tensor types, and the head is the
    most sensitive matrix (every logit is a dot product with it). With tied embeddings (SmolLM2) the head
    is the token embedding; llama.cpp then gives that one tensor the output type. The binding ships
    with llama-cpp-python (the runtime perf/bench_export.py uses), not with the converters.
    """
    import ctypes

    try:
        import llama_cpp
    except ImportError:
        raise LlamaCppError(
            f"gguf.types={qtype} with gguf.output_tensor_type={output_tensor_type} uses llama.cpp's quantizer, "
            "which ships with llama-cpp-python: pip install 'medft[gguf-runtime]'; or set "
            f"gguf.output_tensor_type={qtype} (every matrix {qtype}, the converter alone)"
        ) from None
    if output_tensor_type not in HEAD_TYPES:
        raise LlamaCppError(f"gguf.output_tensor_type={output_tensor_type}: choose one of {list(HEAD_TYPES)}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{qtype.upper()}")
    params.output_tensor_type = getattr(llama_cpp, f"GGML_TYPE_{output_tensor_type.upper()}")
    tmp = out_file.with_name(out_file.name + ".tmp")
    log.info(
        "GGUF %s (output head %s): llama_model_quantize(%s) of llama-cpp-python %s",
        qtype,
        output_tensor_type,
        source.name,
        llama_cpp.__version__,
    )
    if llama_cpp.llama_model_quantize(str(source).encode(), str(tmp).encode(), ctypes.byref(params)) != 0:
        tmp.unlink(missing_ok=True)
        raise LlamaCppError(f"llama_model_quantize {source} -> {qtype} failed (llama.cpp's log above says why)")
    tmp.replace(out_file)
    return out_file


def write_ggufs(llama_dir: Path, checkpoint: Path, out: Path, stem: str, types, output_tensor_type: str) -> list[str]:
    """One `<stem>-<type>.gguf` per entry of `types` (gguf.types), file names in that order.

    Float types come from the converter. q8_0 comes from llama.cpp's quantizer run on the f16 file
    (written here, and removed after, when f16 itself was not asked for), unless the head is to be
    q8_0 too: then the converter writes it directly, as before.
    """
    for kind in types:
        if kind not in CONVERTER_TYPES:
            raise LlamaCppError(f"gguf.types: {kind!r} is not one of {list(CONVERTER_TYPES)}")
    quantized = [t for t in types if t == "q8_0" and output_tensor_type != t]
    for kind in types:
        if kind not in quantized:
            convert_checkpoint(llama_dir, checkpoint, out / f"{stem}-{kind}.gguf", kind)
    if quantized:
        source = out / f"{stem}-{QUANTIZER_SOURCE}.gguf"
        if QUANTIZER_SOURCE not in types:
            source = convert_checkpoint(llama_dir, checkpoint, out / f".{stem}-quantizer-source.gguf", QUANTIZER_SOURCE)
        try:
            for kind in quantized:
                quantize(source, out / f"{stem}-{kind}.gguf", kind, output_tensor_type)
        finally:
            if QUANTIZER_SOURCE not in types:
                source.unlink(missing_ok=True)
    return [f"{stem}-{kind}.gguf" for kind in types]


def tensor_types(gguf_file: Path) -> dict:
    """What a GGUF file stores at which precision: {type: count}, and the matrices left unquantized by name.

    Read back from the file (gguf-py's reader), so the model card states what was written, not what was asked.
    """
    from collections import Counter

    import gguf

    reader = gguf.GGUFReader(str(gguf_file))
    kinds = Counter(t.tensor_type.name for t in reader.tensors)
    float_matrices = [
        t.name for t in reader.tensors if len(t.shape) >= 2 and t.tensor_type.name in ("F16", "BF16", "F32")
    ]
    return {"counts": dict(kinds), "float_matrices": float_matrices}
