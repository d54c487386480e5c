"""A gold entity span and the target text the `ner` task trains on (one `<type>: <mention>` line each).

The format and why it is a plain line format are described in medft/evaluation/ner.py, which
parses a model's output back into these spans and scores them.
"""

from __future__ import annotations

from dataclasses import dataclass

NO_ENTITY = "none"


@dataclass(frozen=True)
class Entity:
    start: int  # character offset of the first character
    end: int  # exclusive: text[start:end] is the mention
    type: str
    text: str


def format_entities(entities: list[Entity]) -> str:
    """The target text for a list of entities (see the module docstring for the format)."""
    if not entities:
        return NO_ENTITY
    ordered = sorted(entities, key=lambda e: (e.start, -(e.end - e.start), e.type))
    return "\n".join(f"{e.type}: {e.text}" for e in ordered)
