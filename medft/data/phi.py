"""PHI guard: find and replace protected health information in clinical text, by rule.

Hand-written regular expressions, not presidio or scrubadub (see the README's design section):
offline, both reduce to regexes (presidio's name finder needs a spaCy model that cannot be had
here), their phone patterns swallow neighbouring numbers, and neither knows MIMIC's `[** **]`
de-identification marks, record numbers, ages over 89 or names after titles. How well it does,
per kind, on a synthetic note set beside presidio's recognizers: docs/results/phi-scanner/index.md.

Public API, for every loader that reads clinical notes:
    scan(text)  -> list[PhiSpan]     where and what kind, sorted, non-overlapping
    scrub(text) -> str               every span replaced by a typed placeholder such as [DATE]
    count_kinds(spans) -> {kind: n}

A span's text is never logged or reported: callers report kinds, counts and (file, line).
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from dataclasses import dataclass

# Every kind scan() reports, and the placeholder scrub() writes for it ([ADDRESS], [IP], ...).
KINDS = ("MIMIC", "EMAIL", "URL", "IP", "FAX", "PHONE", "ADDRESS", "DATE", "MRN", "ACCOUNT", "ID", "AGE", "NAME")

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_PHONE = r"(?:\+\d{1,3}[\s.-]?)?(?:\(\d{3}\)\s?|\b\d{3}[\s.-])\d{3}[\s.-]\d{4}\b(?:\s*(?:x|ext\.?)\s*\d{1,5})?"
_TITLE = r"\b(?:Dr|Mr|Mrs|Ms|Miss|Mx|Prof)\.?\s+"
_CAP = r"[A-Z][a-zA-Z'-]+"

# Capitalised words that follow "Patient", "Pt" or a relative ("Mother Alive", "Patient Education")
# in headings and family histories but are not names. A name must not be one of these.
NOT_NAMES = (
    "Able Admitted Afebrile Agrees Alert Alive Also Ambulating Analgesia And Arrived At Awake Bedside Breast Called "
    "Care Colon Comfortable Consent Continued Controlled Currently Deceased Declined Denies Diabetes Died "
    "Discharged Education Family For Given Had Has Health Healthy History Identification In Information "
    "Instructions Is Living Lives Lung Lying Male Female Name Not Now Of On Ovarian Passed Plan Portal "
    "Position Prefers Presented Presents Previously Prostate Received Refused Reports Requested Requests "
    "Resting Safety Seen Sitting Stable Started States Status The Then To Today Tolerated Transport Unable "
    "Understands Verbalized Visited Was Will With Without Yes "
    # title words after "Patient" in names of scales, programmes and papers
    "Access Activation Advocate Assessment Centered Engagement Experience Management Navigator Outcomes "
    "Protection Questionnaire Record Records Reported Rights Risk Room Satisfaction"
).split()
# A capital then lower case, with inner capitals after Mc, O' or a hyphen: Mary, McAllister, O'Brien, Lee-Hart.
_NAME_WORD = r"(?!(?:" + "|".join(NOT_NAMES) + r")\b)[A-Z](?:[a-z]+|'(?=[A-Z]))(?:['-]?[A-Z][a-z]+)*\b"
_LAST_FIRST = _NAME_WORD + r",\s*" + _NAME_WORD + r"(?:\s+[A-Z]\.?(?=\s|$))?"  # "Smith, John" or "Smith, John A."
_RELATIVE = (
    r"(?:daughter|son|wife|husband|spouse|partner|mother|father|mom|dad|sister|brother|"
    r"grand(?:daughter|son|mother|father)|niece|nephew|aunt|uncle|cousin|fianc[eé]e?|"
    r"girlfriend|boyfriend|friend|caregiver|guardian)"
)

_STATE = (
    r"(?:AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|"
    r"NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY)"
)
_ZIP = r"\d{5}(?:-\d{4})?\b"
_STREET = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Terrace|Way|"
    r"Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Row|Close|Crescent)(?:\.|\b)"
)
_PLACE_WORD = r"(?:[A-Z][a-zA-Z'-]*|\d+(?:st|nd|rd|th))"  # "Oak", "O'Neil", "42nd"
_CITY = r"[A-Z][a-z]+(?:\s+[A-Z][a-z]+){0,2}"
# Number, street, optional unit, then optionally ", City, ST 02115" (or just the ZIP code).
_ADDRESS = (
    r"\b\d{1,6}[A-Z]?\s+(?:[NSEW]\.?\s+)?(?:"
    + _PLACE_WORD
    + r"\s+){1,3}"
    + _STREET
    + r"(?:,?\s+(?:Apt|Apartment|Unit|Suite|Ste|Fl(?:oor)?)\.?\s*#?\w+|\s*#\s*\w+)?"
    + r"(?:,\s*"
    + _CITY
    + r",?\s+"
    + _STATE
    + r"\b(?:\s+"
    + _ZIP
    + r")?|,?\s+"
    + _ZIP
    + r")?"
)

# Short dates (3/14) look like doses (5/325 mg), scales (pain 7/10, strength 5/5, a 2/6 murmur), counts
# (3/14 cores positive) and fractions (1/2 tab): these words before or after a month/day pair mean
# it is not a date. A year-less date with other words around it is taken as a date.
_NOT_DATE_BEFORE = re.compile(
    r"\b(?:BP|blood\s+pressure|pressures?|grade[ds]?|pain|rated?|rates|score[ds]?|scale|strength|power|motor|"
    r"murmur|GCS|apgars?|MMSE|MoCA|PHQ-?\d*|vision|acuity|VA|ratio|gleason|reflexes|DTRs?|pulses|dose|"
    r"take|takes|taking|of|x|cores?|nodes?|parity|G\d*P|eyes?|snellen)\s*(?:is|was|of|at|:|=)?\s*$",
    re.IGNORECASE,
)
_NOT_DATE_AFTER = re.compile(
    r"\s*(?:mg|mcg|g|gm|ml|cc|units?|iu|tabs?|tablets?|caps?|capsules?|puffs?|drops?|sprays?|mmhg|cores?|"
    r"nodes?|lymph|of|positive|negative|murmur|strength|pain|scale|score|bilat(?:erally)?|\w*systolic|diastolic|"
    r"ns|normal\s+saline|strength|dose|doses|times|x|ratio|vision|OU|OD|OS|power|reflexes|patients?|cases?|"
    r"subjects?|participants?|samples?|specimens?|had|have|were|are)\b",
    re.IGNORECASE,
)


# Fractions (take 1/2, HIV 1/2) and n/n counts (7/7 patients) are far more common than the dates they
# spell: they count as dates only after a word that introduces a date (on 7/7). And n/10 after a pain
# word is a score (7/10, then 3/10).
_FRACTIONS = ("1/2", "1/3", "1/4", "2/3", "3/4")
_DATE_WORD_BEFORE = re.compile(
    r"\b(?:on|since|from|until|till|by|dated?|seen|admitted|discharged|f/u|began|onset|"
    r"follow[- ]?up|DOS|visit|through|thru|as\s+of)\s*:?\s*$",
    re.IGNORECASE,
)
_PERCENT_AFTER = re.compile(r"\s*\(\s*\d+(?:\.\d+)?\s*%")
_SCORE_BEFORE = re.compile(r"\b(?:pain|rates?|rated|score[ds]?|scale)\b", re.IGNORECASE)


def _short_date(text: str, match: re.Match) -> bool:
    before = text[max(0, match.start() - 40) : match.start()]
    if _NOT_DATE_BEFORE.search(before) or _NOT_DATE_AFTER.match(text, match.end()):
        return False
    if _DATE_WORD_BEFORE.search(before):
        return True
    month, day = match.group(0).split("/")
    if month == day or match.group(0) in _FRACTIONS or before.endswith("(") and text.startswith(")", match.end()):
        return False  # 7/7, 5/5, (10/19): all of a group, a proportion in brackets; 1/2 a fraction
    if _PERCENT_AFTER.match(text, match.end()):
        return False  # 7/13 (54%): a proportion
    if int(month) <= int(day) and len(re.findall(rf"(?<![\d/])\d{{1,2}}/{day}(?![\d/])", text)) >= 3:
        return False  # 4/29 ... 5/29 ... 1/29: counts out of one group (a phenotype table), not dates
    if match.group(0).endswith("/10") and _SCORE_BEFORE.search(text, max(0, match.start() - 60), match.start()):
        return False
    return True


def _month_day(text: str, match: re.Match) -> bool:
    return not _NOT_DATE_AFTER.match(text, match.end())  # "May 5 mg" is a dose


def _label(text: str, match: re.Match) -> bool:
    """ "Patient:" is a label when capitalised or opening a line or sentence ("in this patient: X" is not)."""
    before = text[: match.start()].rstrip(" \t")
    return text[match.start()].isupper() or not before or before[-1] in "\n.;|:,"


def _not_a_title(text: str, match: re.Match) -> bool:
    """Two capitalised words after "Pt" are a name unless a third follows: "Patient Activation Measure"."""
    return not re.match(r"\s+[A-Z][a-z]", text[match.end() :])


def _ip_address(text: str, match: re.Match) -> bool:
    # The pattern finds candidates; the standard library says which are addresses (no 999.1.1.1, no 10:30:45).
    try:
        ipaddress.ip_address(match.group(0))
    except ValueError:
        return False
    return True


# (kind, pattern). A named group `phi` marks the part replaced, so a label ("MRN:", "Dr.")
# stays readable; without it the whole match is replaced. Order settles overlaps between
# equal-length matches: MIMIC marks first (they contain dates and names of their own).
PATTERNS: tuple[tuple, ...] = (
    ("MIMIC", r"\[\*\*.*?\*\*\]"),
    ("EMAIL", r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"),
    ("URL", r"\b(?:https?://|www\.)[^\s<>\"')\]]+[^\s<>\"')\].,;:!?]"),
    ("IP", r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]\w)", _ip_address),
    (
        "IP",
        r"(?<![\w:])(?=[0-9a-fA-F:]*::|(?:[0-9a-fA-F]{1,4}:){7})(?:[0-9a-fA-F]{0,4}:){2,7}[0-9a-fA-F]{0,4}(?![\w:])",
        _ip_address,
    ),  # IPv6: 8 groups, or fewer with '::' (so a time 10:30:45 is never a candidate)
    ("FAX", r"\bfax(?:\s*(?:no\.?|number|#))?\s*[:#]?\s*(?P<phi>" + _PHONE + ")"),
    ("PHONE", _PHONE),
    ("ADDRESS", _ADDRESS),
    ("ADDRESS", r"\b" + _CITY + r",\s*" + _STATE + r"\s+" + _ZIP),  # "Boston, MA 02115" without a street
    ("ADDRESS", r"\bP\.?\s?O\.?\s+Box\s+\d+\b"),
    ("DATE", r"(?<![\d.])\d{1,2}([/.-])\d{1,2}\1(?:\d{4}|\d{2})(?![\d.]\d)"),  # one separator: not a range 7.35-7.45
    ("DATE", r"\b\d{4}[/-]\d{1,2}[/-]\d{1,2}\b"),
    ("DATE", r"\b" + _MONTH + r"\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}\b"),
    ("DATE", r"\b\d{1,2}(?:st|nd|rd|th)?\s+" + _MONTH + r",?\s+\d{4}\b"),
    ("DATE", r"\b" + _MONTH + r"\s+\d{1,2}(?:st|nd|rd|th)\b"),
    ("DATE", r"(?<![\w/.:-])(?:1[0-2]|0?[1-9])/(?:3[01]|[12]\d|0?[1-9])(?![\w/%]|[.,]\d)", _short_date),  # 3/14
    ("DATE", r"\b(?-i:" + _MONTH + r")\s+(?:3[01]|[12]\d|0?[1-9])\b(?![.,:]?\d)", _month_day),  # March 14
    ("DATE", r"\b(?:3[01]|[12]\d|0?[1-9])\s+(?-i:" + _MONTH + r")(?!\w)", _month_day),  # 14 March
    (
        "MRN",
        r"\b(?:MRN|medical\s+record(?:\s+(?:number|no\.?|#))?|record\s+(?:number|no\.?|#)|"
        r"chart\s+(?:number|no\.?|#))\s*[:#]?\s*(?P<phi>[A-Z]{0,3}\d[\d-]{3,}\b)",
    ),
    (
        "ACCOUNT",
        r"\b(?:account|acct|billing|policy|member\s+id|insurance\s+id|claim)\.?(?:\s+(?:number|no\.?|#))?"
        r"\s*[:#]?\s*(?P<phi>[A-Z]{0,3}\d[\dA-Z-]{3,}\b)",
    ),
    ("ID", r"\b\d{3}-\d{2}-\d{4}\b"),  # US social security number shape
    (
        "ID",
        r"\b(?i:SSN|ID|licen[cs]e|passport|NHS|NPI|DEA)(?i:\s+(?:number|no\.?|#))?\s*[:#]?\s*"
        r"(?P<phi>[A-Z]{0,3}\d[\dA-Z-]{4,}\b)",
    ),
    ("ID", r"\b[A-Z]{1,3}-?\d{6,}\b"),  # letters + many digits: record-like codes
    ("ID", r"\b\d{7,}\b"),  # long bare numbers: identifiers far more often than quantities in notes
    ("AGE", r"\b(?P<phi>9\d|1[0-4]\d)(?:\s*|-)(?:y/?o\b|yo\b|years?(?:\s*|-)old\b|yrs?(?:\s*|-)old\b|year-old\b)"),
    ("AGE", r"\b(?:aged?|age:)\s*(?P<phi>9\d|1[0-4]\d)\b"),
    ("NAME", _TITLE + r"(?P<phi>" + _CAP + r"(?:\s+" + _CAP + r")?)"),
    ("NAME", r"\b(?i:patient\s+name|name|pt\s+name)\s*:\s*(?P<phi>" + _CAP + r"(?:\s+" + _CAP + r"){0,2})"),
    # "Patient: Smith, John", "Pt: John Smith": a labelled name, either order.
    (
        "NAME",
        r"\b(?i:patient|pt)\.?\s*:\s*(?P<phi>" + _LAST_FIRST + "|" + _NAME_WORD + r"(?:\s+" + _NAME_WORD + r"){0,2})",
        _label,
    ),
    # "Pt John Smith", "the patient, Smith, John": unlabelled, so two name words are required, after
    # a capitalised "Pt" / "Patient" or "patient," (lower case "patient X Y" is mostly a list of terms).
    (
        "NAME",
        r"(?:\b(?:Pt|PT|Patient)\.?,?|\b(?i:pt|patient)\.?,)\s+(?P<phi>"
        + _LAST_FIRST
        + "|"
        + _NAME_WORD
        + r"(?:\s+"
        + _NAME_WORD
        + r"){1,2})",
        _not_a_title,
    ),
    # Relatives: "daughter Mary", "his wife, Anne Lee,", "son (Jake)", "brother named Tom".
    (
        "NAME",
        r"\b(?i:" + _RELATIVE + r")(?:,|\s+named|\s+is)?\s+\(?(?P<phi>" + _NAME_WORD + r"(?:\s+" + _NAME_WORD + r")?)",
    ),
)

# NAME, ID and ADDRESS are matched case-sensitively (a name or street starts with a capital, a code
# is upper case); their label words are case-insensitive groups of their own, (?i:...). A third item
# is a check a match must pass (an IP address that parses, a short date with no dose or scale near).
_COMPILED = tuple(
    (kind, re.compile(pattern, 0 if kind in ("NAME", "ID", "ADDRESS") else re.IGNORECASE), *check)
    for kind, pattern, *check in PATTERNS
)

# What a MIMIC mark hides, from the words inside it ([**Known lastname 123**], [**2151-7-16**]).
_MIMIC_TYPES = (
    ("NAME", r"name|doctor|md number"),
    ("PHONE", r"telephone|phone|fax|pager"),
    ("LOCATION", r"hospital|location|address|street|state|country|university|company|ward"),
    ("ID", r"number|record|serial|job|unit|identifier|ssn"),
    ("DATE", r"^\s*[\d/-]+\s*$|month|year|date|day"),
    ("AGE", r"age"),
    ("EMAIL", r"e-?mail"),
    ("URL", r"url|web"),
)


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
    for priority, (kind, pattern, *check) in enumerate(_COMPILED):
        for match in pattern.finditer(text):
            if check and not check[0](text, match):
                continue
            group = "phi" if "phi" in pattern.groupindex and match.group("phi") else 0
            start, end = match.span(group)
            # Rank by the whole match (label included): "Fax: 617..." beats the bare phone number.
            candidates.append((match.start(), -(match.end() - match.start()), priority, start, end, kind))
    spans: list[PhiSpan] = []
    taken: list[tuple[int, int]] = []
    for _, _, _, start, end, kind in sorted(candidates):
        if any(start < t_end and t_start < end for t_start, t_end in taken):
            continue
        placeholder = _mimic_placeholder(text[start + 3 : end - 3]) if kind == "MIMIC" else f"[{kind}]"
        spans.append(PhiSpan(kind, start, end, placeholder))
        taken.append((start, end))
    return sorted(spans, key=lambda s: s.start)


def scrub(text: str, spans: list[PhiSpan] | None = None) -> str:
    """`text` with every PHI span replaced by its typed placeholder."""
    pieces, last = [], 0
    for span in spans if spans is not None else scan(text):
        pieces += [text[last : span.start], span.placeholder]
        last = span.end
    return "".join(pieces) + text[last:]


def count_kinds(spans) -> dict[str, int]:
    return dict(sorted(Counter(span.kind for span in spans).items()))
