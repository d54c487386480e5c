"""Measure a PHI finder against notes whose identifiers are marked in place, `<<KIND:text>>`.

Span level, per kind:
- recall: the share of gold spans whose every non-space character lies inside some found span,
  whatever kind the finder gave it (a phone number found as FAX still leaves the text);
- precision: the share of found spans that overlap a gold span (the rest destroy ordinary text).
A finder is `text -> [(kind, start, end)]`. medft's scanner and presidio's regex and checksum
recognizers (the ones that run with no spaCy model) are provided; perf/bench_phi.py prints
the table, tests/test_phi_scanner.py holds medft to its figures.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from medft.data import phi

MARK = re.compile(r"<<([A-Z]+):(.*?)>>")

# presidio entity -> medft kind, so both tools' rows line up (all ID-like numbers are ID).
PRESIDIO_KINDS = {
    "PHONE_NUMBER": "PHONE",
    "EMAIL_ADDRESS": "EMAIL",
    "URL": "URL",
    "IP_ADDRESS": "IP",
    "DATE_TIME": "DATE",
    "PERSON": "NAME",
    "LOCATION": "ADDRESS",
    "US_SSN": "ID",
    "US_ITIN": "ID",
    "US_PASSPORT": "ID",
    "US_DRIVER_LICENSE": "ID",
    "MEDICAL_LICENSE": "ID",
    "UK_NHS": "ID",
    "US_BANK_NUMBER": "ID",
    "CREDIT_CARD": "ID",
    "IBAN_CODE": "ID",
    "CRYPTO": "ID",
    "UUID": "ID",
    "MAC_ADDRESS": "ID",
}
# presidio recognizers that need an NLP model's output (names, places): left out, not faked.
PRESIDIO_NER = ("SpacyRecognizer", "StanzaRecognizer", "TransformersRecognizer", "GLiNERRecognizer")


def parse_marked(marked: str) -> tuple[str, list[tuple[str, int, int]]]:
    """(plain text, gold spans) of a note written with `<<KIND:text>>` marks."""
    pieces, gold, last, length = [], [], 0, 0
    for match in MARK.finditer(marked):
        before = marked[last : match.start()]
        pieces.append(before)
        length += len(before)
        kind, value = match.groups()
        gold.append((kind, length, length + len(value)))
        pieces.append(value)
        length += len(value)
        last = match.end()
    pieces.append(marked[last:])
    return "".join(pieces), gold


def load_notes(path: str | Path) -> list[tuple[str, list[tuple[str, int, int]]]]:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [parse_marked(json.loads(line)["marked"]) for line in lines if line.strip()]


def medft_finder(text: str) -> list[tuple[str, int, int]]:
    return [(span.kind, span.start, span.end) for span in phi.scan(text)]


def non_overlapping(found: list[tuple]) -> list[tuple[str, int, int]]:
    """Where spans overlap keep the earliest, then the longest (medft's own rule); (kind, start, end[, score])."""
    kept: list[tuple[str, int, int]] = []
    for kind, start, end, *_ in sorted(found, key=lambda s: (s[1], -(s[2] - s[1]), -(s[3] if len(s) > 3 else 0))):
        if not any(start < k_end and k_start < end for _, k_start, k_end in kept):
            kept.append((kind, start, end))
    return kept


def score(notes, finder) -> dict[str, dict[str, int]]:
    """{kind: {"gold", "found", "predicted", "correct"}} and an "ALL" row; see the module doc."""
    table: dict[str, dict[str, int]] = {}

    def row(kind: str) -> dict[str, int]:
        return table.setdefault(kind, {"gold": 0, "found": 0, "predicted": 0, "correct": 0})

    for text, gold in notes:
        predicted = finder(text)
        covered = {i for _, start, end in predicted for i in range(start, end)}
        for kind, start, end in gold:
            found = all(i in covered for i in range(start, end) if not text[i].isspace())
            for name in (kind, "ALL"):
                row(name)["gold"] += 1
                row(name)["found"] += found
        for kind, start, end in predicted:
            correct = any(start < g_end and g_start < end for _, g_start, g_end in gold)
            for name in (kind, "ALL"):
                row(name)["predicted"] += 1
                row(name)["correct"] += correct
    return dict(sorted(table.items(), key=lambda item: (item[0] == "ALL", item[0])))


def recall(row: dict[str, int]) -> float | None:
    return row["found"] / row["gold"] if row["gold"] else None


def precision(row: dict[str, int]) -> float | None:
    return row["correct"] / row["predicted"] if row["predicted"] else None


def presidio_finder():
    """presidio-analyzer's predefined English recognizers minus the NER ones, each called directly
    with no NLP artifacts (the regexes, checksums and the phonenumbers matcher run as they do in
    AnalyzerEngine, without its context words, which need spaCy lemmas). ImportError when absent."""
    import logging

    from presidio_analyzer import RecognizerRegistry

    # Offline, tldextract (e-mail and URL checks) fails to fetch the public suffix list and uses its
    # bundled copy; the failed fetch is logged with a traceback on every start, which says nothing here.
    logging.getLogger("tldextract").setLevel(logging.CRITICAL)
    registry = RecognizerRegistry()
    registry.load_predefined_recognizers(languages=["en"])
    recognizers = [r for r in registry.recognizers if type(r).__name__ not in PRESIDIO_NER]

    def find(text: str) -> list[tuple[str, int, int]]:
        found = [
            (PRESIDIO_KINDS.get(result.entity_type, result.entity_type), result.start, result.end, result.score)
            for recognizer in recognizers
            for result in recognizer.analyze(text, recognizer.supported_entities, None)
        ]
        return non_overlapping(found)

    find.recognizers = [type(r).__name__ for r in recognizers]
    return find
