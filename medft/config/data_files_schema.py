"""dataset=files: which of the user's columns hold each canonical field, and which hub split plays each role.

Kept apart from medft/config/schema.py so the dataset schema stays readable; both are the structured
schema Hydra checks at compose time, so `dataset.columns.questoin=...` fails with the valid keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class ColumnsConfig:
    """Canonical field -> the column that holds it (None: a column of the field's own name)."""

    question: str | None = None  # None: `question`, else `prompt`
    # one column (a list, or an object keyed A, B, ...) or a list of columns, one option each: [opa, opb, opc, opd]
    options: Any = None
    answer: str | None = None  # an index (0-based), a letter or an option's text; free text without options
    context: str | None = None  # shown before the question (an abstract, a note)
    response: str | None = None  # free-text target when there is no `answer` column
    messages: str | None = None  # a chat: [{"role", "content"}, ...], the last assistant turn is the target


@dataclass
class HubSplitsConfig:
    """The hub dataset's split name for each role; None: carved from train by the fractions."""

    train: str = "train"
    validation: str | None = "validation"
    test: str | None = None
