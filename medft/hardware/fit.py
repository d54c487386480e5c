"""Will a run fit its hardware profile? Decided before loading a byte, with the fix when it will not.

`check_plan(cfg)` returns the plan of a run that fits (choosing the micro-batch first when
`hardware.auto_batch=true`) and raises a ConfigError naming the overrides (or the profile) that
would fit when it does not. Fixes are tried in the order that costs least: gradient
checkpointing, a smaller micro-batch (gradient accumulation keeps the effective batch), an
8-bit optimizer, then 4-bit NF4 base weights; then the profiles that fit as the run stands.
"""

from __future__ import annotations

import copy
import logging

from omegaconf import open_dict

from medft.config.compose import CONF_DIR
from medft.config.derived import data_parallel_size
from medft.config.errors import ConfigError
from medft.config.schema import GROUP_SCHEMAS
from medft.hardware.planner import GiB, MemoryPlan, plan_training

log = logging.getLogger(__name__)

PROFILES = (
    "t4-16g",
    "consumer-24g",
    "a100-40g",
    "a100-80g",
    "h100-80g",
    "multi-gpu-fsdp",
    "multi-gpu-zero3",
)  # offload: slower; named in the docs


def _micro_batches(cfg) -> list[int]:
    """Micro-batches that divide the effective batch, largest first (accumulation stays whole)."""
    batch = cfg.training.batch_size
    return [m for m in range(min(batch, cfg.hardware.micro_batch_size), 0, -1) if batch % m == 0]


def _set(cfg, changes: dict[str, object]):
    out = copy.deepcopy(cfg)
    with open_dict(out):
        for key, value in changes.items():
            node = out
            *parents, last = key.split(".")
            for part in parents:
                node = node[part]
            node[last] = value
    return out


def _fixes(cfg) -> list[tuple[str, dict[str, object]]]:
    fixes = []
    if not cfg.hardware.gradient_checkpointing:
        fixes.append(("hardware.gradient_checkpointing=true", {"hardware.gradient_checkpointing": True}))
    if cfg.optimizer.name in ("adamw_torch", "adamw_torch_fused", "adamw_hf"):
        fixes.append(("optimizer=paged_adamw_8bit", {"optimizer.name": "paged_adamw_8bit"}))
    # As the command line would: the whole option file replaces the group (lora's rank, nf4's DQ).
    if cfg.peft_method.method in ("full", "freeze"):
        fixes.append(("peft_method=lora", {"peft_method": load_option("peft_method", "lora")}))
    if cfg.quantization.method in ("none", "int8"):
        fixes.append(("quantization=nf4", {"quantization": load_option("quantization", "nf4")}))
    return fixes


def largest_fitting_micro_batch(cfg) -> int | None:
    for micro in _micro_batches(cfg):
        if plan_training(cfg, micro).fits:
            return micro
    return None


def fitting_overrides(cfg) -> list[str] | None:
    """The fewest overrides (cheapest first among equals) under which the run fits, or None."""
    from itertools import combinations

    fixes = _fixes(cfg)
    for size in range(len(fixes) + 1):
        for chosen in combinations(fixes, size):
            changed = cfg
            for _, change in chosen:
                changed = _set(changed, change)
            micro = largest_fitting_micro_batch(changed)
            if micro is not None:
                extra = [] if micro == cfg.hardware.micro_batch_size else [f"hardware.micro_batch_size={micro}"]
                return [label for label, _ in chosen] + extra
    return None


OOM_SHRINK = 0.2  # after an OOM: plan for 20% less than the run's own estimated memory


def overrides_after_oom(cfg) -> tuple[float, list[str] | None]:
    """(the planned peak in GiB, the overrides `fitting_overrides` picks for a budget below it).

    The run ran out of memory although its plan fit, so the device holds less than planned: the
    same search as before a run, against a budget 20% under the estimate of what the run itself
    needs (the fixed Python/torch runtime on CPU is not something an override can shrink).
    """
    plan = plan_training(cfg)
    runtime = plan.parts.get("runtime (Python, torch)", 0.0)
    budget = plan.total_bytes - OOM_SHRINK * (plan.total_bytes - runtime)
    return plan.total_bytes / GiB, fitting_overrides(_set(cfg, {"hardware.memory_budget_gb": budget / GiB}))


def load_option(group: str, name: str):
    """`conf/<group>/<name>.yaml` with its parents merged onto the group's schema, without Hydra
    (callable inside a running job, where Hydra's compose API is taken)."""
    from omegaconf import OmegaConf

    node = OmegaConf.load(CONF_DIR / group / f"{name}.yaml")
    merged = OmegaConf.structured(GROUP_SCHEMAS[group])
    for parent in node.pop("defaults", []):
        if isinstance(parent, str) and parent != "_self_":  # not `override /group: ...` entries
            merged = OmegaConf.merge(merged, load_option(group, parent))
    return OmegaConf.merge(merged, node)


def fitting_profiles(cfg) -> list[str]:
    """Profiles on which the run as configured (at some micro-batch) fits."""
    found = []
    for name in PROFILES:
        if name == cfg.hardware.name:
            continue
        profile = load_option("hardware", name)
        if largest_fitting_micro_batch(_set(cfg, {"hardware": profile})) is not None:
            found.append(f"hardware={name}")
    return found


def _summary(cfg) -> str:
    return (
        f"model={cfg.model.name} peft_method={cfg.peft_method.method} quantization={cfg.quantization.method} "
        f"optimizer.name={cfg.optimizer.name} training.max_seq_len={cfg.training.max_seq_len} "
        f"hardware.micro_batch_size={cfg.hardware.micro_batch_size}"
    )


def check_plan(cfg) -> MemoryPlan:
    """The run's memory plan, logged; raises ConfigError with the fix when it does not fit."""
    if cfg.hardware.get("auto_batch"):
        micro = largest_fitting_micro_batch(cfg)
        if micro is not None and micro != cfg.hardware.micro_batch_size:
            log.info(
                "hardware.auto_batch: micro-batch %d -> %d (accumulation %d keeps the effective batch %d)",
                cfg.hardware.micro_batch_size,
                micro,
                cfg.training.batch_size // micro,
                cfg.training.batch_size,
            )
            with open_dict(cfg):
                cfg.hardware.micro_batch_size = micro
    plan = plan_training(cfg)
    log.info(
        "Memory plan (hardware=%s, peak per %s):\n%s",
        cfg.hardware.name,
        "rank" if data_parallel_size(cfg) > 1 else "device",
        plan.describe(),
    )
    if plan.fits:
        return plan
    fix = fitting_overrides(cfg)
    profiles = fitting_profiles(cfg)
    message = (
        f"{_summary(cfg)} needs about {plan.total_bytes / GiB:.1f} GiB per device, more than the "
        f"{cfg.hardware.memory_budget_gb:g} GiB budget of hardware={cfg.hardware.name} "
        f"(weights alone {plan.parts['weights'] / GiB:.1f} GiB)."
    )
    if fix:
        message += f" It fits with: {' '.join(fix)}."
    else:
        message += " No override of this profile makes it fit."
    message += (
        f" Profiles it fits as configured: {', '.join(profiles)}."
        if profiles
        else " No single-node profile fits it as configured."
    )
    raise ConfigError(message + " (Override hardware.memory_budget_gb if your device has more memory.)")
