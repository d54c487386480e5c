"""The optimizer group's config -> what transformers takes: TrainingArguments fields, or an optimizer.

transformers builds each optimizer from `optim` plus `optim_args`, a "key=value,key=value" string its
handler for that optimizer reads (SGD: momentum, dampening, nesterov; RMSprop: alpha, momentum, eps,
centered; GaLore: rank, update_proj_gap, scale, proj_type), with AdamW's and Lion's betas in
`adam_beta1`/`adam_beta2` and GaLore's layers in `optim_target_modules`. Adafactor is the exception:
transformers fixes its `scale_parameter` and `relative_step` to False and reads no optim_args, so
medft builds it (`adafactor_optimizer`) and hands it to the trainer like LoRA+'s.
"""

from __future__ import annotations

# Each family's fields that go into `optim_args` (the rest are TrainingArguments fields or medft's own).
OPTIM_ARGS = {
    "SgdConfig": ("momentum", "dampening", "nesterov"),
    "RmspropConfig": ("alpha", "momentum", "eps", "centered"),
    "GaloreConfig": ("rank", "update_proj_gap", "scale", "proj_type"),
}
ADAFACTOR_FIELDS = ("scale_parameter", "relative_step", "warmup_init", "decay_rate", "beta1", "clip_threshold")


def _family(optimizer_cfg) -> str:
    from omegaconf import OmegaConf

    return OmegaConf.get_type(optimizer_cfg).__name__


def optimizer_arguments(optimizer_cfg) -> dict:
    """The TrainingArguments fields of the optimizer group."""
    family = _family(optimizer_cfg)
    fields = dict(
        optim=str(optimizer_cfg.name),
        learning_rate=optimizer_cfg.lr,
        weight_decay=optimizer_cfg.weight_decay,
        warmup_steps=optimizer_cfg.warmup_ratio,  # a float < 1 is a ratio of the total steps
        lr_scheduler_type=str(optimizer_cfg.scheduler),
        max_grad_norm=optimizer_cfg.max_grad_norm,
    )
    if family in ("AdamWConfig", "GaloreConfig", "LionConfig"):  # bitsandbytes' Lion reads its betas from here
        fields.update(adam_beta1=optimizer_cfg.beta1, adam_beta2=optimizer_cfg.beta2)
    if family in ("AdamWConfig", "GaloreConfig"):
        fields["adam_epsilon"] = optimizer_cfg.eps
    if family in OPTIM_ARGS:
        fields["optim_args"] = ",".join(f"{key}={optimizer_cfg[key]}" for key in OPTIM_ARGS[family])
    if family == "GaloreConfig":
        targets = list(optimizer_cfg.target_modules)
        fields["optim_target_modules"] = "all-linear" if targets == ["all-linear"] else targets
    return fields


def adafactor_kwargs(optimizer_cfg) -> dict:
    """transformers' Adafactor keyword arguments from the config (its own handler would fix two of them)."""
    kwargs = {key: optimizer_cfg[key] for key in ADAFACTOR_FIELDS}
    # With relative_step Adafactor refuses a learning rate: it computes every step size itself.
    kwargs["lr"] = None if optimizer_cfg.relative_step else optimizer_cfg.lr
    return kwargs


def optimizer_cls_and_kwargs(cfg, args, model):
    """(optimizer class, keyword arguments) as the trainer would pick them, with Adafactor's own fields."""
    from transformers import Trainer

    optimizer_cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(args, model)
    if cfg.optimizer.name == "adafactor":
        kwargs = {**kwargs, **adafactor_kwargs(cfg.optimizer)}
    return optimizer_cls, kwargs


def adafactor_optimizer(cfg, model, args):
    """Adafactor with the config's fields, on the trainable weights (no decay on biases and norms, as the
    trainer does). With relative_step, each group also holds the config's lr for the trainer's scheduler
    to scale; Adafactor does not read it."""
    from transformers import Trainer

    optimizer_cls, kwargs = optimizer_cls_and_kwargs(cfg, args, model)
    decay = set(Trainer.get_decay_parameter_names(None, model))  # a method that never reads `self`
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for name, p in trainable if name in decay], "weight_decay": cfg.optimizer.weight_decay},
        {"params": [p for name, p in trainable if name not in decay], "weight_decay": 0.0},
    ]
    optimizer = optimizer_cls([g for g in groups if g["params"]], **kwargs)
    if kwargs["lr"] is None:
        for group in optimizer.param_groups:
            group["lr"] = cfg.optimizer.lr
    return optimizer
