"""A run that would cut its training records refuses before the model loads, naming a limit that fits.

Truncation keeps the answer and drops the start of the prompt (medft.prompts.encode): a few
outliers lose a sentence of context, but a limit below most records trains answers to questions
the model never sees (PubMedQA at 256 tokens: 91.7% of its records lose their abstract). Checked
for the objectives that cut (sft, and pretrain without packing, which keeps a document's start);
packed rows split a long example instead of cutting it, and preference pairs fit their prompt
to the answers (medft.objectives.preference_data).
"""

from __future__ import annotations

import logging
import math
import random

from medft.config.derived import packing_enabled
from medft.config.errors import ConfigError
from medft.models.seq2seq import is_seq2seq
from medft.objectives.pretrain import document_text
from medft.objectives.sft_seq2seq import encode_pair
from medft.prompts.task_prompts import encode_for_task, with_instruction

log = logging.getLogger(__name__)

SAMPLE = 20_000  # records tokenized for the check: the share is estimated on a seeded sample of larger sets
ROUND_TO = 64  # suggested limits are rounded up to a multiple of this (kernels like multiples of 8; 64 reads well)
UNLIMITED = 10**9


def _round_up(tokens: int) -> int:
    return -(-tokens // ROUND_TO) * ROUND_TO


def _lengths(cfg, records, tokenizer) -> list[int]:
    """The untruncated token length of each training record, as the objective encodes it. (Every record
    keeps a target token: truncation keeps the answer, and training.max_seq_len >= 2 leaves it context.)"""
    if cfg.objective.name == "pretrain":
        eos = 1 if tokenizer.eos_token_id is not None else 0
        return [
            len(tokenizer(document_text(tokenizer, r, cfg.model.system_prompt), add_special_tokens=False)["input_ids"])
            + eos
            for r in records
        ]
    if is_seq2seq(cfg.model):  # encoder input and decoder labels are cut separately: the longer side counts
        pairs = (
            encode_pair(tokenizer, with_instruction(r, cfg.task), cfg.model.system_prompt, UNLIMITED) for r in records
        )
        return [max(len(source), len(target)) for source, target, _ in pairs]
    return [len(encode_for_task(tokenizer, r, cfg.model.system_prompt, UNLIMITED, cfg.task).input_ids) for r in records]


def check_truncation(cfg, records, tokenizer) -> int:
    """The number of training records longer than training.max_seq_len; refuses when that share is above
    training.max_truncated_fraction, naming limits that keep 95% and all of them whole."""
    if cfg.objective.name not in ("sft", "pretrain") or packing_enabled(cfg) or not records:
        return 0
    limit, allowed = cfg.training.max_seq_len, cfg.training.max_truncated_fraction
    sampled = len(records) > SAMPLE
    if sampled:
        records = random.Random(cfg.dataset.split_seed).sample(list(records), SAMPLE)
    ordered = sorted(_lengths(cfg, records, tokenizer))
    total = len(ordered)
    over = sum(n > limit for n in ordered)
    ceiling = cfg.model.max_seq_len
    keeps_95 = min(_round_up(ordered[math.ceil(0.95 * total) - 1]), ceiling)
    keeps_all = min(_round_up(ordered[-1]), ceiling)
    fits = f"training.max_seq_len={keeps_all} (keeps all {'sampled ' if sampled else ''}{total} whole)"
    if keeps_95 < keeps_all:
        fits = f"training.max_seq_len={keeps_95} (keeps 95% whole) or {fits}"
    if keeps_all == ceiling and ordered[-1] > ceiling:
        fits += f"; model={cfg.model.name} holds {ceiling} tokens at most"
    if over:
        log.info(
            "%d of %d training records (%.1f%%) exceed training.max_seq_len=%d and lose the start of their "
            "prompt (allowed: training.max_truncated_fraction=%g)",
            over,
            total,
            100 * over / total,
            limit,
            allowed,
        )
    if over / total > allowed:
        accept = math.ceil(100 * over / total) / 100
        raise ConfigError(
            f"training.max_seq_len={limit} truncates {over} of {total} {'sampled ' if sampled else ''}training records "
            f"({over / total:.1%}), more than "
            f"training.max_truncated_fraction={allowed:g}: each loses the start of its prompt (the question, the "
            f"abstract) and trains an answer to text the model never sees. Use {fits}, or accept the cut with "
            f"training.max_truncated_fraction={accept:g}"
        )
    return over
