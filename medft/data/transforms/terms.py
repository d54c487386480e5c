"""The project's term table (terms.csv: preferred term, entity type, variants), shared by the
terminology normaliser (variant -> preferred) and the augmenter (synonym swap, entity masking)."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

TABLE = Path(__file__).with_name("terms.csv")


@dataclass(frozen=True)
class TermGroup:
    preferred: str
    type: str  # DRUG | CONDITION | SYMPTOM: what entity masking writes, e.g. [DRUG]
    variants: tuple[str, ...]

    @property
    def all_terms(self) -> tuple[str, ...]:
        return (self.preferred, *self.variants)


@lru_cache(maxsize=1)
def groups() -> tuple[TermGroup, ...]:
    with open(TABLE, newline="", encoding="utf-8") as handle:
        return tuple(
            TermGroup(row["preferred"], row["type"], tuple(v for v in row["variants"].split("|") if v))
            for row in csv.DictReader(handle)
        )


def term_pattern(term: str) -> re.Pattern:
    """A whole-word, case-insensitive match of a (possibly multi-word) term."""
    return re.compile(r"(?<![\w-])" + re.escape(term).replace(r"\ ", r"\s+") + r"(?![\w-])", re.IGNORECASE)


@lru_cache(maxsize=1)
def _all_patterns() -> tuple[tuple[re.Pattern, str, TermGroup], ...]:
    # Longest terms first, so "Bayer aspirin" is one mention, not "aspirin" inside it.
    entries = [(term, group) for group in groups() for term in group.all_terms]
    entries.sort(key=lambda e: -len(e[0]))
    return tuple((term_pattern(term), term, group) for term, group in entries)


def find_mentions(text: str) -> list[tuple[int, int, str, TermGroup]]:
    """Non-overlapping (start, end, term, group) of every table term in `text`, by position."""
    found, taken = [], []
    for pattern, term, group in _all_patterns():
        for match in pattern.finditer(text):
            if any(match.start() < e and s < match.end() for s, e in taken):
                continue
            found.append((match.start(), match.end(), term, group))
            taken.append(match.span())
    return sorted(found, key=lambda f: f[0])
