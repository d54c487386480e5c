"""FSDP2 on CPU processes (gloo): accelerate's own FSDP path, let through on a CPU process group.

torch's FSDP2 (`fully_shard`) shards and trains on CPU processes with the gloo backend, but
accelerate 1.15 enables FSDP only for GPU-like process groups: in `accelerate/state.py`,
`AcceleratorState.__init__` sets `self.distributed_type = DistributedType.FSDP` inside
`elif self.distributed_type in [DistributedType.MULTI_GPU, ..., DistributedType.MULTI_NEURON]:`,
a list without `MULTI_CPU`, so on CPU processes the plugin is silently dropped and the run is
plain DDP. Everything after that decision (the Trainer's FSDP2 wrapping through
`fsdp2_prepare_model`, sharded checkpoints through torch.distributed.checkpoint, the full state
dict gathered for saving) is device-agnostic and runs unchanged.

`allow_fsdp_on_cpu()` makes that one decision for CPU process groups as accelerate makes it for
GPUs: after `AcceleratorState` initialises on `MULTI_CPU` with an FSDP plugin, it switches the
shared state to `FSDP` and keeps the plugin. Nothing else of accelerate is changed, and it is
called only for `hardware.device=cpu hardware.distributed=fsdp` (a CPU test bed for the GPU
profiles; a GPU run never passes through here). Written by hand because no accelerate option
does it; remove it when accelerate lists `MULTI_CPU` there.
"""

from __future__ import annotations

_PATCHED = "_medft_fsdp_on_cpu"


def allow_fsdp_on_cpu() -> None:
    """Let accelerate's FSDP plugin through on a CPU process group (idempotent; every rank calls it)."""
    from accelerate.state import AcceleratorState, PartialState
    from accelerate.utils import DistributedType

    if getattr(AcceleratorState.__init__, _PATCHED, False):
        return
    original = AcceleratorState.__init__

    def init(self, *args, fsdp_plugin=None, **kwargs):
        original(self, *args, fsdp_plugin=fsdp_plugin, **kwargs)
        if fsdp_plugin is not None and self.distributed_type == DistributedType.MULTI_CPU:
            # What accelerate does for MULTI_GPU (its mixed-precision hand-over included)
            self.distributed_type = DistributedType.FSDP
            if self._mixed_precision != "no":
                fsdp_plugin.set_mixed_precision(self._mixed_precision)
            self.fsdp_plugin = fsdp_plugin
            # accelerate's own last step: later AcceleratorState() calls copy the type back from here
            PartialState._shared_state["distributed_type"] = self.distributed_type

    setattr(init, _PATCHED, True)
    AcceleratorState.__init__ = init
