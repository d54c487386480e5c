"""One structured-config schema per optimizer family, each with its own fields.

conf/optimizer/<option>.yaml opens its defaults list with the schema of its family
(`/optimizer_sgd_schema@_here_`), so Hydra types the node by that class: `optimizer=sgd
optimizer.momentun=0.9` fails while composing, naming the key, and so does `optimizer=adamw
optimizer.momentum=0.9` (AdamW has no momentum field). The schemas are stored in Hydra's
ConfigStore under those top-level names, not inside the `optimizer` group, where Hydra would list
them as options. `check_optimizer` keeps `optimizer.name` within the family its file declared and
checks what a family needs from the other groups.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from medft.config.choices import FULL_WEIGHT_METHODS, GaloreProjection
from medft.config.errors import ConfigError
from medft.config.schema import OptimizerConfig


@dataclass
class AdamWConfig(OptimizerConfig):
    """adamw_torch, adamw_torch_fused, adamw_bnb_8bit, paged_adamw_8bit, paged_adamw_32bit."""

    beta1: float = 0.9  # first-moment decay
    beta2: float = 0.999  # second-moment decay: lower (0.95) reacts faster to changing gradients
    eps: float = 1e-8  # added to the denominator


@dataclass
class SgdConfig(OptimizerConfig):
    """torch.optim.SGD: no state without momentum, one buffer with it."""

    momentum: float = 0.9  # 0: plain SGD (no optimizer state)
    nesterov: bool = False  # look-ahead momentum; needs momentum > 0 and dampening 0
    dampening: float = 0.0  # share of the new gradient held back from the momentum buffer


@dataclass
class RmspropConfig(OptimizerConfig):
    """torch.optim.RMSprop: one squared-gradient average (+ a momentum buffer, + a mean when centered)."""

    alpha: float = 0.99  # decay of the squared-gradient average
    momentum: float = 0.0  # > 0 adds a momentum buffer
    eps: float = 1e-8
    centered: bool = False  # normalise by the gradient's variance instead of its second moment (one more buffer)


@dataclass
class AdafactorConfig(OptimizerConfig):
    """transformers' Adafactor: factored second moments (a row and a column vector per matrix)."""

    relative_step: bool = (
        False  # true: Adafactor picks its own step size (optimizer.lr and the schedule are not applied)
    )
    scale_parameter: bool = False  # true: steps scale with each weight's RMS
    warmup_init: bool = False  # relative_step only: the step size grows from 1e-6 x step
    decay_rate: float = -0.8  # the second moment's decay exponent
    beta1: float | None = None  # None: no first moment (least memory); e.g. 0.9 adds one buffer
    clip_threshold: float = 1.0  # caps the update's RMS


@dataclass
class LionConfig(OptimizerConfig):
    """bitsandbytes Lion (lion_32bit, lion_8bit, paged_*): one momentum buffer, sign updates."""

    beta1: float = 0.9  # interpolation of gradient and momentum for the update
    beta2: float = 0.99  # momentum decay


@dataclass
class GaloreConfig(AdamWConfig):
    """GaLore (galore_adamw, galore_adamw_8bit): AdamW on gradients projected to a low rank."""

    rank: int = 128  # projection rank: higher keeps more of each gradient, and more state
    update_proj_gap: int = 200  # steps between two recomputations of the projection (an SVD each)
    scale: float = 0.25  # the projected update's scale
    proj_type: GaloreProjection = GaloreProjection.std  # std | reverse_std | right | left | full
    target_modules: list[str] = field(
        default_factory=lambda: ["attn", "mlp"]
    )  # linear layers whose names hold one of these (or `all-linear`); the rest train with plain AdamW


# The family of each transformers `optim` name medft offers: its option file's schema.
SCHEMA_OF = {
    "adamw_torch": AdamWConfig,
    "adamw_torch_fused": AdamWConfig,
    "adamw_bnb_8bit": AdamWConfig,
    "paged_adamw_8bit": AdamWConfig,
    "paged_adamw_32bit": AdamWConfig,
    "sgd": SgdConfig,
    "rmsprop": RmspropConfig,
    "adafactor": AdafactorConfig,
    "lion_32bit": LionConfig,
    "lion_8bit": LionConfig,
    "paged_lion_32bit": LionConfig,
    "paged_lion_8bit": LionConfig,
    "galore_adamw": GaloreConfig,
    "galore_adamw_8bit": GaloreConfig,
}
STORE_NAMES = {  # ConfigStore name -> schema; the option files name these in their defaults lists
    "optimizer_adamw_schema": AdamWConfig,
    "optimizer_sgd_schema": SgdConfig,
    "optimizer_rmsprop_schema": RmspropConfig,
    "optimizer_adafactor_schema": AdafactorConfig,
    "optimizer_lion_schema": LionConfig,
    "optimizer_galore_schema": GaloreConfig,
}
OPTION_OF = {AdamWConfig: "adamw", SgdConfig: "sgd", RmspropConfig: "rmsprop", AdafactorConfig: "adafactor"}
OPTION_OF.update({LionConfig: "lion", GaloreConfig: "galore"})


def check_optimizer(cfg) -> None:
    """`optimizer.name` within its file's family, and what a family needs from the other groups."""
    from omegaconf import OmegaConf

    optimizer, name = cfg.optimizer, str(cfg.optimizer.name)
    typed, wanted = OmegaConf.get_type(optimizer), SCHEMA_OF[name]
    if typed is not wanted:
        raise ConfigError(
            f"optimizer.name={name} belongs to optimizer={OPTION_OF[wanted]}, but the optimizer option composed "
            f"declares {typed.__name__} fields: choose its option, optimizer={OPTION_OF[wanted]} "
            f"optimizer.name={name}"
        )
    method = cfg.peft_method.method
    if wanted is GaloreConfig and method not in FULL_WEIGHT_METHODS:
        raise ConfigError(
            f"optimizer={OPTION_OF[wanted]} projects the gradients of whole weight matrices, and "
            f"peft_method={method} trains small adapters instead: add peft_method=full (or freeze), "
            "or use optimizer=adamw"
        )
    if wanted is AdafactorConfig and optimizer.relative_step and method == "lora_plus":
        raise ConfigError(
            "optimizer.relative_step=true lets Adafactor choose every step size, so the higher learning rate "
            "peft_method=lora_plus gives B would not apply: set optimizer.relative_step=false or use peft_method=lora"
        )
    if wanted is AdafactorConfig and cfg.hardware.distributed == "fsdp":
        raise ConfigError(
            "optimizer=adafactor is built by medft (transformers would fix two of its fields) and handed to the "
            "trainer, which transformers refuses under FSDP: use hardware.distributed=ddp, or optimizer=adamw"
        )
    if wanted is SgdConfig and optimizer.nesterov and (optimizer.momentum <= 0 or optimizer.dampening != 0):
        raise ConfigError(
            f"optimizer.nesterov=true needs momentum and no dampening (optimizer.momentum={optimizer.momentum}, "
            f"optimizer.dampening={optimizer.dampening}): e.g. optimizer.momentum=0.9 optimizer.dampening=0"
        )
