"""Cross-group rules, checked once after composing and before anything heavy is loaded.

Each error names the override that fixes it.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from medft.config.arch_shapes import targeted_shapes
from medft.config.choices import (
    FILE_KINDS,
    FOUR_BIT,
    FULL_WEIGHT_METHODS,
    NER_KINDS,
    PROMPT_LEARNING,
    RANKED_METHODS,
    ROLES,
)
from medft.config.derived import grad_accumulation, training_length
from medft.config.errors import ConfigError
from medft.config.mixture_components import check_mixture
from medft.config.objective_rules import check_objective
from medft.config.optimizer_schema import check_optimizer
from medft.config.ranges import check_component_ranges, check_ranges
from medft.config.secrets import refuse_config_secrets
from medft.config.seq2seq_rules import check_seq2seq
from medft.config.unknown_keys import refuse_unknown_keys

log = logging.getLogger(__name__)


HELD_OUT_SETS = ("test", "control", "retention")
# A pin names one commit: the full sha, which no branch or tag can move. (The hub resolves full ids;
# a short one would also read as a branch or tag name.)
COMMIT_ID = re.compile(r"[0-9a-f]{40}")  # scored to report, never to choose a model


def check_optimized_metric(cfg) -> None:
    """A sweeper may only select on validation numbers: selecting on a test set inflates it."""
    parts = str(cfg.optimized_metric).split(".")
    if len(parts) < 2 or parts[0] not in ("eval_after", "eval_before", "train"):
        raise ConfigError(
            f"optimized_metric={cfg.optimized_metric!r}: give a path into metrics.json such as "
            "eval_after.validation.acc or train.train_loss"
        )
    if parts[0].startswith("eval") and parts[1].split(":")[0] in HELD_OUT_SETS:  # test:<component> of a mixture too
        raise ConfigError(
            f"optimized_metric={cfg.optimized_metric}: optimizing on the {parts[1]} split makes its "
            "score a selection score, not a test score; use eval_after.validation.acc"
        )
    if parts[0].startswith("eval") and parts[1] == "validation" and not cfg.eval.validation:
        log.warning(
            "eval.validation=false: optimized_metric=%s will be empty, so a sweeper gets no value from this run",
            cfg.optimized_metric,
        )


def check_remote_code(model_cfg) -> None:
    """A model whose code lives in its hub repository runs only when the user asks, at a pinned commit.

    trust_remote_code executes that repository's Python on this machine; a moving branch could
    change it between two runs, so the commit the user reviewed must be named.
    """
    if not model_cfg.get("needs_remote_code", False):
        return
    if not model_cfg.trust_remote_code:
        raise ConfigError(
            f"model={model_cfg.name} is not a transformers architecture: loading it runs the Python code "
            f"of {model_cfg.hub_id} on this machine. Review that code, then add model.trust_remote_code=true"
        )
    if model_cfg.source == "hub" and not model_cfg.revision:
        raise ConfigError(
            f"model={model_cfg.name} with model.trust_remote_code=true needs the commit whose code you "
            f"reviewed: add model.revision=<commit sha of {model_cfg.hub_id}>"
        )
    if model_cfg.source == "hub" and not COMMIT_ID.fullmatch(str(model_cfg.revision)):
        raise ConfigError(
            f"model.revision={model_cfg.revision} is not a commit id but a branch or tag name, which can "
            f"move to other code between two runs: with model.trust_remote_code=true give the 40-character "
            f"commit sha whose code you reviewed, model.revision=<commit sha of {model_cfg.hub_id}> (the "
            "repository's commit history lists them)"
        )


def check_task_data(cfg) -> None:
    """Entity data and the ner task need each other; the other tasks score any records."""
    kind, scorer = cfg.dataset.kind, cfg.task.scorer
    if scorer == "ner" and kind not in NER_KINDS:
        raise ConfigError(
            f"task=ner scores gold entities, which dataset={cfg.dataset.name} does not have: "
            "use dataset=ner_builtin or dataset=cmeee dataset.path=..."
        )
    if kind in NER_KINDS and scorer != "ner":
        raise ConfigError(f"dataset={cfg.dataset.name} is entity-annotated text: add task=ner")
    if scorer == "ner" and not cfg.task.entity_types:
        raise ConfigError("task=ner needs task.entity_types, e.g. task.entity_types=[dis,sym,dru]")
    if kind in ("cmeee", "huatuo") and not (cfg.dataset.path or cfg.dataset.hub_id):
        raise ConfigError(f"dataset={kind} needs its files: dataset.path=/path/to/{kind} or dataset.hub_id=<repo>")


def check_role_files(dataset_cfg) -> None:
    """dataset=files: a training file (or a hub dataset), and every file named exists."""
    if not dataset_cfg.get("hub_id") and not dataset_cfg.train_file:
        raise ConfigError(
            "dataset=files needs its training file: dataset.train_file=/path/to/train.jsonl "
            "(optional: dataset.validation_file=..., dataset.test_file=...), or dataset.hub_id=<hub dataset>"
        )
    if dataset_cfg.get("hub_id"):
        return
    for role in ROLES:
        path, key = dataset_cfg[f"{role}_file"], f"dataset.{role}_file"
        if path and not Path(path).expanduser().is_file():
            raise ConfigError(f"{key}: no such file: {path}. Give an existing file: {key}=/path/to/{role}.jsonl")


def check_dataset_file(dataset_cfg) -> None:
    if dataset_cfg.kind == "files":
        check_role_files(dataset_cfg)
    if dataset_cfg.kind in FILE_KINDS:
        path = dataset_cfg.path
        if not path or not Path(path).expanduser().is_file():
            example = "data.jsonl" if dataset_cfg.kind == "jsonl" else "NOTEEVENTS.csv"
            raise ConfigError(f"dataset.path: no such file: {path}. Give your file: dataset.path=/path/to/{example}")


def _check_one_dataset(cfg) -> None:
    if "objective" in cfg:  # objectives, preference/text data and training controls (medft/config/objective_rules.py)
        check_objective(cfg)
    check_task_data(cfg)
    check_dataset_file(cfg.dataset)


def check_dataset(cfg) -> None:
    """The rules that depend on the dataset; a mixture applies every one of them to each component."""
    if cfg.dataset.kind != "mixture":
        _check_one_dataset(cfg)
        return
    from omegaconf import open_dict

    if "objective" in cfg:  # the training-control rules, which do not depend on the data
        check_objective(cfg)
    for index, component in enumerate(check_mixture(cfg.dataset)):
        check_component_ranges(component, f"dataset.components[{index}]")
        view = cfg.copy()
        with open_dict(view):
            view.dataset = component
        try:
            _check_one_dataset(view)
        except ConfigError as err:
            raise ConfigError(f"dataset.components[{index}] ({component.name}): {err}") from err


def check_rank(cfg) -> None:
    """An adapter rank above the smallest dimension of a layer it adapts adds parameters, not capacity:
    the product of an r x in and an out x r matrix has rank at most min(in, out)."""
    peft = cfg.peft_method
    if peft.method == "adalora":
        key, rank = "peft_method.adalora_init_r", peft.adalora_init_r
    elif peft.method in RANKED_METHODS and peft.method != "vera":  # VeRA's r sizes shared random matrices
        key, rank = "peft_method.r", peft.r
    else:
        return
    shapes = targeted_shapes(peft, cfg.model)
    if not shapes:
        return
    layer, (n_in, n_out) = min(shapes.items(), key=lambda item: min(item[1]))
    limit = min(n_in, n_out)
    if rank > limit:
        raise ConfigError(
            f"{key}={rank} exceeds {limit}, the smallest dimension of the layers it adapts ({layer} is "
            f"{n_in} x {n_out} in model={cfg.model.name}): an update of that layer has rank {limit} at "
            f"most, so a larger rank only adds trained parameters; use {key}={min(16, limit)} "
            f"(at most {key}={limit})"
        )


def check_peft_method(cfg) -> None:
    """What the methods beyond plain adapters need from the other groups."""
    peft, method = cfg.peft_method, cfg.peft_method.method
    if method == "loftq" and cfg.quantization.method not in FOUR_BIT:
        raise ConfigError(
            f"peft_method=loftq starts LoRA at the 4-bit rounding error, so it needs a 4-bit base: add "
            f"quantization=nf4 (it has quantization={cfg.quantization.method}), or use peft_method=lora"
        )
    if method == "adalora":
        if training_length(cfg)[0] != "max_steps":
            raise ConfigError(
                "peft_method=adalora fixes its rank-pruning schedule in steps before training starts: "
                f"drop training.epochs={cfg.training.epochs} and set training.max_steps "
                "(e.g. training.max_steps=160)"
            )
        if not 0 < peft.adalora_target_r <= peft.adalora_init_r:
            raise ConfigError(
                f"peft_method.adalora_target_r={peft.adalora_target_r} must be in 1..adalora_init_r="
                f"{peft.adalora_init_r}: AdaLoRA only prunes; e.g. peft_method.adalora_target_r=8"
            )
        if peft.adalora_tinit + peft.adalora_tfinal >= 1 or min(peft.adalora_tinit, peft.adalora_tfinal) < 0:
            raise ConfigError(
                "peft_method.adalora_tinit + peft_method.adalora_tfinal are shares of the steps and must "
                "leave some for pruning: e.g. peft_method.adalora_tinit=0.1 peft_method.adalora_tfinal=0.2"
            )
    if method == "lora_plus" and cfg.hardware.distributed == "fsdp":
        raise ConfigError(
            "peft_method=lora_plus hands the trainer its own optimizer, which transformers refuses "
            "under FSDP: use hardware.distributed=ddp (or deepspeed_zero3), or peft_method=lora"
        )
    if method in PROMPT_LEARNING:  # num_virtual_tokens >= 1: medft/config/ranges.py
        if cfg.training.max_seq_len + peft.num_virtual_tokens > cfg.model.max_seq_len:
            raise ConfigError(
                f"peft_method={method} puts {peft.num_virtual_tokens} virtual tokens before every input: "
                f"training.max_seq_len={cfg.training.max_seq_len} plus those exceeds model.max_seq_len="
                f"{cfg.model.max_seq_len}: training.max_seq_len={cfg.model.max_seq_len - peft.num_virtual_tokens}"
            )


def check_values(cfg) -> None:
    """What any command's config must hold, whatever the command (train, evaluate, generate, export)."""
    refuse_config_secrets(cfg)  # credentials come from the environment only
    refuse_unknown_keys(cfg)  # a `+typo=` Hydra let past the schema
    check_ranges(cfg)  # every number in its range (medft/config/ranges.py)


