"""Preference pairs (prompt, chosen, rejected) for dpo / orpo / kto, from two sources:

- a JSONL file of `{"prompt", "chosen", "rejected"}` lines (`dataset=preference_jsonl`), read into
  canonical Records whose answer is the chosen text and whose metadata holds the rejected one;
- any multiple-choice Record (builtin, MedMCQA, MedQA, a user's JSONL): chosen = the correct
  option (plus the record's explanation where it has one, e.g. MedMCQA `exp`), rejected = one
  distractor drawn with a per-question seed, so adding a question never changes another's pair.

A pair keeps its Record, so its prompt is rendered by `medft.prompts` exactly as SFT renders it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from dataclasses import dataclass
from pathlib import Path

from medft import prompts
from medft.config.errors import UserError
from medft.data.builtin import build_builtin_splits
from medft.data.jsonl import DataFormatError, read_json_lines
from medft.data.records import Record

log = logging.getLogger(__name__)

PAIR_SHAPE = '{"prompt": str, "chosen": str, "rejected": str}'


@dataclass(frozen=True)
class PreferencePair:
    record: Record  # the prompt side (question, options, context, history, system)
    chosen: str  # the assistant turn to prefer
    rejected: str  # the assistant turn to avoid


def _fail(path: Path, line_no: int, problem: str) -> DataFormatError:
    return DataFormatError(f"{path}:{line_no}: {problem}. Each line must be {PAIR_SHAPE}.")


def parse_pair_line(obj, path: Path, line_no: int) -> Record:
    if not isinstance(obj, dict):
        raise _fail(path, line_no, f"expected a JSON object, got {type(obj).__name__}")
    bad = [k for k in ("prompt", "chosen", "rejected") if not isinstance(obj.get(k), str) or not obj[k].strip()]
    if bad:
        raise _fail(path, line_no, f"missing, empty or non-string {bad} (keys found: {sorted(obj)})")
    if obj["chosen"].strip() == obj["rejected"].strip():
        raise _fail(path, line_no, "'chosen' and 'rejected' are the same text, so there is nothing to prefer")
    return Record(question=obj["prompt"], answer=obj["chosen"], metadata={"line": line_no, "rejected": obj["rejected"]})


def load_preference_jsonl(path: str | Path) -> list[Record]:
    return read_json_lines(path, parse_pair_line, _fail, "pairs.jsonl", what="pairs")


def _rng(seed: int, record: Record) -> random.Random:
    key = json.dumps([seed, record.question, record.options, record.context], default=str)
    return random.Random(int(hashlib.sha256(key.encode()).hexdigest()[:16], 16))


def pair_from_record(record: Record, seed: int, with_explanation: bool = True) -> PreferencePair | None:
    """The pair of a preference record or a multiple-choice record; None for a free-text record."""

    if "rejected" in record.metadata:
        return PreferencePair(record, record.answer, record.metadata["rejected"])
    if not record.is_multiple_choice:
        return None
    wrong = [i for i in range(len(record.options)) if i != record.answer_index]
    rejected = _rng(seed, record).choice(wrong)
    chosen = prompts.target_text(record)
    explanation = str(record.metadata.get("explanation") or "").strip()
    if with_explanation and explanation:
        chosen = f"{chosen}\n{explanation}"
    return PreferencePair(record, chosen, prompts.target_text(record, rejected))


def pairs(records: list[Record], seed: int, with_explanation: bool = True) -> list[PreferencePair]:
    found = [pair_from_record(r, seed, with_explanation) for r in records]
    return [p for p in found if p is not None]


def training_records(splits: dict[str, list[Record]], dataset_cfg) -> list[Record]:
    """The train split's records that make pairs.

    The builtin data trains SFT on free-text pairs (no distractors); its multiple-choice rendering
    of the same trained facts and train templates is used instead, so `objective=dpo` works on it.
    """
    train = splits["train"]
    if any(r.is_multiple_choice or "rejected" in r.metadata for r in train):
        return train
    if dataset_cfg.kind == "builtin":
        log.info("builtin data: preference pairs from the multiple-choice rendering of the train facts")
        train = build_builtin_splits(dataset_cfg.control_fraction, dataset_cfg.split_seed, ("mc",))["train"]
        return train[: dataset_cfg.max_samples] if dataset_cfg.max_samples is not None else train

    raise UserError(
        f"dataset={dataset_cfg.name} has no multiple-choice or preference records in its train split, "
        "so no preference pairs can be built; use dataset=preference_jsonl dataset.path=<pairs.jsonl> "
        "or a multiple-choice dataset"
    )
