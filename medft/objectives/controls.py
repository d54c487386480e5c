"""Training controls shared by every objective: evaluation every N steps, early stopping, best checkpoint.

All three are transformers' own machinery (eval_strategy="steps", EarlyStoppingCallback,
load_best_model_at_end + metric_for_best_model). What medft adds is the metric: at each
evaluation `ValidationScorer` scores the validation split's multiple-choice questions with
medft's scorer (the one metrics.json reports) and puts `eval_mc_acc` into the trainer's metrics
dict before the trainer compares it. Where the validation split has no multiple-choice items
(plain text, preference JSONL) the trainer's own eval loss is the metric.
"""

from __future__ import annotations

import logging

from medft.evaluation.run_sets import evaluate_sets
from medft.runtime.trainer_callback import TrainerCallback

log = logging.getLogger(__name__)


def resolve_eval_metric(training_cfg, has_mc_validation: bool) -> str:
    metric = training_cfg.get("eval_metric", "auto")
    if metric == "auto":
        return "mc_acc" if has_mc_validation else "loss"
    return metric


def control_callbacks(cfg, tokenizer, validation_records) -> list:
    """ValidationScorer (when the metric is mc_acc) then EarlyStoppingCallback (when patience > 0).

    Order matters: the scorer must add eval_mc_acc before early stopping reads it.
    """
    training = cfg.training
    if (training.get("eval_every_steps", 0) or 0) <= 0:
        return []
    callbacks = []
    if training.eval_metric == "mc_acc":
        callbacks.append(ValidationScorer(cfg, tokenizer, validation_records))
    if training.early_stopping_patience > 0:
        from transformers import EarlyStoppingCallback

        callbacks.append(EarlyStoppingCallback(early_stopping_patience=training.early_stopping_patience))
    return callbacks


class ValidationScorer(TrainerCallback):
    """At each trainer evaluation, medft's multiple-choice accuracy on the validation split."""

    def __init__(self, cfg, tokenizer, records):
        self.cfg, self.tokenizer, self.records = cfg, tokenizer, records
        self.history: list[dict] = []  # {"step", "mc_acc"} per evaluation, for metrics.json

    def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):
        was_training = model.training
        model.eval()
        summary, _ = evaluate_sets(
            model, self.tokenizer, {"validation": self.records}, self.cfg, f"step {state.global_step}"
        )
        if was_training:
            model.train()
        acc = summary["validation"]["acc"]
        if metrics is not None:
            metrics["eval_mc_acc"] = acc  # read next by EarlyStoppingCallback and the best-model check
        self.history.append({"step": state.global_step, "mc_acc": acc})
        state.log_history.append({"step": state.global_step, "eval_mc_acc": acc})


def best_checkpoint_summary(state, callbacks) -> dict:
    """What metrics.json records about evaluation during training (empty when there was none)."""
    summary = {}
    history = [entry for cb in callbacks if isinstance(cb, ValidationScorer) for entry in cb.history]
    if history:
        summary["eval_history"] = history
    losses = [{"step": e["step"], "loss": e["eval_loss"]} for e in state.log_history if "eval_loss" in e]
    if losses:
        summary["eval_loss_history"] = losses
    if state.best_model_checkpoint:
        summary["best_checkpoint"] = state.best_model_checkpoint
        summary["best_step"] = int(str(state.best_model_checkpoint).rstrip("/").split("-")[-1])
        summary["best_metric"] = state.best_metric
    return summary
