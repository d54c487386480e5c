"""Settings of the distributed engines, derived from the hardware profile (one place for every reader)."""

from __future__ import annotations


def fsdp_options(hardware) -> dict:
    """FSDP2 (torch's `fully_shard`) settings, shared by TrainingArguments and the accelerate config."""
    return {
        "version": 2,  # per-parameter sharding: frozen and trainable weights mix freely in one unit
        # Without a class list, transformer-based wrapping takes the model's `_no_split_modules`: its decoder layer
        "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
        "reshard_after_forward": True,  # full shard: a layer's weights gathered for its pass, freed after
        "state_dict_type": "SHARDED_STATE_DICT",  # checkpoints: each rank writes its shard
        "cpu_offload": bool(hardware.optimizer_offload),  # weights, gradients and states in host memory
        "cpu_ram_efficient_loading": False,  # every rank loads the model; no meta-device initialisation
    }
