"""Bytes of optimizer state per trainable weight, for each optimizer medft offers (the memory planner's).

fp32 unless the name says 8-bit (1 byte a value plus a block constant, counted as 1; bitsandbytes keeps
tensors under 4096 values in 32 bits, which LoRA matrices of real models rarely are). Adafactor keeps a
row and a column average per weight matrix instead of a full second moment: (rows + cols) x 4 bytes for
rows x cols weights, at most 8 / (the matrix's smaller side) bytes a weight. GaLore keeps AdamW's two
moments on a rank-r projection of each targeted matrix, plus the projection itself: about 12 x r /
(the smaller side) bytes a weight, never more than AdamW's 8.
"""

from __future__ import annotations

ADAMW = {"adamw_torch": 8, "adamw_torch_fused": 8, "adamw_hf": 8, "paged_adamw_32bit": 8}
ADAMW.update({"adamw_bnb_8bit": 2, "adamw_8bit": 2, "paged_adamw_8bit": 2})
LION = {"lion_32bit": 4, "paged_lion_32bit": 4, "lion_8bit": 1, "paged_lion_8bit": 1}  # one momentum buffer


def state_bytes_per_param(optimizer_cfg, matrix_side: int) -> float:
    """Optimizer state bytes per trainable weight. `matrix_side`: the smaller side of a typical trained
    matrix (the LoRA rank for adapters, the hidden size for whole weights); only the factored and
    projected optimizers (adafactor, galore) depend on it."""
    name = str(optimizer_cfg.name)
    if name in ADAMW:
        return float(ADAMW[name])
    if name in LION:
        return float(LION[name])
    if name == "sgd":
        return 4.0 if optimizer_cfg.get("momentum", 0) > 0 else 0.0  # the momentum buffer, or nothing
    if name == "rmsprop":  # the squared-gradient average, + momentum, + the mean when centered
        return 4.0 * (1 + (optimizer_cfg.get("momentum", 0) > 0) + bool(optimizer_cfg.get("centered", False)))
    if name == "adafactor":
        first_moment = 4.0 if optimizer_cfg.get("beta1") is not None else 0.0
        return first_moment + 8.0 / max(1, matrix_side)
    if name.startswith("galore"):
        per_value = 1.0 if "8bit" in name else 4.0
        return min(8.0, (2 * per_value + 4.0) * optimizer_cfg.get("rank", 128) / max(1, matrix_side))
    return 8.0  # an optimizer the planner does not know: AdamW's, the common case
