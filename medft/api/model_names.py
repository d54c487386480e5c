"""`model_name=`: a medft model option, the hub id of one, a checkpoint folder, or any hub id.

1. an option name (`smollm2-135m`, `tiny-random`)             -> model=<option>
2. the hub id an option names (`meta-llama/Llama-2-7b-hf`)   -> model=llama2-7b-base (its config's own source)
3. a checkpoint folder, or a hub id no option names          -> a generic config built from its config.json:
   the option of the same architecture (model_type) gives the LoRA targets; the checkpoint gives its
   sizes and context length; source=local (the folder) or source=hub (the id).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from medft.api.override_text import override_value
from medft.config.compose import CONF_DIR
from medft.config.errors import UserError
from medft.models.checkpoint_config import arch_from_config, max_positions, needs_remote_code, read_checkpoint_config

log = logging.getLogger(__name__)


def _options() -> dict[str, dict]:
    import yaml

    return {p.stem: yaml.safe_load(p.read_text()) for p in sorted((CONF_DIR / "model").glob("*.yaml"))}


def _family(options: dict[str, dict], model_type: str) -> str:
    """The option whose architecture matches, for its LoRA targets and chat template; smallest first."""
    same = [name for name, o in options.items() if (o.get("arch") or {}).get("model_type") == model_type]
    if not same:
        raise UserError(
            f"model_type={model_type!r}: no medft model option has this architecture, so its LoRA target modules "
            "are unknown. Add a conf/model/<name>.yaml (see conf/model/llama2-7b.yaml), or pass "
            "target_modules=['q_proj', 'v_proj', ...] with model='<option>' and **{'model.source': 'local', ...}"
        )
    return min(same, key=lambda name: options[name]["arch"]["n_params"] or 0)


def generic_overrides(name_or_path: str, options: dict[str, dict]) -> list[str]:
    config, where = read_checkpoint_config(name_or_path)
    arch = arch_from_config(config)
    family = _family(options, arch["model_type"])
    local = Path(name_or_path).expanduser().is_dir()
    label = re.sub(r"[^\w.-]+", "-", Path(name_or_path).name if local else name_or_path).strip("-").lower()
    where_from = [f"model.path={override_value(str(Path(name_or_path).expanduser().resolve()))}"] if local else []
    log.info(
        "model_name=%s: no model option names it; a generic config from its config.json (read from %s): sizes "
        "and context from the checkpoint, LoRA targets from model=%s (same architecture, %s)",
        name_or_path,
        where,
        family,
        arch["model_type"],
    )
    return [
        f"model={family}",
        f"model.name={label}",
        f"model.source={'local' if local else 'hub'}",
        f"model.hub_id={'null' if local else override_value(name_or_path)}",
        *where_from,
        "model.package=null",
        "model.gguf_file=null",
        "model.chat_template=native",  # the tokenizer's own; one without falls back to ChatML (with a warning)
        f"model.max_seq_len={max_positions(config, options[family].get('max_seq_len', 2048))}",
        f"model.needs_remote_code={override_value(needs_remote_code(config))}",
        f"model.arch={override_value(arch)}",
    ]


def model_name_overrides(value: str) -> list[str]:
    options = _options()
    if value in options:
        return [f"model={value}"]
    for name, option in options.items():
        if option.get("hub_id") == value:  # its config's own source (smollm2-135m: the packaged copy)
            log.info("model_name=%s -> model=%s (source: %s)", value, name, option.get("source"))
            return [f"model={name}"]
    return generic_overrides(value, options)
