"""What a record's "label" is, for the data report and for rare-class augmentation."""

from __future__ import annotations

from medft.data.records import Record

# Metadata keys that name a class of question, in the order `auto` tries them.
LABEL_KEYS = ("qtype", "category", "subject", "label")
FEW_ANSWERS = 10  # at most this many distinct answers: the answer itself is the label (yes/no/maybe)


def label_key(records: list[Record], label_by: str = "auto") -> str:
    """The field labels come from: `label_by` itself, or (auto) the first metadata key the records
    carry, else `answer` when answers are few (PubMedQA), else `answer_letter` (MedMCQA)."""
    if label_by != "auto":
        return label_by
    for key in LABEL_KEYS:
        if records and all(r.metadata.get(key) is not None for r in records[:50]):
            return key
    if len({r.answer for r in records}) <= FEW_ANSWERS:
        return "answer"
    return "answer_letter" if records and all(r.is_multiple_choice for r in records[:50]) else "none"


def label_of(record: Record, key: str) -> str:
    if key == "none":
        return "all"
    if key == "answer_letter":
        return record.answer_letter if record.is_multiple_choice else "free text"
    value = getattr(record, key, None) if key in ("answer", "question", "context") else None
    if value is None:
        value = record.metadata.get(key)
    return str(value)
