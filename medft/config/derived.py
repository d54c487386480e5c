"""Values derived from a composed config, computed in one place and logged once at the start of a run."""

from __future__ import annotations

from medft.config.errors import ConfigError

# How long a run trains when neither training.max_steps nor training.epochs is set: 160 x 8 = 1.4
# epochs of the builtin pairs, ~7 min on 2 CPU cores. A default in code, not in train.yaml, so that
# `training.epochs=3` alone trains three epochs instead of losing silently to a default step count.
DEFAULT_MAX_STEPS = 160


def training_length(cfg) -> tuple[str, float]:
    """("max_steps", steps) or ("epochs", passes): what ends training. Both set is refused."""
    steps, epochs = cfg.training.get("max_steps"), cfg.training.get("epochs")
    if steps is not None and epochs is not None:
        raise ConfigError(
            f"training.max_steps={steps} and training.epochs={epochs:g} both say when training stops, "
            f"and only one can: drop training.epochs={epochs:g} to train {steps} steps, or drop "
            f"training.max_steps={steps} to train {epochs:g} epochs"
        )
    if epochs is not None:
        return "epochs", epochs
    return "max_steps", DEFAULT_MAX_STEPS if steps is None else steps


def describe_training_length(cfg) -> str:
    kind, value = training_length(cfg)
    if kind == "epochs":
        return f"{value:g} epoch(s) (training.epochs={value:g})"
    if cfg.training.get("max_steps") is None:
        return (
            f"{value} steps (the default: training.max_steps and training.epochs are both unset; "
            "set either one to change it)"
        )
    return f"{value} steps (training.max_steps={value})"


def describe_max_seq_len(cfg) -> str:
    """training.max_seq_len and where it comes from: the dataset option's default, or set."""
    from omegaconf import OmegaConf

    value = cfg.training.max_seq_len
    if OmegaConf.is_interpolation(cfg.training, "max_seq_len"):
        if OmegaConf.is_interpolation(cfg.dataset, "max_seq_len"):  # the user's own data: the task decides
            return f"training.max_seq_len={value} (task={cfg.task.name}'s default for your data, task.max_seq_len)"
        return f"training.max_seq_len={value} (dataset={cfg.dataset.name}'s default, dataset.max_seq_len)"
    return f"training.max_seq_len={value}"


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
            f"e.g. training.batch_size={max(per_step, batch - batch % per_step or per_step)}"
        )
    return batch // per_step


def lora_alpha(peft_cfg) -> float:
    """`alpha`, or `alpha_per_rank x r` so a rank sweep can keep the scale alpha/r constant."""
    if peft_cfg.get("alpha_per_rank") is not None:
        return peft_cfg.alpha_per_rank * peft_cfg.r
    return peft_cfg.alpha


def packing_enabled(cfg) -> bool:
    """`training.packing`, or the objective's default: pretraining packs, SFT does not."""
    if cfg.training.get("packing") is not None:
        return bool(cfg.training.packing)
    return cfg.get("objective", {}).get("name") == "pretrain"


def is_reward_model(cfg) -> bool:
    """objective=reward trains a sequence classifier (one score per sequence), not a causal LM."""
    return cfg.get("objective", {}).get("name") == "reward"


def peft_task_type(cfg) -> str:
    """peft's TaskType for the run's model: a reward model's classifier, an encoder-decoder's (T5) or a causal LM's."""
    if is_reward_model(cfg):
        return "SEQ_CLS"
    return "SEQ_2_SEQ_LM" if cfg.model.get("architecture", "causal") == "seq2seq" else "CAUSAL_LM"
