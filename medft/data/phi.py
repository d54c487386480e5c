"""PHI guard: find and replace protected health information in clinical text, by rule.

Hand-written regular expressions, not presidio or scrubadub (see the README's design section):
offline, both reduce to regexes (presidio's name finder needs a spaCy model that cannot be had
here), their phone patterns swallow neighbouring numbers, and neither knows MIMIC's `[** **]`
de-identification marks, record numbers, ages over 89 or names after titles.

Public API, for every loader that reads clinical notes:
    scan(text)  -> list[PhiSpan]     where and what kind, sorted, non-overlapping
    scrub(text) -> str               every span replaced by a typed placeholder such as [DATE]
    count_kinds(spans) -> {kind: n}

A span's text is never logged or reported: callers report kinds, counts and (file, line).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

KINDS = ("MIMIC", "EMAIL", "URL", "FAX", "PHONE", "DATE", "MRN", "ACCOUNT", "ID", "AGE", "NAME")

_MONTH = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
          r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?")
_PHONE = r"(?:\+\d{1,3}[\s.-]?)?(?:\(\d{3}\)\s?|\b\d{3}[\s.-])\d{3}[\s.-]\d{4}\b(?:\s*(?:x|ext\.?)\s*\d{1,5})?"
_TITLE = r"\b(?:Dr|Mr|Mrs|Ms|Miss|Mx|Prof)\.?\s+"
_CAP = r"[A-Z][a-zA-Z'-]+"

# (kind, pattern). A named group `phi` marks the part replaced, so a label ("MRN:", "Dr.")
# stays readable; without it the whole match is replaced. Order settles overlaps between
# equal-length matches: MIMIC marks first (they contain dates and names of their own).
PATTERNS: tuple[tuple[str, str], ...] = (
    ("MIMIC", r"\[\*\*.*?\*\*\]"),
    ("EMAIL", r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"),
    ("URL", r"\b(?:https?://|www\.)[^\s<>\"')\]]+[^\s<>\"')\].,;:!?]"),
    ("FAX", r"\bfax(?:\s*(?:no\.?|number|#))?\s*[:#]?\s*(?P<phi>" + _PHONE + ")"),
    ("PHONE", _PHONE),
    ("DATE", r"(?<![\d.])\d{1,2}([/.-])\d{1,2}\1(?:\d{4}|\d{2})(?![\d.]\d)"),  # one separator: not a range 7.35-7.45
    ("DATE", r"\b\d{4}[/-]\d{1,2}[/-]\d{1,2}\b"),
    ("DATE", r"\b" + _MONTH + r"\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}\b"),
    ("DATE", r"\b\d{1,2}(?:st|nd|rd|th)?\s+" + _MONTH + r",?\s+\d{4}\b"),
    ("DATE", r"\b" + _MONTH + r"\s+\d{1,2}(?:st|nd|rd|th)\b"),
    ("MRN", r"\b(?:MRN|medical\s+record(?:\s+(?:number|no\.?|#))?|record\s+(?:number|no\.?|#)|"
            r"chart\s+(?:number|no\.?|#))\s*[:#]?\s*(?P<phi>[A-Z]{0,3}\d[\d-]{3,}\b)"),
    ("ACCOUNT", r"\b(?:account|acct|billing|policy|member\s+id|insurance\s+id|claim)\.?(?:\s+(?:number|no\.?|#))?"
                r"\s*[:#]?\s*(?P<phi>[A-Z]{0,3}\d[\dA-Z-]{3,}\b)"),
    ("ID", r"\b\d{3}-\d{2}-\d{4}\b"),  # US social security number shape
    ("ID", r"\b(?i:SSN|ID|licen[cs]e|passport|NHS|NPI|DEA)(?i:\s+(?:number|no\.?|#))?\s*[:#]?\s*"
           r"(?P<phi>[A-Z]{0,3}\d[\dA-Z-]{4,}\b)"),
    ("ID", r"\b[A-Z]{1,3}-?\d{6,}\b"),  # letters + many digits: record-like codes
    ("ID", r"\b\d{7,}\b"),  # long bare numbers: identifiers far more often than quantities in notes
    ("AGE", r"\b(?P<phi>9\d|1[0-4]\d)(?:\s*|-)(?:y/?o\b|yo\b|years?(?:\s*|-)old\b|yrs?(?:\s*|-)old\b|year-old\b)"),
    ("AGE", r"\b(?:aged?|age:)\s*(?P<phi>9\d|1[0-4]\d)\b"),
    ("NAME", _TITLE + r"(?P<phi>" + _CAP + r"(?:\s+" + _CAP + r")?)"),
    ("NAME", r"\b(?i:patient\s+name|name|pt\s+name)\s*:\s*(?P<phi>" + _CAP + r"(?:\s+" + _CAP + r"){0,2})"),
)

# NAME and ID are matched case-sensitively (a name starts with a capital, a code is upper case);
# their label words are case-insensitive groups of their own, (?i:...).
_COMPILED = tuple((kind, re.compile(pattern, 0 if kind in ("NAME", "ID") else re.IGNORECASE))
                  for kind, pattern in PATTERNS)

# What a MIMIC mark hides, from the words inside it ([**Known lastname 123**], [**2151-7-16**]).
_MIMIC_TYPES = (("NAME", r"name|doctor|md number"), ("PHONE", r"telephone|phone|fax|pager"),
                ("LOCATION", r"hospital|location|address|street|state|country|university|company|ward"),
                ("ID", r"number|record|serial|job|unit|identifier|ssn"), ("DATE", r"^\s*[\d/-]+\s*$|month|year|date|day"),
                ("AGE", r"age"), ("EMAIL", r"e-?mail"), ("URL", r"url|web"))


@dataclass(frozen=True)
class PhiSpan:
    kind: str  # one of KINDS
    start: int  # character offsets of the replaced part
    end: int
    placeholder: str  # what scrub() writes, e.g. [DATE]; MIMIC marks say what they hide: [NAME]


def _mimic_placeholder(inner: str) -> str:
    for kind, words in _MIMIC_TYPES:
        if re.search(words, inner, re.IGNORECASE):
            return f"[{kind}]"
    return "[PHI]"


def scan(text: str) -> list[PhiSpan]:
    """Every PHI span found, sorted by position; overlapping candidates keep the longest."""
    candidates = []
    for priority, (kind, pattern) in enumerate(_COMPILED):
        for match in pattern.finditer(text):
            group = "phi" if "phi" in pattern.groupindex and match.group("phi") else 0
            start, end = match.span(group)
            # Rank by the whole match (label included): "Fax: 617..." beats the bare phone number.
            candidates.append((match.start(), -(match.end() - match.start()), priority, start, end, kind))
    spans: list[PhiSpan] = []
    taken: list[tuple[int, int]] = []
    for _, _, _, start, end, kind in sorted(candidates):
        if any(start < t_end and t_start < end for t_start, t_end in taken):
            continue
        placeholder = _mimic_placeholder(text[start + 3:end - 3]) if kind == "MIMIC" else f"[{kind}]"
        spans.append(PhiSpan(kind, start, end, placeholder))
        taken.append((start, end))
    return sorted(spans, key=lambda s: s.start)


def scrub(text: str, spans: list[PhiSpan] | None = None) -> str:
    """`text` with every PHI span replaced by its typed placeholder."""
    pieces, last = [], 0
    for span in spans if spans is not None else scan(text):
        pieces += [text[last:span.start], span.placeholder]
        last = span.end
    return "".join(pieces) + text[last:]


def count_kinds(spans) -> dict[str, int]:
    return dict(sorted(Counter(span.kind for span in spans).items()))
