"""`peft_method=freeze`: partial fine-tuning, the baseline papers compare PEFT against.

The base model's own weights train, but only some of them: the last `trainable_layers` decoder
layers whole, any parameter whose name matches a `trainable_modules` pattern, and optionally
the final norm and the LM head. Everything else is frozen (no gradient, no optimizer state).
Written here because peft has no such method (its `modules_to_save` copies whole modules next
to an adapter); it is a few lines of `requires_grad`, and the names it picks are logged.
"""

from __future__ import annotations

import logging
from fnmatch import fnmatchcase

from medft.config.errors import UserError

log = logging.getLogger(__name__)


class FreezeConfigError(UserError, ValueError):
    """peft_method=freeze was asked to train something the model does not have."""


def decoder_layers(model):
    """The model's stack of decoder layers (an nn.ModuleList), found the way transformers lays it out."""
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else model
    layers = getattr(decoder, "layers", None)
    if layers is None:
        raise FreezeConfigError(
            f"peft_method=freeze: {type(model).__name__} has no decoder `layers` list; "
            "name what trains with peft_method.trainable_layers=0 "
            "peft_method.trainable_modules=[<parameter-name patterns>]"
        )
    return decoder, layers


def trainable_parameter_names(model, peft_cfg) -> list[str]:
    """Names (as `model.named_parameters()` gives them) of what `peft_cfg` trains, in model order."""
    n_last = int(peft_cfg.trainable_layers)
    decoder, layers = decoder_layers(model)
    if not 0 <= n_last <= len(layers):
        raise FreezeConfigError(
            f"peft_method.trainable_layers={n_last}: the model has {len(layers)} decoder layers; give 0..{len(layers)}"
        )
    chosen = {id(p) for layer in list(layers)[len(layers) - n_last :] for p in layer.parameters()}
    if peft_cfg.train_final_norm and getattr(decoder, "norm", None) is not None:
        chosen |= {id(p) for p in decoder.norm.parameters()}
    if peft_cfg.train_lm_head and model.get_output_embeddings() is not None:
        # With tied embeddings this is the input embedding matrix too: one tensor, trained once.
        chosen |= {id(p) for p in model.get_output_embeddings().parameters()}
    named = list(model.named_parameters())
    for pattern in peft_cfg.trainable_modules or []:
        hits = {id(p) for name, p in named if fnmatchcase(name, pattern)}
        if not hits:
            examples = ", ".join(name for name, _ in named[:3])
            raise FreezeConfigError(
                f"peft_method.trainable_modules: {pattern!r} matches no parameter name "
                f"(names look like {examples}); use a glob such as '*.mlp.*'"
            )
        chosen |= hits
    names = [name for name, p in named if id(p) in chosen]
    if not names:
        raise FreezeConfigError(
            "peft_method=freeze trains nothing: set peft_method.trainable_layers > 0 "
            "or peft_method.trainable_modules=[...]"
        )
    return names


def apply_freeze(model, peft_cfg):
    """Freeze every parameter, then unfreeze the chosen ones; returns the model."""
    names = set(trainable_parameter_names(model, peft_cfg))
    for name, param in model.named_parameters():
        param.requires_grad_(name in names)
    log.info(
        "peft_method=freeze: training %d tensors (last %d decoder layers%s%s%s)",
        len(names),
        peft_cfg.trainable_layers,
        ", final norm" if peft_cfg.train_final_norm else "",
        ", LM head" if peft_cfg.train_lm_head else "",
        f", modules {list(peft_cfg.trainable_modules)}" if peft_cfg.trainable_modules else "",
    )
    return model
