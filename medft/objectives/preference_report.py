"""metrics.json's held-out preference blocks for the pair objectives (DPO, KTO, ORPO, reward):
the test split's pairs scored before training and again after, with margin and accuracy."""

from __future__ import annotations

import logging

from medft.config.choices import PAIR_OBJECTIVES
from medft.config.derived import is_reward_model
from medft.objectives import preference_eval, reward
from medft.objectives.preference_data import split_pairs

log = logging.getLogger(__name__)


def _pair_scores(model, tokenizer, pairs, cfg):
    """Per held-out pair: the reward model's two scores (objective=reward), else the policy's two log-probs."""
    if is_reward_model(cfg):
        return reward.pair_rewards(model, tokenizer, pairs, cfg)

    return preference_eval.pair_logprobs(model, tokenizer, pairs, cfg)


def preference_before(model, tokenizer, splits, cfg):
    """The held-out (test split) pairs of a pair objective and their scores before training."""

    if cfg.objective.name not in PAIR_OBJECTIVES:
        return [], []

    pairs = split_pairs(splits.get("test", []), cfg)[: cfg.dataset.eval_limit or None]
    if not pairs:
        log.warning("No held-out preference pairs in the test split: reward margin and accuracy are not reported")
        return [], []
    return pairs, _pair_scores(model, tokenizer, pairs, cfg)


def _reward_model_after(model, tokenizer, pairs, before, cfg) -> dict:
    """metrics.json's `reward_model` block: held-out pairwise accuracy and mean margin before and after."""

    result = {
        "split": "test",
        "before": reward.summarize(before),
        "after": reward.summarize(_pair_scores(model, tokenizer, pairs, cfg)),
    }
    for phase in ("before", "after"):
        log.info(
            "reward model %s (%d held-out pairs): pairwise accuracy %.3f, mean margin %.4f",
            phase,
            result[phase]["n"],
            result[phase]["pairwise_accuracy"],
            result[phase]["reward_margin"],
        )
    return {"reward_model": result}


def preference_after(model, tokenizer, pairs, before, cfg) -> dict:
    """metrics.json's `preference` block: held-out reward margin and accuracy before and after."""
    if not pairs:
        return {}
    if is_reward_model(cfg):
        return _reward_model_after(model, tokenizer, pairs, before, cfg)

    after = _pair_scores(model, tokenizer, pairs, cfg)
    result = {
        "split": "test",
        "before": preference_eval.summarize(before, before, cfg.objective.beta),
        "after": preference_eval.summarize(before, after, cfg.objective.beta),
    }
    for phase in ("before", "after"):
        log.info(
            "preference %s (%d held-out pairs): reward margin %.4f, reward accuracy %.3f, logp accuracy %.3f",
            phase,
            result[phase]["n"],
            result[phase]["reward_margin"],
            result[phase]["reward_accuracy"],
            result[phase]["logp_accuracy"],
        )
    return {"preference": result}
