"""`dataset.balance`: equal answer classes in the training split, by resampling its records.

A skewed label prior is the cheapest thing for a small model to learn: trained on PubMedQA's
train pool (yes 55%, no 34%, maybe 11%), SmolLM2-135M answered "yes" to 491 of 500 test
questions. Resampling the training split so every answer class is equally frequent takes that
shortcut away. Only the train split changes; validation and test keep their natural shares, so
the scores still mean what they say.

- none: the records as they are.
- oversample: every class repeated up to the largest class's count (more examples per epoch).
- resample: the same number of records, an equal share per class: rare classes are repeated,
  common ones subsampled, so a fixed step budget costs what it did (what the presets use).

Within a class, records are drawn in seeded shuffled rounds: each appears once before any
appears twice. A class is the answer option (answer_index) for multiple choice, the answer
text otherwise. Hand-written (~40 lines): imbalanced-learn's samplers take feature matrices,
not records, and would pull scikit-learn in for a shuffle.
"""

from __future__ import annotations

import random
from collections import defaultdict

from medft.config.errors import UserError
from medft.data.records import Record

BALANCE_MODES = ("none", "oversample", "resample")


def answer_class(record: Record):
    return record.answer_index if record.is_multiple_choice else record.answer.strip()


def _rounds(group: list[Record], count: int, rng: random.Random) -> list[Record]:
    """`count` records from `group`: whole shuffled passes, then part of one more."""
    drawn = []
    while len(drawn) < count:
        shuffled = group[:]
        rng.shuffle(shuffled)
        drawn += shuffled[: count - len(drawn)]
    return drawn


def class_counts(records: list[Record]) -> dict:
    counts: dict = defaultdict(int)
    for record in records:
        counts[answer_class(record)] += 1
    return dict(counts)


def balance_records(records: list[Record], mode: str, seed: int) -> list[Record]:
    """The training records with equal answer classes (`mode` as in the module docstring)."""
    if mode not in BALANCE_MODES:
        raise UserError(f"dataset.balance={mode!r}: use one of {list(BALANCE_MODES)}")
    if mode == "none" or not records:
        return records
    groups: dict = defaultdict(list)
    for record in records:
        groups[answer_class(record)].append(record)
    if len(groups) < 2:
        return records
    free_text = not any(r.is_multiple_choice for r in records)
    if free_text and len(groups) > len(records) // 2:  # answers nearly all unique: nothing to balance
        raise UserError(
            f"dataset.balance={mode}: the {len(records)} training records have {len(groups)} distinct "
            "answers, so there are no classes to balance; use dataset.balance=none"
        )
    rng = random.Random(seed)
    keys = sorted(groups, key=str)
    if mode == "oversample":
        sizes = {k: max(len(g) for g in groups.values()) for k in keys}
    else:  # resample: the same total, split as evenly as it divides (the first classes get the remainder)
        share, extra = divmod(len(records), len(keys))
        sizes = {k: share + (i < extra) for i, k in enumerate(keys)}
    balanced = [r for k in keys for r in _rounds(groups[k], sizes[k], rng)]
    rng.shuffle(balanced)
    return balanced
