"""The forgetting check (`retention=`): a general, non-medical multiple-choice set scored before and
after training with the same scorer as the dataset's own test set, so the change in general
knowledge sits next to the medical gain in metrics.json (`paired.retention`, `paired.test_vs_retention`).

Two sources: `general_knowledge.csv`, written for this project (190 four-option questions on
geography, physics, chemistry, biology outside medicine, history, mathematics, literature,
astronomy, the arts, technology; one textbook answer each), which works offline; and MMLU's
non-medical subjects from the user's own files (or the hub), read by medft/benchmarks/mmlu.py.
"""

from __future__ import annotations

import csv
from importlib import resources
from itertools import zip_longest

from medft.benchmarks.mmlu import load
from medft.config.errors import UserError
from medft.data.records import Record
from medft.evaluation.significance import gain_difference

SET_NAME = "retention"  # the key in eval_before / eval_after / paired
GENERAL_KNOWLEDGE_FILE = "general_knowledge.csv"
FIELDS = ("subject", "question", "answer", "distractor_1", "distractor_2", "distractor_3")


class RetentionConfigError(UserError, ValueError):
    """A retention= choice that cannot be loaded; the message names the override."""


def load_general_knowledge() -> list[Record]:
    """The shipped set. The file lists the answer first; here it moves to position i mod 4, so
    each letter is correct equally often and a position bias cannot pass for knowledge."""
    records = []
    source = resources.files(__package__).joinpath(GENERAL_KNOWLEDGE_FILE)
    with source.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != FIELDS:
            raise ValueError(f"{GENERAL_KNOWLEDGE_FILE}: header {reader.fieldnames}, expected {list(FIELDS)}")
        for line_no, row in enumerate(reader, start=2):
            values = [(row.get(k) or "").strip() for k in FIELDS]
            if not all(values) or len(set(values[2:])) != 4:
                raise ValueError(f"{GENERAL_KNOWLEDGE_FILE}:{line_no}: needs every field and 4 different options")
            subject, question, answer, *distractors = values
            position = len(records) % 4
            options = distractors[:position] + [answer] + distractors[position:]
            records.append(
                Record(
                    question=question,
                    answer=answer,
                    options=tuple(options),
                    answer_index=position,
                    metadata={"id": f"gk-{len(records)}", "subject": subject, "line": line_no},
                )
            )
    return records


def _interleave(records: list[Record]) -> list[Record]:
    """Round-robin over subjects, so that a `limit` keeps every subject rather than the first few."""
    by_subject: dict[str, list[Record]] = {}
    for record in records:
        by_subject.setdefault(record.metadata.get("subject", ""), []).append(record)
    return [r for group in zip_longest(*by_subject.values()) for r in group if r is not None]


def load_retention(retention_cfg) -> list[Record]:
    if retention_cfg.kind == "general_knowledge":
        records = load_general_knowledge()
    elif retention_cfg.kind == "mmlu":
        if not retention_cfg.subjects:
            raise RetentionConfigError(
                "retention.subjects is empty: list MMLU subjects, e.g. "
                "retention.subjects=[astronomy,high_school_geography]"
            )
        records = load(retention_cfg.path, split=retention_cfg.split, subjects=tuple(retention_cfg.subjects)).records
    else:
        raise RetentionConfigError(f"retention.kind={retention_cfg.kind!r}: use none, general_knowledge or mmlu")
    records = _interleave(records)
    return records[: retention_cfg.limit] if retention_cfg.limit else records


def retention_sets(retention_cfg) -> dict[str, list[Record]]:
    """{"retention": records} to score with the dataset's own sets, or {} for retention=none."""
    if retention_cfg is None or retention_cfg.kind == "none":
        return {}
    return {SET_NAME: load_retention(retention_cfg)}


def test_vs_retention(paired: dict) -> dict | None:
    """The medical test gain minus the retention change, with a 95% interval: how much more the
    tuning added on its task than it cost (or added) in general knowledge."""
    if "test" not in paired or SET_NAME not in paired:
        return None

    diff = gain_difference(paired["test"], paired[SET_NAME])
    return {
        "test_gain": diff["gain"],
        "retention_change": diff["control_gain"],
        "difference": diff["difference"],
        "difference_ci95": diff["difference_ci95"],
    }
