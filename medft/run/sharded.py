"""A model trained sharded (DeepSpeed ZeRO-3, FSDP) made whole again, for saving and evaluation.

Under ZeRO-3 and FSDP no rank holds every weight after training: rank 0 cannot save or score the
model alone. Every rank joins one gather (accelerate's `get_state_dict`: ZeRO-3's consolidated
state dict, FSDP2's full state dict offloaded to the host); rank 0 then loads the full weights into
a fresh, unsharded copy of the model, which is what it saves as `adapter/` (or `model/`) and
evaluates. DDP and ZeRO-2 keep whole weights on every rank: nothing to do.
"""

from __future__ import annotations

import logging

from medft import builders
from medft.config.engines import SHARDED_STATE
from medft.runtime.distributed import is_main_process

log = logging.getLogger(__name__)
SHARDED_WEIGHTS = tuple(e for e, parts in SHARDED_STATE.items() if "weights" in parts)  # ZeRO-3, FSDP


def whole_model(cfg, trainer, model, resolved):
    """`model`, or on a sharded engine an unsharded copy with the trained weights (rank 0; None elsewhere).

    Every rank must call this: the gather is a collective.
    """
    if cfg.hardware.distributed not in SHARDED_WEIGHTS:
        return model
    state = gathered_state(cfg, trainer.model_wrapped, trainer.accelerator)  # collective; full only on rank 0
    if not is_main_process():
        return None
    if cfg.hardware.distributed == "deepspeed_zero3":
        # Training is over: without this, from_pretrained would partition the fresh copy across the ranks again
        from transformers.integrations.deepspeed import unset_hf_deepspeed_config

        unset_hf_deepspeed_config()
    fresh = builders.wrap_for_training(builders.load_model(cfg, resolved), cfg)
    parameters = dict(fresh.named_parameters())
    trained = {name for name, parameter in parameters.items() if parameter.requires_grad}
    if len(trained) < len(parameters):
        # An adapter on a frozen base: the fresh copy already holds the base as loaded; only the trained
        # weights come from the shards (a 4-bit base's gathered form also carries bitsandbytes' quant state)
        state = {key: value for key, value in state.items() if key in trained}
    _, unexpected = fresh.load_state_dict(state, strict=False)
    absent = sorted(trained - state.keys())
    if unexpected or absent:
        raise RuntimeError(
            f"consolidating the {cfg.hardware.distributed} weights: {len(absent)} trained weights missing and "
            f"{len(unexpected)} unexpected keys (first: {(absent or unexpected)[:3]})"
        )
    log.info("Gathered the %s shards into one model on rank 0 (%d tensors)", cfg.hardware.distributed, len(state))
    return fresh


def gathered_state(cfg, wrapped, accelerator) -> dict:
    """The trained weights, whole, on rank 0 (empty elsewhere). Under FSDP2 an adapter on a frozen base
    gathers only the trained weights: the fresh copy reads the base from its checkpoint anyway, and the
    base gathered to rank 0 would add one unsharded model to its peak (~540 MB on SmolLM2-135M in fp32).
    ZeRO-3 goes through accelerate, which gathers every weight (DeepSpeed's consolidated state dict)."""
    if cfg.hardware.distributed != "fsdp":
        return accelerator.get_state_dict(wrapped)
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    frozen_base = any(not parameter.requires_grad for parameter in wrapped.parameters())
    options = StateDictOptions(full_state_dict=True, cpu_offload=True, ignore_frozen_params=frozen_base)
    return get_model_state_dict(wrapped, options=options)


def check_engine(cfg, trainer) -> str:
    """The engine the trainer really runs, checked against the profile (a config never applied is refused)."""
    state = trainer.accelerator.state
    wanted = cfg.hardware.distributed
    if getattr(state, "deepspeed_plugin", None) is not None:
        running = f"deepspeed_zero{state.deepspeed_plugin.zero_stage}"
    elif getattr(state, "fsdp_plugin", None) is not None:
        running = "fsdp"
    else:
        running = "ddp" if state.num_processes > 1 else "none"
    if running != wanted:
        raise RuntimeError(
            f"hardware.distributed={wanted} but the trainer runs {running}: start it with `python -m medft launch` "
            "(it writes the accelerate config and starts `accelerate launch --config_file ...`)"
        )
    log.info("Engine: %s on %d process(es), backend %s", running, state.num_processes, state.backend)
    return running
