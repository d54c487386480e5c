"""The one table of what every numeric config value may be, checked right after composing.

A value outside its range would pass the schema (it is a number) and fail minutes later after the
model loaded, with a raw error from torch or transformers, or worse, run and mean nothing
(`optimizer.lr=0`, `peft_method.dropout=1.5`). Each schema dataclass maps every int and float
field to a Range; tests/test_config_checks.py walks the schemas, so a new numeric field without
an entry here fails the tests. A None value passes where the schema allows None (it means "unset").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from medft.config.errors import ConfigError
from medft.config.optimizer_schema import (
    AdafactorConfig,
    AdamWConfig,
    GaloreConfig,
    LionConfig,
    RmspropConfig,
    SgdConfig,
)
from medft.config.run_schema import (
    EvaluateRunConfig,
    GenerateRunConfig,
    HubConfig,
    OnnxExportConfig,
    TrainingConfig,
    TrainRunConfig,
)
from medft.config.schema import (
    ArchConfig,
    AugmentConfig,
    BenchmarkConfig,
    ContaminationConfig,
    DatasetConfig,
    HardwareConfig,
    LoggerConfig,
    ModelConfig,
    ObjectiveConfig,
    OptimizerConfig,
    PeftMethodConfig,
    RetentionConfig,
    SamplingConfig,
    TaskConfig,
)


@dataclass(frozen=True)
class Range:
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # True: low itself is outside
    high_open: bool = False
    why: str = ""  # what the value is, where the bound is not obvious

    def contains(self, value) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return self.high is None or (value < self.high or (not self.high_open and value == self.high))

    def __str__(self) -> str:
        if self.low is not None and self.high is not None:
            return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        return f"{'<' if self.high_open else '<='} {self.high:g}"


COUNT = Range(1)  # sizes, batch sizes, steps, token counts: at least one
NON_NEGATIVE = Range(0)
POSITIVE = Range(0, low_open=True)
SHARE = Range(0, 1, high_open=True)  # a fraction of something that must leave the rest non-empty
SEED = Range(0, 2**32 - 1, why="numpy's seed range")

RANGES: dict[type, dict[str, Range]] = {
    ArchConfig: {
        "n_params": NON_NEGATIVE,
        "n_layers": COUNT,
        "n_decoder_layers": NON_NEGATIVE,  # 0 for decoder-only models
        "hidden_size": COUNT,
        "intermediate_size": COUNT,
        "n_heads": COUNT,
        "n_kv_heads": COUNT,
        "vocab_size": COUNT,
        "head_dim": COUNT,
        "num_experts": COUNT,
        "experts_per_token": COUNT,
    },
    ModelConfig: {"max_seq_len": COUNT},
    AugmentConfig: {"target_count": COUNT, "max_per_record": COUNT},
    ContaminationConfig: {
        "ngram": COUNT,
        "item_threshold": Range(0, 1, low_open=True, why="a share of n-grams"),
        "max_fraction": Range(0, 1, why="a share of the training records"),
    },
    DatasetConfig: {
        "validation_fraction": SHARE,
        "test_fraction": SHARE,
        "split_seed": SEED,
        "max_samples": COUNT,
        "max_seq_len": Range(2),
        "max_record_chars": COUNT,
        "control_fraction": SHARE,
        "eval_limit": COUNT,
    },
    PeftMethodConfig: {
        "r": COUNT,
        "alpha": POSITIVE,
        "alpha_per_rank": POSITIVE,
        "dropout": Range(0, 1, high_open=True, why="a probability; 1 would drop every input"),
        "trainable_layers": NON_NEGATIVE,
        "loraplus_lr_ratio": POSITIVE,
        "adalora_init_r": COUNT,
        "adalora_target_r": COUNT,
        "adalora_tinit": SHARE,
        "adalora_tfinal": SHARE,
        "adalora_delta_t": COUNT,
        "adalora_orth_reg_weight": NON_NEGATIVE,
        "num_virtual_tokens": COUNT,
        "encoder_hidden_size": COUNT,
        "last_layers": Range(1, why="decoder layers that get LoRA, counted from the top; null = all"),
    },
    HardwareConfig: {
        "micro_batch_size": COUNT,
        "num_threads": Range(1, why="torch threads; null = torch's default"),
        "mmap_threshold_mb": Range(1, 32, why="MiB, glibc's largest mmap threshold is 32; null = glibc's default"),
        "memory_budget_gb": POSITIVE,
        "dataloader_workers": NON_NEGATIVE,
        "devices_per_node": COUNT,
        "n_nodes": COUNT,
    },
    OptimizerConfig: {
        "lr": Range(0, 1, low_open=True, why="the learning rate; 0 trains nothing"),
        "weight_decay": Range(0, 1, high_open=True),
        "warmup_ratio": Range(
            0, 1, high_open=True, why="a share of the steps; 1 or more would be read as a number of steps"
        ),
        "max_grad_norm": Range(0, why="0 turns clipping off"),
    },
    # Each optimizer family's own fields (a family's schema also gets its base's ranges: out_of_range).
    AdamWConfig: {"beta1": Range(0, 1, high_open=True), "beta2": Range(0, 1, high_open=True), "eps": POSITIVE},
    SgdConfig: {"momentum": Range(0, 1, high_open=True), "dampening": Range(0, 1, high_open=True)},
    RmspropConfig: {"alpha": Range(0, 1, high_open=True), "momentum": Range(0, 1, high_open=True), "eps": POSITIVE},
    AdafactorConfig: {
        "decay_rate": Range(-1, 0, high_open=True, why="the exponent of the second moment's decay, -0.8 in the paper"),
        "beta1": Range(0, 1, high_open=True),
        "clip_threshold": POSITIVE,
    },
    LionConfig: {"beta1": Range(0, 1), "beta2": Range(0, 1, high_open=True)},
    GaloreConfig: {"rank": COUNT, "update_proj_gap": COUNT, "scale": POSITIVE},
    LoggerConfig: {"system_every_s": Range(0, why="seconds between system/* samples; 0 = off")},
    BenchmarkConfig: {
        "limit": COUNT,
        "generative_limit": COUNT,
        "shots": NON_NEGATIVE,
        "fewshot_seed": SEED,
        "batch_size": COUNT,
        "max_len": COUNT,
        "max_new_tokens": COUNT,
        "generation_batch_size": COUNT,
    },
    ObjectiveConfig: {
        "beta": NON_NEGATIVE,  # 0 is GRPO's default (no reference); the preference objectives need > 0 (objective_rules)
        "pair_seed": SEED,
        "center_rewards_coefficient": NON_NEGATIVE,
        "num_generations": COUNT,
        "max_completion_length": COUNT,
        "temperature": POSITIVE,
        "format_weight": NON_NEGATIVE,
    },
    RetentionConfig: {"limit": COUNT},
    TaskConfig: {"max_new_tokens": COUNT, "generation_batch_size": COUNT, "max_seq_len": Range(2)},
    SamplingConfig: {
        "temperature": POSITIVE,
        "top_p": Range(0, 1, low_open=True),
        "max_new_tokens": COUNT,
        "repetition_penalty": POSITIVE,
        "seed": SEED,
    },
    TrainingConfig: {
        "max_steps": Range(1, why="optimizer steps; training.max_steps=null trains by training.epochs"),
        "epochs": POSITIVE,
        "batch_size": COUNT,
        "max_seq_len": Range(2, why="a context token and a target token at least"),
        "max_truncated_fraction": Range(0, 1, why="a share of the training records"),
        "save_every_steps": COUNT,
        "save_total_limit": COUNT,
        "logging_steps": COUNT,
        "eval_batch_size": COUNT,
        "eval_every_steps": Range(0, why="0 = after training only"),
        "early_stopping_patience": Range(0, why="0 = off"),
        "label_smoothing_factor": SHARE,
        "neftune_noise_alpha": POSITIVE,
    },
    HubConfig: {"timeout_s": POSITIVE},
    TrainRunConfig: {"seed": SEED},
    EvaluateRunConfig: {"seed": SEED},
    GenerateRunConfig: {"seed": SEED},
    OnnxExportConfig: {"opset": Range(7, why="the ONNX opset version")},
}


def _example(schema, name: str, key: str, bounds: Range) -> str:
    """A value to suggest: the schema's default when it is inside the range."""
    default = next(f.default for f in fields(schema) if f.name == name)
    if isinstance(default, bool) or not isinstance(default, (int, float)) or not bounds.contains(default):
        return ""
    return f"; e.g. {key}={default:g}" if isinstance(default, float) else f"; e.g. {key}={default}"


