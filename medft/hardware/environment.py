"""What the machine must have for a composed config: checked after medft.config.validate, before loading.

Kept apart from the config rules because it asks the machine (a matmul timing, CUDA, installed
packages), which a dry run or a plan for another machine must not do.
"""

from __future__ import annotations

import logging

from medft.config.errors import ConfigError
from medft.hardware.device import SLOW_FACTOR, cpu_autocast, matmul_slowdown
from medft.models.fast_paths import installed

log = logging.getLogger(__name__)

TRAINERS = {"dpo": "trl", "kto": "trl", "orpo": "trl.experimental.orpo"}  # where TRL 1.16 keeps each trainer


def check_environment(cfg) -> None:
    """Refuse a config this machine cannot run (naming the override); bf16 without GPU support falls back to fp16."""
    objective = cfg.get("objective", {}).get("name")
    module = TRAINERS.get(objective)
    if module and not installed(module):
        raise ConfigError(
            f"objective={objective} needs {module} (its trainer), which the installed TRL lacks; "
            "use objective=dpo or upgrade trl"
        )
    optimizer = str(cfg.get("optimizer", {}).get("name", ""))
    if optimizer.startswith("galore") and not installed("galore_torch"):
        raise ConfigError(
            f"optimizer.name={optimizer} needs the galore-torch package, which is not installed: "
            'pip install -e ".[galore]" (pure Python; it keeps the installed torch), or use optimizer=adamw'
        )
    hardware = cfg.hardware
    if hardware.device == "cpu" and hardware.precision != "fp32":
        slowdown = matmul_slowdown(hardware.precision)
        if slowdown > SLOW_FACTOR:
            raise ConfigError(
                f"hardware.precision={hardware.precision}: this CPU multiplies {hardware.precision} "
                f"matrices {slowdown:.0f}x slower than fp32 (measured just now), so it has no native "
                "16-bit compute that torch uses; use hardware.precision=fp32 (hardware=cpu)"
            )
    if hardware.device == "cpu" and hardware.get("autocast", "off") != "off":
        _resolve_cpu_autocast(cfg)
    if hardware.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(
                f"hardware={hardware.name} needs a CUDA GPU and none is visible; use hardware=cpu on this machine"
            )
        if hardware.precision == "bf16" and not torch.cuda.is_bf16_supported():
            from omegaconf import open_dict

            log.warning(
                "hardware=%s asks for bf16, which %s lacks: falling back to fp16 (with loss scaling). "
                "Set hardware.precision=fp16 to silence this.",
                hardware.name,
                torch.cuda.get_device_name(),
            )
            with open_dict(cfg):
                cfg.hardware.precision = "fp16"


def _resolve_cpu_autocast(cfg) -> None:
    """`hardware.autocast=auto` becomes bf16 or off for this CPU, once, before anything trains."""
    from omegaconf import open_dict

    hardware = cfg.hardware
    if hardware.precision != "fp32":  # 16-bit weights compute in 16 bits already: nothing to autocast
        choice, why = "off", f"hardware.precision={hardware.precision}"
    else:
        choice, why = cpu_autocast(hardware.autocast)
    log.info("hardware.autocast=%s -> %s (%s)", hardware.autocast, choice, why)
    with open_dict(cfg):
        cfg.hardware.autocast = choice
