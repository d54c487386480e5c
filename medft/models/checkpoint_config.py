"""A model config for a checkpoint medft has no option for, built from the checkpoint's own config.json.

`MedicalPEFTTrainer(model_name="org/some-7b")` or `model_name="/path/to/checkpoint"`: the sizes the
memory planner needs (`model.arch`) and the context length come from config.json, read from a local
folder, from the hub cache (a local mirror: no network needed once it is there), or from the hub
(only config.json is fetched; the weights load when training starts, as for any hub option).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from medft.config.errors import UserError

log = logging.getLogger(__name__)


class CheckpointConfigError(UserError, LookupError):
    """No config.json for a model name: neither a folder, nor cached, nor reachable on the hub."""


def read_checkpoint_config(name_or_path: str, revision: str | None = None) -> tuple[dict, str]:
    """(config.json as a dict, where it was read): a local folder, the hub cache, or the hub."""
    folder = Path(name_or_path).expanduser()
    if (folder / "config.json").is_file():
        return json.loads((folder / "config.json").read_text()), str(folder.resolve())
    from huggingface_hub import hf_hub_download

    problems = []
    for local_only in (True, False):  # the cache first: a mirrored model needs no network
        try:
            path = hf_hub_download(name_or_path, "config.json", revision=revision, local_files_only=local_only)
            return json.loads(Path(path).read_text()), "hub cache" if local_only else "hub"
        except Exception as error:  # noqa: BLE001 - offline, gated, missing: all mean "not here"
            problems.append(f"{type(error).__name__}: {str(error).splitlines()[0][:160]}")
    raise CheckpointConfigError(
        f"model_name={name_or_path!r}: no config.json in a local folder of that name, in the hub cache, or on "
        f"the hub ({'; '.join(problems)}). Give a checkpoint folder (model_name='/path/to/checkpoint'), "
        "download the model once (huggingface-cli download <id>), or choose a packaged option (model='smollm2-135m')"
    )


def _n_params(arch: dict) -> int:
    """Parameter count from the shapes (config.json rarely states it): linear layers, embeddings, head."""
    head_dim = arch.get("head_dim") or arch["hidden_size"] // arch["n_heads"]
    h, inter = arch["hidden_size"], arch["intermediate_size"]
    attention = h * head_dim * (2 * arch["n_heads"] + 2 * arch["n_kv_heads"])
    mlp = (3 if arch.get("mlp", "gated") == "gated" else 2) * h * inter * arch.get("num_experts", 1)
    embed = arch["vocab_size"] * h
    return arch["n_layers"] * (attention + mlp) + embed * (1 if arch["tie_word_embeddings"] else 2)


def arch_from_config(config: dict) -> dict:
    """`model.arch` from a transformers config.json (a multimodal one's `text_config`)."""
    text = {**config, **config.get("text_config", {})}
    try:
        arch = {
            "model_type": text["model_type"],
            "n_layers": text["num_hidden_layers"],
            "hidden_size": text["hidden_size"],
            "intermediate_size": text.get("intermediate_size") or 4 * text["hidden_size"],
            "n_heads": text["num_attention_heads"],
            "n_kv_heads": text.get("num_key_value_heads") or text["num_attention_heads"],
            "vocab_size": text["vocab_size"],
            "tie_word_embeddings": bool(config.get("tie_word_embeddings", text.get("tie_word_embeddings", False))),
        }
    except KeyError as missing:
        raise CheckpointConfigError(
            f"config.json has no {missing} (model_type={config.get('model_type')!r}): medft cannot size this "
            "architecture; add a conf/model/<name>.yaml with its `arch` block"
        ) from None
    arch["head_dim"] = text.get("head_dim")  # None: hidden_size / n_heads (set, so a family option's cannot linger)
    if text.get("num_local_experts"):  # MoE (Mixtral)
        arch["num_experts"] = text["num_local_experts"]
        arch["experts_per_token"] = text.get("num_experts_per_tok", 1)
    arch["n_params"] = _n_params(arch)
    return arch


def max_positions(config: dict, default: int = 2048) -> int:
    text = {**config, **config.get("text_config", {})}
    return int(text.get("max_position_embeddings") or default)


def needs_remote_code(config: dict) -> bool:
    """A config whose architecture transformers does not ship (it maps its classes into the repo's code)."""
    from transformers import CONFIG_MAPPING

    return bool(config.get("auto_map")) and config.get("model_type") not in CONFIG_MAPPING
