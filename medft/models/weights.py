"""Weights are read from safetensors files only.

A `.bin` / `.pt` / `.pth` / `.ckpt` weight file is a pickle: loading one can run code the file
carries. medft saves safetensors (transformers 5 and peft write nothing else by default) and
refuses a folder whose weights exist only as pickles, naming the conversion. A safetensors file
cut short (a copy or a save that did not finish) or with a broken header is refused by name
before transformers or peft meet it, instead of a SafetensorError traceback from deep inside them.
"""

from __future__ import annotations

from pathlib import Path

from medft.config.errors import UserError

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
# Pickled files a Hugging Face folder may hold that are not weights (trainer state).
NOT_WEIGHTS = {"training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state.pth", "scaler.pt"}


class UnsafeWeightsError(UserError, ValueError):
    """A model or adapter folder holds pickled weights and no safetensors."""


class DamagedWeightsError(UserError, ValueError):
    """A .safetensors file is truncated or its header is not valid."""


def safetensors_problem(file: Path) -> str | None:
    """Why `file` is not a readable safetensors file (None if it is): the library checks the header's
    length, its JSON and that the tensors it lists cover the file exactly, without reading tensors."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(file), framework="numpy"):
            return None
    except SafetensorError as err:
        return str(err)


def check_safetensors_files(folder: Path, key: str) -> None:
    for file in sorted(folder.glob("*.safetensors")):
        problem = safetensors_problem(file)
        if problem is not None:
            raise DamagedWeightsError(
                f"{key}={folder}: {file.name} ({file.stat().st_size:,} bytes) is not a readable safetensors file "
                f"({problem}): it was cut short or overwritten. Copy it again from where it came from; for a "
                "medft run, each checkpoints/checkpoint-N/ holds the same files of step N"
            )


def pickled_weights(folder: Path) -> list[str]:
    return sorted(
        p.name
        for p in folder.iterdir()
        if p.is_file()
        and p.suffix in PICKLE_SUFFIXES
        and p.name not in NOT_WEIGHTS
        and not p.name.startswith("rng_state")
    )


def require_safetensors(folder: str | Path, key: str) -> None:
    """`folder` (a local model or adapter folder; a hub id is left to use_safetensors=True) must
    hold its weights as .safetensors; pickled weights alone are refused."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        return
    has_safe = any(p.suffix == ".safetensors" or p.name.endswith(".safetensors.index.json") for p in folder.iterdir())
    pickles = pickled_weights(folder)
    check_safetensors_files(folder, key)
    if pickles and not has_safe:
        raise UnsafeWeightsError(
            f"{key}={folder}: weights only as pickle files {pickles}; medft loads safetensors only, because "
            "loading a pickle can run code it carries. Convert them once where you trust the file, e.g. "
            "AutoModelForCausalLM.from_pretrained(folder).save_pretrained(folder) (PeftModel for an adapter), "
            "which writes model.safetensors / adapter_model.safetensors"
        )