def validate(cfg, dry_run: bool = False) -> None:
    """Every rule that the config alone decides; what the machine must have is checked after this
    by medft.hardware.environment.check_environment."""
    check_values(cfg)
    quant, peft = cfg.quantization.method, cfg.peft_method.method
    if quant != "none" and peft in FULL_WEIGHT_METHODS:  # bitsandbytes weights take no gradient updates
        raise ConfigError(
            f"quantization={quant} freezes quantized base weights, so it needs a PEFT method: "
            f"add peft_method=lora (QLoRA), or use quantization=none for peft_method={peft}"
        )
    check_rank(cfg)
    check_peft_method(cfg)
    check_optimizer(cfg)
    check_seq2seq(cfg)
    grad_accumulation(cfg)
    check_optimized_metric(cfg)
    check_dataset(cfg)
    try:
        check_remote_code(cfg.model)
    except ConfigError as err:
        if not dry_run:  # a real run; a dry run still prints the plan, with the warning
            raise
        log.warning("dry_run: a real run would stop here: %s", err)
    training_length(cfg)  # max_steps or epochs, not both
    if cfg.training.max_seq_len > cfg.model.max_seq_len:
        raise ConfigError(
            f"training.max_seq_len={cfg.training.max_seq_len} exceeds model.max_seq_len="
            f"{cfg.model.max_seq_len} for model={cfg.model.name}: lower it, "
            f"training.max_seq_len={cfg.model.max_seq_len}"
        )
