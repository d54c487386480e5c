"""The trainer's numbers as log lines: one per logging step (loss, learning rate, gradient norm,
tokens/s) and one per evaluation, through the `medft` loggers, so they reach train.log as well as the
console. transformers itself only prints its log dicts to stdout (PrinterCallback, or the progress
bar's write), which a log file never sees; `route_trainer_output` takes those two out.
"""

from __future__ import annotations

import logging
import math
import time

from medft.runtime.trainer_callback import TrainerCallback

log = logging.getLogger(__name__)

SHOWN_FIRST = ("loss", "learning_rate", "grad_norm")  # then the objective's own numbers, in its order
LABELS = {"learning_rate": "lr", "grad_norm": "grad norm"}
# transformers 5 adds its running totals to every step's logs; tokens/s is computed here per interval.
LEFT_OUT = {"epoch", "total_flos", "num_input_tokens_seen", "train_runtime", "train_tokens_per_second"}


def _number(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if math.isfinite(value) and value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.2e}"
    return f"{value:.4g}"


class TrainingLogLines(TrainerCallback):
    """`step 5/160: loss 2.3412, lr 2.0e-04, grad norm 0.81, ... 412 tokens/s` at every logging step."""

    def __init__(self):
        self._since = (time.time(), 0)  # (time, tokens seen) at the previous line

    def on_train_begin(self, args, state, control, **kwargs):
        # A resumed trainer has restored its state by now: its token count starts at the checkpoint's.
        self._since = (time.time(), state.num_input_tokens_seen)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or not state.is_world_process_zero:
            return
        where = f"step {state.global_step}/{state.max_steps}"
        if "train_loss" in logs:  # the trainer's closing summary
            log.info(
                "%s: training done in %.1f s, mean loss %s",
                where,
                logs["train_runtime"],
                _number(logs.get("train_loss")),
            )
        elif any(key.startswith("eval_") for key in logs):
            shown = {
                k: v for k, v in logs.items() if k.startswith("eval_") and "runtime" not in k and "per_second" not in k
            }
            log.info("%s eval: %s", where, ", ".join(f"{k} {_number(v)}" for k, v in shown.items()))
        else:
            log.info("%s: %s", where, self._training_line(logs, state))

    def _training_line(self, logs: dict, state) -> str:
        keys = [k for k in SHOWN_FIRST if k in logs] + [k for k in logs if k not in SHOWN_FIRST and k not in LEFT_OUT]
        parts = [
            f"{LABELS.get(k, k)} {_number(logs[k]) if k != 'learning_rate' else f'{logs[k]:.2e}'}" for k in keys
        ]  # a learning rate always in one form: it spans decades over a schedule
        now, tokens = time.time(), state.num_input_tokens_seen
        then, tokens_then = self._since
        if tokens > tokens_then and now > then:
            parts.append(f"{(tokens - tokens_then) / (now - then):.0f} tokens/s")
        self._since = (now, tokens)
        return ", ".join(parts)


def route_trainer_output(trainer, show_bar: bool) -> None:
    """Log lines replace transformers' printed log dicts; the step bar stays only when bars are on.
    (In a notebook transformers draws its own table instead, which is left as it is.)"""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    class StepBar(ProgressCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            pass  # TrainingLogLines logs these numbers; the bar only counts steps

    trainer.remove_callback(PrinterCallback)
    if trainer.pop_callback(ProgressCallback) is not None and show_bar:
        trainer.add_callback(StepBar())