def out_of_range(node, prefix: str = "") -> list[str]:
    """Messages for the values of one composed node (and the nodes under it) outside their range."""
    from omegaconf import DictConfig, OmegaConf

    messages = []
    schema = OmegaConf.get_type(node)
    ranges = {}
    for cls in reversed(getattr(schema, "__mro__", ())):  # a schema's own ranges and its bases' (SgdConfig: lr too)
        ranges.update(RANGES.get(cls, {}))
    for name, bounds in ranges.items():
        value = node.get(name)
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue  # None: unset where the schema allows it; other types are the schema's to refuse
        if not bounds.contains(value):
            key = f"{prefix}.{name}" if prefix else name
            finite = "" if math.isfinite(value) else " and finite"
            why = f" ({bounds.why})" if bounds.why else ""
            messages.append(f"{key}={value}: must be {bounds}{finite}{why}{_example(schema, name, key, bounds)}")
    for key in node.keys():
        child = node._get_node(key)
        if isinstance(child, DictConfig) and not child._is_missing() and not child._is_none():
            messages += out_of_range(child, f"{prefix}.{key}" if prefix else str(key))
    return messages


def _held_out(dataset, where: str) -> list[str]:
    held_out = dataset.validation_fraction + dataset.test_fraction
    if held_out < 1:
        return []
    return [
        f"{where}.validation_fraction={dataset.validation_fraction} + {where}.test_fraction="
        f"{dataset.test_fraction} = {held_out:g} leaves no training records: keep the sum below 1, "
        f"e.g. {where}.validation_fraction=0.1 {where}.test_fraction=0.1"
    ]


def _raise(messages: list[str]) -> None:
    if messages:
        raise ConfigError("; ".join(messages))


def check_ranges(cfg) -> None:
    """Every numeric value of a composed root in its range, and the sums that must stay below one;
    every fault in one error."""
    messages = out_of_range(cfg)
    if "dataset" in cfg:
        messages += _held_out(cfg.dataset, "dataset")
    arch = cfg.model.arch if "model" in cfg else None
    if arch is not None and arch.experts_per_token > arch.num_experts:
        messages.append(
            f"model.arch.experts_per_token={arch.experts_per_token} exceeds model.arch.num_experts="
            f"{arch.num_experts}: a token cannot pass through more experts than a layer has"
        )
    _raise(messages)


def check_component_ranges(component, where: str) -> None:
    """A mixture component (`dataset.components[i]`), typed by the dataset schema."""
    _raise(out_of_range(component, where) + _held_out(component, where))
