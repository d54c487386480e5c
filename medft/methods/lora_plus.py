"""LoRA+ (Hayou et al. 2024): plain LoRA weights, with B matrices trained at a higher learning rate."""

from __future__ import annotations

from medft.methods.optimizers import optimizer_cls_and_kwargs


def loraplus_optimizer(cfg, model, args):
    """LoRA+ (Hayou et al. 2024): peft's optimizer with B matrices at `loraplus_lr_ratio` x the learning rate.

    The optimizer class and its arguments (betas, eps, 8-bit variants) come from the optimizer group
    through transformers' own mapping (and Adafactor's own fields), so LoRA+ changes only the learning rates.
    """
    from peft.optimizers import create_loraplus_optimizer

    optimizer_cls, kwargs = optimizer_cls_and_kwargs(cfg, args, model)
    kwargs = dict(kwargs)
    lr = kwargs.pop("lr", cfg.optimizer.lr)
    return create_loraplus_optimizer(
        model,
        optimizer_cls,
        lr=lr,
        loraplus_lr_ratio=cfg.peft_method.loraplus_lr_ratio,
        loraplus_weight_decay=cfg.optimizer.weight_decay,
        **kwargs,
    )
