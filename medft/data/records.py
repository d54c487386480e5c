"""The one canonical record every dataset loader produces and every consumer reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LETTERS = "ABCDEFGHIJ"


@dataclass(frozen=True)
class Record:
    """A question with either options (multiple choice) or a free-text answer.

    `answer` is always the target text; for multiple choice it equals
    `options[answer_index]`. `history` holds earlier chat turns as (role, content) pairs for
    multi-turn data; `metadata` carries provenance (category, template, split, source line).
    """

    question: str
    answer: str
    options: tuple[str, ...] = ()
    answer_index: int | None = None
    context: str = ""
    history: tuple[tuple[str, str], ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.options:
            if self.answer_index is None or not 0 <= self.answer_index < len(self.options):
                raise ValueError(f"answer_index {self.answer_index} outside {len(self.options)} options")
            if self.options[self.answer_index] != self.answer:
                raise ValueError("answer must equal options[answer_index]")
            if len(self.options) > len(LETTERS):
                raise ValueError(f"at most {len(LETTERS)} options are supported")

    @property
    def is_multiple_choice(self) -> bool:
        return bool(self.options)

    @property
    def answer_letter(self) -> str:
        assert self.answer_index is not None
        return LETTERS[self.answer_index]
