"""Values derived from a composed config, computed in one place and logged once at the start of a run."""

from __future__ import annotations

from medft.config.errors import ConfigError


def data_parallel_size(cfg) -> int:
    """Processes that each take a micro-batch per step (1 unless the profile is distributed)."""
    hw = cfg.hardware
    if hw.get("distributed", "none") == "none":
        return 1
    return max(1, int(hw.devices_per_node) * int(hw.n_nodes))


def grad_accumulation(cfg) -> int:
    """Accumulation steps so that micro-batch x processes x accumulation = training.batch_size."""
    batch, micro = cfg.training.batch_size, cfg.hardware.micro_batch_size
    per_step = micro * data_parallel_size(cfg)
    if micro <= 0 or batch <= 0 or batch % per_step:
        raise ConfigError(
            f"training.batch_size={batch} must be a positive multiple of hardware.micro_batch_size={micro} x "
            f"{data_parallel_size(cfg)} process(es) (the effective batch stays fixed across hardware profiles); "
            f"e.g. training.batch_size={max(per_step, batch - batch % per_step or per_step)}")
    return batch // per_step


def lora_alpha(peft_cfg) -> float:
    """`alpha`, or `alpha_per_rank x r` so a rank sweep can keep the scale alpha/r constant."""
    if peft_cfg.get("alpha_per_rank") is not None:
        return peft_cfg.alpha_per_rank * peft_cfg.r
    return peft_cfg.alpha


def packing_enabled(cfg) -> bool:
    """`training.packing`, or the objective's default: pretraining packs, SFT does not."""
    if cfg.training.get("packing") is not None:
        return bool(cfg.training.packing)
    return cfg.get("objective", {}).get("name") == "pretrain"


def is_reward_model(cfg) -> bool:
    """objective=reward trains a sequence classifier (one score per sequence), not a causal LM."""
    return cfg.get("objective", {}).get("name") == "reward"
