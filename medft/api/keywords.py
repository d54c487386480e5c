"""API keywords -> Hydra overrides: group choices, dotted config keys, and the reference API's own keywords.

The reference API's Quick Start reads

    trainer = MedicalPEFTTrainer(model_name="meta-llama/Llama-2-7b-hf", task="medical_qa")
    trainer.train(output_dir="./medical_lora_model", num_epochs=3, batch_size=4, use_qlora=True)

Each of its keywords stands for one override (SEED_KEYWORDS). A few depend on the composed config
(the hardware profile's device and micro-batch, the model's need for remote code): those are
translated after a first composition (`late_overrides`), and each says in the log what it did.
"""

from __future__ import annotations

import logging

from medft.api.model_names import model_name_overrides
from medft.api.override_text import override_value
from medft.config.compose import CONF_DIR
from medft.config.errors import UserError
from medft.config.schema import GROUP_SCHEMAS
from medft.hardware.device import SLOW_FACTOR, matmul_slowdown

log = logging.getLogger(__name__)

# Every config group train.yaml composes (sampling belongs to generate), and the experiment presets.
GROUPS = (*(group for group in GROUP_SCHEMAS if group != "sampling"), "experiment")
SETTINGS = (
    "name",
    "seed",
    "resume",
    "dry_run",
    "output_root",
    "cache_dir",
    "optimized_metric",
    "training",
    "eval",
    "init_from",
    "backend",
    "hub",
    *GROUPS,
)  # keys a keyword (or the first part of a dotted one) may set

# The reference API's `task=` names that are datasets rather than conf/task options (conf/task/ is read for the rest).
DATASET_TASKS = {
    "qa": [],  # the default task on the default data
    "pubmedqa": ["dataset=pubmedqa"],
    "medqa": ["dataset=medqa"],
    "medmcqa": ["dataset=medmcqa"],
    "mmlu_medical": ["dataset=mmlu_medical"],
    "medquad": ["dataset=medquad"],
}
LATE = ("device_map", "trust_remote_code", "revision", "use_flash_attention", "bf16", "batch_size")


class ApiArgumentError(UserError, TypeError):
    """A keyword the API does not know, or a value it cannot translate."""


def task_overrides(value) -> list[str]:
    options = sorted(p.stem for p in (CONF_DIR / "task").glob("*.yaml"))
    if value in options:
        return [f"task={value}"]  # medical_qa | diagnosis | clinical_note | ner: prompt, targets, scorer, data
    if value in DATASET_TASKS:
        return list(DATASET_TASKS[value])
    raise ApiArgumentError(
        f"task={value!r} is not a medft task. Known: {options} (conf/task/) and the datasets "
        f"{sorted(DATASET_TASKS)}; or choose the data directly with dataset='jsonl', **{{'dataset.path': 'notes.jsonl'}}"
    )


def _targets(value) -> list[str]:
    return [f"peft_method.target_modules={override_value([value] if isinstance(value, str) else value)}"]


SEED_KEYWORDS = {  # keyword -> the overrides it stands for
    "model_name": lambda v: model_name_overrides(str(v)),
    "task": task_overrides,
    "lora_r": lambda v: [f"peft_method.r={override_value(v)}"],
    "lora_alpha": lambda v: [f"peft_method.alpha={override_value(v)}"],
    "lora_dropout": lambda v: [f"peft_method.dropout={override_value(v)}"],
    "use_qlora": lambda v: ["quantization=nf4" if v else "quantization=none"],  # QLoRA = LoRA on an NF4 base
    "target_modules": lambda v: [] if v is None else _targets(v),  # None: the model config's targets
    "learning_rate": lambda v: [f"optimizer.lr={override_value(v)}"],
    "num_epochs": lambda v: [f"training.epochs={override_value(v)}"],  # replaces the default step count
    "max_steps": lambda v: [f"training.max_steps={override_value(v)}"],
    "max_seq_length": lambda v: [f"training.max_seq_len={override_value(v)}"],
    "gradient_checkpointing": lambda v: [f"hardware.gradient_checkpointing={override_value(bool(v))}"],
    "save_strategy": lambda v: [f"training.save_strategy={override_value(v)}"],
}


def _flatten(key: str, value) -> list[str]:
    if isinstance(value, dict):
        return [o for k, v in value.items() for o in _flatten(f"{key}.{k}", v)]
    return [f"{key}={override_value(value)}"]


def accepted_keywords() -> list[str]:
    return sorted({"model", "dataset", "peft_method", "quantization", "hardware", "overrides", *SEED_KEYWORDS, *LATE})


