"""Cross-group rules, checked once after composing and before anything heavy is loaded.

Each error names the override that fixes it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from medft.builders import FULL_WEIGHT_METHODS, LORA_FAMILY
from medft.errors import UserError

log = logging.getLogger(__name__)

RANKED_METHODS = (*LORA_FAMILY, "vera")  # the adapter methods with a rank r
PROMPT_LEARNING = ("prompt_tuning", "prefix_tuning", "p_tuning")  # = medft.peft_methods.PROMPT_LEARNING (no peft import here)
FOUR_BIT = ("nf4", "fp4")

CHOICES = {
    "model.source": ("packaged", "hub", "local", "random"),
    "model.chat_template": ("native", "chatml", "gemma", "baichuan"),
    "dataset.kind": ("builtin", "jsonl", "preference_jsonl", "text", "pubmedqa", "medqa", "medmcqa", "mmlu_medical",
                     "medquad", "diagnosis_builtin", "notes_builtin", "ner_builtin", "cmeee", "huatuo", "mimic_notes",
                     "mixture"),
    "dataset.phi": ("guard", "allow"),
    "dataset.contamination.action": ("fail", "drop", "drop_own", "warn"),
    "training.mc_format": ("letter", "cloze"),
    "task.scorer": ("multiple_choice", "diagnosis", "clinical_note", "ner"),
    "task.targets": ("answer", "all"),
    "task.zh_tokenizer": ("chars", "jieba"),
    "peft_method.method": (*RANKED_METHODS, "adalora", "ia3", *PROMPT_LEARNING, *FULL_WEIGHT_METHODS),
    "peft_method.encoder_type": ("MLP", "LSTM"),
    "peft_method.bias": ("none", "all", "lora_only"),
    "quantization.method": ("none", "nf4", "fp4", "int8"),
    "quantization.compute_dtype": ("auto", "fp32", "fp16", "bf16"),
    "hardware.device": ("cpu", "cuda"),
    "hardware.precision": ("fp32", "fp16", "bf16"),
    "hardware.distributed": ("none", "ddp", "deepspeed_zero3", "fsdp"),
    "hardware.attn_implementation": ("auto", "sdpa", "eager", "flash_attention_2"),
    "hardware.compile": ("none", "regional"),
    "hardware.fast_kernels": ("auto", "liger", "none"),
    "backend": ("hf", "unsloth"),
    "logger.name": ("tensorboard", "wandb", "none"),
}


class ConfigError(UserError, ValueError):
    """A composed config that cannot run; the message says which override to change."""


def _get(cfg, dotted: str):
    node = cfg
    for part in dotted.split("."):
        node = node[part]
    return node


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


HELD_OUT_SETS = ("test", "control", "retention")  # scored to report, never to choose a model


def check_optimized_metric(cfg) -> None:
    """A sweeper may only select on validation numbers: selecting on a test set inflates it."""
    parts = str(cfg.optimized_metric).split(".")
    if len(parts) < 2 or parts[0] not in ("eval_after", "eval_before", "train"):
        raise ConfigError(f"optimized_metric={cfg.optimized_metric!r}: give a path into metrics.json such as "
                          "eval_after.validation.acc or train.train_loss")
    if parts[0].startswith("eval") and parts[1].split(":")[0] in HELD_OUT_SETS:  # test:<component> of a mixture too
        raise ConfigError(f"optimized_metric={cfg.optimized_metric}: optimizing on the {parts[1]} split makes its "
                          "score a selection score, not a test score; use eval_after.validation.acc")
    if parts[0].startswith("eval") and parts[1] == "validation" and not cfg.eval.validation:
        log.warning("eval.validation=false: optimized_metric=%s will be empty, so a sweeper gets no value "
                    "from this run", cfg.optimized_metric)


def check_remote_code(model_cfg) -> None:
    """A model whose code lives in its hub repository runs only when the user asks, at a pinned commit.

    trust_remote_code executes that repository's Python on this machine; a moving branch could
    change it between two runs, so the commit the user reviewed must be named.
    """
    if not model_cfg.get("needs_remote_code", False):
        return
    if not model_cfg.trust_remote_code:
        raise ConfigError(f"model={model_cfg.name} is not a transformers architecture: loading it runs the Python code "
                          f"of {model_cfg.hub_id} on this machine. Review that code, then add model.trust_remote_code=true")
    if model_cfg.source == "hub" and not model_cfg.revision:
        raise ConfigError(f"model={model_cfg.name} with model.trust_remote_code=true needs the commit whose code you "
                          f"reviewed: add model.revision=<commit sha of {model_cfg.hub_id}>")


def check_task_data(cfg) -> None:
    """Entity data and the ner task need each other; the other tasks score any records."""
    from medft.data.task_data import NER_KINDS

    kind, scorer = cfg.dataset.kind, cfg.task.scorer
    if scorer == "ner" and kind not in NER_KINDS:
        raise ConfigError(f"task=ner scores gold entities, which dataset={cfg.dataset.name} does not have: "
                          "use dataset=ner_builtin or dataset=cmeee dataset.path=...")
    if kind in NER_KINDS and scorer != "ner":
        raise ConfigError(f"dataset={cfg.dataset.name} is entity-annotated text: add task=ner")
    if scorer == "ner" and not cfg.task.entity_types:
        raise ConfigError("task=ner needs task.entity_types, e.g. task.entity_types=[dis,sym,dru]")
    if kind in ("cmeee", "huatuo") and not (cfg.dataset.path or cfg.dataset.hub_id):
        raise ConfigError(f"dataset={kind} needs its files: dataset.path=/path/to/{kind} or dataset.hub_id=<repo>")


def check_dataset_file(dataset_cfg) -> None:
    if dataset_cfg.kind in ("jsonl", "mimic_notes"):
        path = dataset_cfg.path
        if not path or not Path(path).expanduser().is_file():
            example = "data.jsonl" if dataset_cfg.kind == "jsonl" else "NOTEEVENTS.csv"
            raise ConfigError(f"dataset.path: no such file: {path}. Give your file: dataset.path=/path/to/{example}")


def _check_one_dataset(cfg) -> None:
    if "objective" in cfg:  # objectives, preference/text data and training controls (medft/objectives/checks.py)
        from medft.objectives.checks import check_objective

        check_objective(cfg, ConfigError)
    check_task_data(cfg)
    check_dataset_file(cfg.dataset)


def check_dataset(cfg) -> None:
    """The rules that depend on the dataset; a mixture applies every one of them to each component."""
    if cfg.dataset.kind != "mixture":
        _check_one_dataset(cfg)
        return
    from omegaconf import open_dict

    from medft.data.mixture import check_mixture

    if "objective" in cfg:  # the training-control rules, which do not depend on the data
        from medft.objectives.checks import check_objective

        check_objective(cfg, ConfigError)
    for index, component in enumerate(check_mixture(cfg.dataset)):
        view = cfg.copy()
        with open_dict(view):
            view.dataset = component
        try:
            _check_one_dataset(view)
        except ConfigError as err:
            raise ConfigError(f"dataset.components[{index}] ({component.name}): {err}") from err


def check_peft_method(cfg) -> None:
    """What the methods beyond plain adapters need from the other groups."""
    peft, method = cfg.peft_method, cfg.peft_method.method
    if method == "loftq" and cfg.quantization.method not in FOUR_BIT:
        raise ConfigError(f"peft_method=loftq starts LoRA at the 4-bit rounding error, so it needs a 4-bit base: add "
                          f"quantization=nf4 (it has quantization={cfg.quantization.method}), or use peft_method=lora")
    if method == "adalora":
        if cfg.training.max_steps <= 0:
            raise ConfigError("peft_method=adalora fixes its rank-pruning schedule in steps before training starts: "
                              "set training.max_steps (e.g. training.max_steps=160)")
        if not 0 < peft.adalora_target_r <= peft.adalora_init_r:
            raise ConfigError(f"peft_method.adalora_target_r={peft.adalora_target_r} must be in 1..adalora_init_r="
                              f"{peft.adalora_init_r}: AdaLoRA only prunes; e.g. peft_method.adalora_target_r=8")
        if peft.adalora_tinit + peft.adalora_tfinal >= 1 or min(peft.adalora_tinit, peft.adalora_tfinal) < 0:
            raise ConfigError("peft_method.adalora_tinit + peft_method.adalora_tfinal are shares of the steps and must "
                              "leave some for pruning: e.g. peft_method.adalora_tinit=0.1 peft_method.adalora_tfinal=0.2")
    if method == "lora_plus" and cfg.hardware.distributed == "fsdp":
        raise ConfigError("peft_method=lora_plus hands the trainer its own optimizer, which transformers refuses "
                          "under FSDP: use hardware.distributed=ddp (or deepspeed_zero3), or peft_method=lora")
    if method in PROMPT_LEARNING:
        if peft.num_virtual_tokens <= 0:
            raise ConfigError(f"peft_method.num_virtual_tokens={peft.num_virtual_tokens}: give a positive number, "
                              "e.g. peft_method.num_virtual_tokens=20")
        if cfg.training.max_seq_len + peft.num_virtual_tokens > cfg.model.max_seq_len:
            raise ConfigError(f"peft_method={method} puts {peft.num_virtual_tokens} virtual tokens before every input: "
                              f"training.max_seq_len={cfg.training.max_seq_len} plus those exceeds model.max_seq_len="
                              f"{cfg.model.max_seq_len}; lower training.max_seq_len")


def validate(cfg, check_environment: bool = True) -> None:
    from medft.secrets import refuse_config_secrets

    refuse_config_secrets(cfg)  # credentials come from the environment only
    for key, allowed in CHOICES.items():
        value = _get(cfg, key)
        if value not in allowed:
            raise ConfigError(f"{key}={value!r} is not one of {list(allowed)}")
    quant, peft = cfg.quantization.method, cfg.peft_method.method
    if quant != "none" and peft in FULL_WEIGHT_METHODS:  # bitsandbytes weights take no gradient updates
        raise ConfigError(f"quantization={quant} freezes quantized base weights, so it needs a PEFT method: "
                          f"add peft_method=lora (QLoRA), or use quantization=none for peft_method={peft}")
    if peft in RANKED_METHODS and (cfg.peft_method.r <= 0 or cfg.peft_method.alpha <= 0
                                   or (cfg.peft_method.alpha_per_rank is not None and cfg.peft_method.alpha_per_rank <= 0)):
        raise ConfigError("peft_method.r, peft_method.alpha and peft_method.alpha_per_rank must be positive")
    check_peft_method(cfg)
    grad_accumulation(cfg)
    check_optimized_metric(cfg)
    check_dataset(cfg)
    try:
        check_remote_code(cfg.model)
    except ConfigError as err:
        if check_environment:  # a real run; a dry run still prints the plan, with the warning
            raise
        log.warning("dry_run: a real run would stop here: %s", err)
    if cfg.hardware.device == "cpu" and cfg.hardware.distributed not in ("none", "ddp"):
        raise ConfigError(f"hardware.distributed={cfg.hardware.distributed} needs GPUs; on CPU use hardware.distributed=ddp")
    if cfg.training.max_steps <= 0 and cfg.training.epochs <= 0:
        raise ConfigError("set training.max_steps > 0 or training.epochs > 0")
    if cfg.training.max_seq_len > cfg.model.max_seq_len:
        raise ConfigError(f"training.max_seq_len={cfg.training.max_seq_len} exceeds model.max_seq_len="
                          f"{cfg.model.max_seq_len} for model={cfg.model.name}; lower training.max_seq_len")
    if check_environment and cfg.hardware.device == "cpu" and cfg.hardware.precision != "fp32":
        from medft.hardware.device import SLOW_FACTOR, matmul_slowdown

        slowdown = matmul_slowdown(cfg.hardware.precision)
        if slowdown > SLOW_FACTOR:
            raise ConfigError(f"hardware.precision={cfg.hardware.precision}: this CPU multiplies {cfg.hardware.precision} "
                              f"matrices {slowdown:.0f}x slower than fp32 (measured just now), so it has no native "
                              "16-bit compute that torch uses; use hardware.precision=fp32 (hardware=cpu)")
    if check_environment and cfg.hardware.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"hardware={cfg.hardware.name} needs a CUDA GPU and none is visible; "
                              "use hardware=cpu on this machine")
        if cfg.hardware.precision == "bf16" and not torch.cuda.is_bf16_supported():
            from omegaconf import open_dict

            log.warning("hardware=%s asks for bf16, which %s lacks: falling back to fp16 (with loss scaling). "
                        "Set hardware.precision=fp16 to silence this.", cfg.hardware.name, torch.cuda.get_device_name())
            with open_dict(cfg):
                cfg.hardware.precision = "fp16"
