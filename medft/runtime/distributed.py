"""Which process am I in a distributed run? Only rank 0 writes the run folder.

torchrun and accelerate set RANK / WORLD_SIZE for every process they start; a plain
`python train.py` has neither and is rank 0 of 1.
"""

from __future__ import annotations

import os


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    return rank() == 0


def any_rank(flag: bool) -> bool:
    """True on every rank if `flag` is true on any (one scalar collective; every rank must call it)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return flag
    import torch

    value = torch.tensor(int(flag))
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value)


def rank0_only(value, other=None):
    """`value` on rank 0, `other` elsewhere: a Hydra resolver, so only rank 0 logs to train.log and writes .hydra/."""
    return value if is_main_process() else other


def register_resolvers() -> None:
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("medft_rank0"):
        OmegaConf.register_new_resolver("medft_rank0", rank0_only)