def build_overrides(choices: dict, keywords: dict, extra: list[str] | tuple = ()) -> list[str]:
    """Hydra overrides from the API's arguments: group choices, seed keywords, settings, raw overrides.

    The keywords in LATE are left out here: `late_overrides` translates them against a composed config.
    """
    overrides = [f"{group}={option}" for group, option in choices.items() if option is not None]
    unknown = []
    for key, value in keywords.items():
        if key in SEED_KEYWORDS:
            overrides += SEED_KEYWORDS[key](value)
        elif key in LATE:
            continue
        elif key.split(".")[0] in SETTINGS:
            overrides += _flatten(key, value)
        else:
            unknown.append(key)
    if unknown:
        raise ApiArgumentError(
            f"unknown keyword(s) {unknown}. Accepted: {accepted_keywords()}, and dotted config keys "
            "such as **{'training.max_steps': 40} (any key `python train.py` accepts)"
        )
    return overrides + list(extra)


def _device_map(value, hardware) -> list[str]:
    """transformers' device_map -> where medft places the model: one device per process, from the profile."""
    if value in (None, "auto"):
        log.info("device_map='auto': the model goes where hardware=%s puts it (%s)", hardware.name, hardware.device)
        return []
    if value == "cpu" or value == {"": "cpu"}:
        return ["hardware=cpu"] if hardware.device != "cpu" else []
    if value in ("cuda", 0, "cuda:0", {"": 0}, {"": "cuda:0"}):
        return [] if hardware.device == "cuda" else ["hardware.device=cuda"]
    raise ApiArgumentError(
        f"device_map={value!r}: medft loads the whole model on one device per process. Use device_map='auto' "
        "(the hardware profile decides), 'cpu' or 'cuda'; several GPUs: hardware='multi-gpu-fsdp'"
    )


def _trust_remote_code(value, revision, model) -> list[str]:
    """The seed passed trust_remote_code=True for every model; medft runs a repository's code only at a pin."""
    if revision is not None:
        return [f"model.revision={override_value(revision)}"] + (["model.trust_remote_code=true"] if value else [])
    if not value:
        return ["model.trust_remote_code=false"]
    if model.needs_remote_code:  # the model cannot load without it: validate() then asks for the pinned commit
        return ["model.trust_remote_code=true"]
    log.info(
        "trust_remote_code=True without a pinned revision: kept off. %s loads with transformers' own code, and "
        "medft runs a hub repository's Python only for a commit you reviewed: pass trust_remote_code=True "
        "with revision='<40-character commit sha>' for a model that needs it",
        model.name,
    )
    return []


def _flash_attention(value, hardware, device: str) -> list[str]:
    if not value:
        return ["hardware.attn_implementation=sdpa"]
    if device == "cpu":
        log.info(
            "use_flash_attention=True: flash-attention 2 runs on CUDA GPUs only; on hardware=%s (CPU) attention "
            "uses PyTorch's sdpa (hardware.attn_implementation=auto)",
            hardware.name,
        )
    return ["hardware.attn_implementation=auto"]  # flash-attention 2 where installed on a GPU in 16-bit, else sdpa


def _bf16(value, device: str) -> list[str]:
    if not value:
        return ["hardware.precision=fp32"] if device == "cpu" else ["hardware.precision=fp16"]
    if device != "cpu":
        return ["hardware.precision=bf16"]  # a GPU without bf16 falls back to fp16, with a warning
    slowdown = matmul_slowdown("bf16")
    if slowdown > SLOW_FACTOR:
        log.info(
            "bf16=True: this CPU computes bf16 %.0fx slower than fp32 (no native bf16 kernels, measured just now): "
            "training in fp32 (hardware.precision=fp32)",
            slowdown,
        )
        return []
    log.info("bf16=True: this CPU computes bf16 at %.1fx the time of fp32: hardware.precision=bf16", slowdown)
    return ["hardware.precision=bf16"]


def _batch_size(value, hardware) -> list[str]:
    """The reference API's batch_size is the per-device batch; medft's training.batch_size the effective one."""
    micro = hardware.micro_batch_size if value % hardware.micro_batch_size == 0 else value
    return [f"training.batch_size={int(value)}", f"hardware.micro_batch_size={int(micro)}"]


def late_overrides(keywords: dict, cfg) -> list[str]:
    """Overrides of the keywords whose meaning depends on the composed config (LATE), in keyword order."""
    hardware, out = cfg.hardware, []
    if "device_map" in keywords:
        out += _device_map(keywords["device_map"], hardware)
    device = "cpu" if "hardware=cpu" in out else "cuda" if "hardware.device=cuda" in out else hardware.device
    if "trust_remote_code" in keywords or "revision" in keywords:
        out += _trust_remote_code(keywords.get("trust_remote_code", False), keywords.get("revision"), cfg.model)
    if "use_flash_attention" in keywords:
        out += _flash_attention(keywords["use_flash_attention"], hardware, device)
    if "bf16" in keywords:
        out += _bf16(keywords["bf16"], device)
    if "batch_size" in keywords:
        out += _batch_size(keywords["batch_size"], hardware)
    return out
