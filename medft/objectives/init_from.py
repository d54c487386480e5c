"""`init_from=<run folder>`: continue training an earlier run's adapter (e.g. SFT, then objective=dpo).

The earlier run must have trained the same base model (compared on the fields that identify it:
name, source, hub id, local path, revision); its adapter is loaded as the trainable "default"
adapter. The adapter's own config (method, rank, targets) wins over this run's peft_method.
"""

from __future__ import annotations

import logging
from pathlib import Path

from medft.config.choices import FULL_WEIGHT_METHODS
from medft.config.errors import UserError
from medft.models.weights import require_safetensors

log = logging.getLogger(__name__)

MODEL_IDENTITY = ("name", "source", "hub_id", "path", "revision")


class InitFromError(UserError, ValueError):
    """`init_from=` names nothing this run can start from."""


def adapter_dir(init_from) -> Path:
    return Path(str(init_from)).expanduser() / "adapter"


def check_init_from(cfg) -> Path | None:
    """Fail before anything loads when the earlier run is missing, has no adapter, or another model."""
    if not cfg.get("init_from"):
        return None
    from omegaconf import OmegaConf

    run = Path(str(cfg.init_from)).expanduser()
    saved = run / ".hydra" / "config.yaml"
    if not saved.is_file():
        raise InitFromError(
            f"init_from={cfg.init_from}: not a run folder (no .hydra/config.yaml); give "
            "init_from=outputs/<name>/<time> of a finished training run"
        )
    if not (adapter_dir(run) / "adapter_config.json").is_file():
        raise InitFromError(
            f"init_from={cfg.init_from}: no adapter/adapter_config.json (unfinished run, or "
            "peft_method=full, which saves model/ instead); give a finished adapter run"
        )
    earlier = OmegaConf.load(saved).model
    mismatch = {k: (earlier.get(k), cfg.model.get(k)) for k in MODEL_IDENTITY if earlier.get(k) != cfg.model.get(k)}
    if mismatch:
        details = ", ".join(f"{k}: {a!r} there vs {b!r} here" for k, (a, b) in mismatch.items())
        raise InitFromError(
            f"init_from={cfg.init_from} trained model={earlier.name}, this run is model={cfg.model.name} "
            f"({details}); an adapter only fits its own base model: add model={earlier.name}"
        )

    if cfg.peft_method.method in FULL_WEIGHT_METHODS:
        raise InitFromError(
            f"init_from={cfg.init_from} loads an adapter, which peft_method={cfg.peft_method.method} "
            f"does not train; drop peft_method={cfg.peft_method.method}"
        )
    return run


def load_init_adapter(model, cfg):
    """The base model with the earlier run's adapter attached, trainable."""
    from peft import PeftModel, prepare_model_for_kbit_training

    if cfg.quantization.method != "none":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.hardware.gradient_checkpointing)
    path = adapter_dir(cfg.init_from)
    log.info(
        "init_from: training the adapter of %s further (its config wins over peft_method=%s)",
        path,
        cfg.peft_method.method,
    )

    require_safetensors(path, "init_from")
    return PeftModel.from_pretrained(model, str(path), is_trainable=True)
