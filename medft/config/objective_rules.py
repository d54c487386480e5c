"""Cross-group rules for objectives, datasets and training controls (called by medft.config.validate)."""

from __future__ import annotations

from pathlib import Path

from medft.config.choices import ONLINE_OBJECTIVES, PAIR_OBJECTIVES, PREFERENCE_OBJECTIVES, REWARD_METHODS
from medft.config.errors import ConfigError


def check_objective(cfg) -> None:
    """Raise ConfigError naming the override that fixes a wrong combination."""
    objective, kind = cfg.objective.name, cfg.dataset.kind
    if kind == "text" and objective != "pretrain":
        raise ConfigError(
            f"dataset=text is plain text without answers: add objective=pretrain (objective={objective} "
            "needs questions or pairs)"
        )
    if kind == "preference_jsonl" and objective not in PAIR_OBJECTIVES:
        raise ConfigError(
            f"dataset=preference_jsonl holds (prompt, chosen, rejected) pairs: add objective=dpo "
            f"(or orpo, kto, reward); objective={objective} cannot use the rejected answers"
        )
    if objective in PREFERENCE_OBJECTIVES and cfg.objective.beta <= 0:
        raise ConfigError(
            f"objective.beta={cfg.objective.beta}: objective={objective} divides by or scales with beta, so it must "
            "be > 0; e.g. objective.beta=0.1"
        )
    if objective == "reward":
        check_reward(cfg)
    if objective in ONLINE_OBJECTIVES:
        check_online(cfg)
    if kind in ("preference_jsonl", "text"):
        path = cfg.dataset.path
        if not path or not Path(str(path)).expanduser().exists():
            raise ConfigError(f"dataset.path: no such file or folder: {path}. Give your data: dataset.path=/path/to/it")
    training = cfg.training
    every = training.eval_every_steps
    if (training.early_stopping_patience > 0 or training.load_best) and every <= 0:
        raise ConfigError(
            "training.early_stopping_patience and training.load_best compare evaluations during training: "
            "add training.eval_every_steps=<N>"
        )
    if training.load_best and training.get("save_strategy", "steps") == "epoch":
        raise ConfigError(
            "training.load_best=true returns to a checkpoint saved at an evaluation step; with "
            "training.save_strategy=epoch the two schedules differ: use training.save_strategy=steps"
        )
    if training.load_best and training.save_every_steps % every:
        raise ConfigError(
            f"training.load_best=true can only return to saved steps: training.save_every_steps="
            f"{training.save_every_steps} must be a multiple of training.eval_every_steps={every}, e.g. "
            f"training.save_every_steps={every}"
        )
    if training.label_smoothing_factor and objective in PAIR_OBJECTIVES:
        raise ConfigError(
            f"training.label_smoothing_factor applies to token losses (sft, pretrain); objective={objective} "
            "has none: drop it (DPO's robust loss takes noisy labels: objective.loss_type=robust)"
        )


def check_reward(cfg) -> None:
    """A reward model outputs one score per sequence: no LM head to answer questions or continue an adapter."""
    method = cfg.peft_method.method
    if method not in REWARD_METHODS:
        raise ConfigError(
            f"objective=reward trains a new score head beside the adapter, which peft_method={method} "
            f"cannot hold here; use peft_method=lora (or one of {list(REWARD_METHODS)})"
        )
    if cfg.benchmark.members or cfg.retention.get("kind", "none") != "none":
        raise ConfigError(
            "objective=reward makes a scorer, not a model that answers: benchmarks and the retention check "
            "have nothing to read; use benchmark=none retention=none (pairwise accuracy is reported instead)"
        )
    if cfg.get("init_from"):
        raise ConfigError(
            "objective=reward starts a sequence-classification model; init_from= loads a causal-LM adapter "
            "into it, which does not fit: drop init_from"
        )
    if cfg.training.eval_metric == "mc_acc":
        raise ConfigError(
            "objective=reward has no multiple-choice answers to score during training: use "
            "training.eval_metric=loss (or auto)"
        )


def check_online(cfg) -> None:
    """GRPO rewards sampled answers with the multiple-choice scorer, in groups that fill whole batches."""
    objective, name = cfg.objective, cfg.objective.name
    if cfg.task.scorer != "multiple_choice":
        raise ConfigError(
            f"objective={name} rewards the option letter an answer chooses; task={cfg.task.name} is scored by "
            f"{cfg.task.scorer}, which has no such reward here: use task=medical_qa with multiple-choice data"
        )
    if objective.num_generations < 2:
        raise ConfigError(
            f"objective.num_generations={objective.num_generations}: {name} compares each answer with the others "
            "sampled for its question, so it needs at least 2: objective.num_generations=4"
        )
    if cfg.training.batch_size % objective.num_generations:
        raise ConfigError(
            f"training.batch_size={cfg.training.batch_size} must be a multiple of objective.num_generations="
            f"{objective.num_generations} (a batch holds whole groups of answers to one question), e.g. "
            f"training.batch_size={objective.num_generations * max(1, cfg.training.batch_size // objective.num_generations)}"
        )
    if cfg.dataset.kind == "builtin" and "mc" not in cfg.dataset.get("train_formats", ()):
        raise ConfigError(
            f"objective={name} trains on multiple-choice questions and dataset=builtin trains free-text pairs "
            "by default: add dataset.train_formats=[mc]"
        )
    if cfg.training.eval_every_steps > 0:
        raise ConfigError(
            f"objective={name} has no evaluation during training here (its trainer would sample answers for every "
            "validation question): drop training.eval_every_steps; the validation split is scored after training"
        )
