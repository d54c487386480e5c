"""Cross-group rules for objectives, datasets and training controls (called by config.validate)."""

from __future__ import annotations

from pathlib import Path

from medft.models.fast_paths import installed
from medft.objectives import OBJECTIVES, PAIR_OBJECTIVES

TRAINERS = {"dpo": "trl", "kto": "trl", "orpo": "trl.experimental.orpo"}  # where TRL 1.16 keeps each trainer


def check_objective(cfg, error) -> None:
    """Raise `error` (validate's ConfigError) naming the override that fixes a wrong combination."""
    objective, kind = cfg.objective.name, cfg.dataset.kind
    if objective not in OBJECTIVES:
        raise error(f"objective={objective!r} is not one of {list(OBJECTIVES)}")
    module = TRAINERS.get(objective)
    if module and not installed(module):
        raise error(f"objective={objective} needs {module} (its trainer), which the installed TRL lacks; "
                    "use objective=dpo or upgrade trl")
    if kind == "text" and objective != "pretrain":
        raise error(f"dataset=text is plain text without answers: add objective=pretrain (objective={objective} "
                    "needs questions or pairs)")
    if kind == "preference_jsonl" and objective not in PAIR_OBJECTIVES:
        raise error(f"dataset=preference_jsonl holds (prompt, chosen, rejected) pairs: add objective=dpo "
                    f"(or orpo, kto, reward); objective={objective} cannot use the rejected answers")
    if objective == "reward":
        check_reward(cfg, error)
    if kind in ("preference_jsonl", "text"):
        path = cfg.dataset.path
        if not path or not Path(str(path)).expanduser().exists():
            raise error(f"dataset.path: no such file or folder: {path}. Give your data: dataset.path=/path/to/it")
    training = cfg.training
    if training.eval_metric not in ("auto", "mc_acc", "loss"):
        raise error(f"training.eval_metric={training.eval_metric!r} is not one of ['auto', 'mc_acc', 'loss']")
    every = training.eval_every_steps
    if (training.early_stopping_patience > 0 or training.load_best) and every <= 0:
        raise error("training.early_stopping_patience and training.load_best compare evaluations during training: "
                    "add training.eval_every_steps=<N>")
    if training.load_best and training.save_every_steps % every:
        raise error(f"training.load_best=true can only return to saved steps: training.save_every_steps="
                    f"{training.save_every_steps} must be a multiple of training.eval_every_steps={every}, e.g. "
                    f"training.save_every_steps={every}")
    if training.label_smoothing_factor and objective in PAIR_OBJECTIVES:
        raise error(f"training.label_smoothing_factor applies to token losses (sft, pretrain); objective={objective} "
                    "has none: drop it (DPO's robust loss takes noisy labels: objective.loss_type=robust)")


REWARD_METHODS = ("lora", "dora", "rslora", "pissa", "olora", "lora_plus", "full")  # LoraConfig's SEQ_CLS head, or every weight


def check_reward(cfg, error) -> None:
    """A reward model outputs one score per sequence: no LM head to answer questions or continue an adapter."""
    method = cfg.peft_method.method
    if method not in REWARD_METHODS:
        raise error(f"objective=reward trains a new score head beside the adapter, which peft_method={method} "
                    f"cannot hold here; use peft_method=lora (or one of {list(REWARD_METHODS)})")
    if cfg.benchmark.members or cfg.retention.get("kind", "none") != "none":
        raise error("objective=reward makes a scorer, not a model that answers: benchmarks and the retention check "
                    "have nothing to read; use benchmark=none retention=none (pairwise accuracy is reported instead)")
    if cfg.get("init_from"):
        raise error("objective=reward starts a sequence-classification model; init_from= loads a causal-LM adapter "
                    "into it, which does not fit: drop init_from")
    if cfg.training.eval_metric == "mc_acc":
        raise error("objective=reward has no multiple-choice answers to score during training: use "
                    "training.eval_metric=loss (or auto)")

