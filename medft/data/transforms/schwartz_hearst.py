"""In-text abbreviation definitions, "long form (SF)", by the Schwartz-Hearst algorithm.

Schwartz & Hearst (2003), "A simple algorithm for identifying abbreviation definitions in
biomedical text", as scispacy's AbbreviationDetector implements it. Written out here (about 50
lines) because scispacy needs spaCy, scipy and nmslib at install time for these few lines, and
a spaCy pipeline to call them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# "(SF)": 1-10 characters, at most two words, starting with a letter or digit.
_PAREN = re.compile(r"\(([^()]{1,10})\)")


@dataclass(frozen=True)
class Definition:
    short: str
    long: str
    start: int  # offsets of "(SF)" in the text: that occurrence is the definition itself
    end: int


def _valid_short_form(candidate: str) -> bool:
    # No comparison signs: "(P=0.05)", "(n<10)" are statistics, not abbreviations.
    return (
        len(candidate) >= 2
        and len(candidate.split()) <= 2
        and candidate[0].isalnum()
        and any(c.isalpha() for c in candidate)
        and not any(c in "=<>" for c in candidate)
    )


def best_long_form(short: str, long_candidate: str) -> str | None:
    """The shortest tail of `long_candidate` holding the short form's characters in order, the
    first one at a word start (the paper's Figure 2)."""
    s_index, l_index = len(short) - 1, len(long_candidate) - 1
    while s_index >= 0:
        char = short[s_index].lower()
        if not char.isalnum():
            s_index -= 1
            continue
        while l_index >= 0 and (
            long_candidate[l_index].lower() != char
            or (s_index == 0 and l_index > 0 and long_candidate[l_index - 1].isalnum())
        ):
            l_index -= 1
        if l_index < 0:
            return None
        l_index -= 1
        s_index -= 1
    start = long_candidate.rfind(" ", 0, l_index + 1) + 1
    return long_candidate[start:].strip()


def find_definitions(text: str) -> list[Definition]:
    definitions = []
    for match in _PAREN.finditer(text):
        short = match.group(1).strip()
        if not _valid_short_form(short):
            continue
        # At most min(|SF| + 5, 2 |SF|) words before the parenthesis, within the sentence.
        before = re.split(r"[.;:!?]\s", text[: match.start()])[-1].rstrip()
        words = before.split()
        window = min(len(short) + 5, 2 * len(short))
        candidate = " ".join(words[-window:])
        long = best_long_form(short, candidate)
        long = long.lstrip("([{ ") if long else long  # "(odds ratio (OR)": the outer bracket is not part of it
        if (
            long
            and "(" not in long
            and ")" not in long
            and len(long) > len(short)
            and short.lower() not in long.lower().split()
            and len(long.split()) <= window
        ):
            definitions.append(Definition(short, long, match.start(), match.end()))
    return definitions
