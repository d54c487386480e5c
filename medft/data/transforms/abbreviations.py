"""Abbreviation expansion with disambiguation (`dataset.transforms=[abbreviations]`).

Per record: an abbreviation the record defines itself ("pulmonary embolism (PE)", found by the
Schwartz-Hearst algorithm) takes that definition; otherwise the project's dictionary
(abbreviations.yaml) gives its senses, and the sense whose context words occur most in the
record wins if it beats the runner-up. A tie (no context word, or as many for two senses)
leaves the abbreviation as written and is counted as ambiguous: a wrong expansion teaches the
model a wrong fact, a kept abbreviation only keeps the source's wording.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

from medft.data.transforms.schwartz_hearst import find_definitions
from medft.data.transforms.text_fields import record_text, rewrite

DICTIONARY = Path(__file__).with_name("abbreviations.yaml")


@lru_cache(maxsize=1)
def senses() -> dict[str, list[dict]]:
    import yaml

    return yaml.safe_load(DICTIONARY.read_text())


def _has_word(text_lower: str, words: str) -> bool:
    return re.search(r"(?<![a-z0-9])" + re.escape(words) + r"(?![a-z0-9])", text_lower) is not None


def choose_sense(abbreviation: str, text: str) -> str | None:
    """The expansion the context supports, or None when it does not single one out."""
    options = senses()[abbreviation]
    if len(options) == 1:
        return options[0]["expansion"]
    lowered = text.lower()
    scores = sorted(
        ((sum(_has_word(lowered, w) for w in o.get("context", ())), o["expansion"]) for o in options), reverse=True
    )
    (best, expansion), (second, _) = scores[0], scores[1]
    return expansion if best > 0 and best > second else None


def _pattern(abbreviation: str) -> re.Pattern:
    return re.compile(r"(?<![\w-])" + re.escape(abbreviation) + r"(?![\w-])")


def expansions_for(text: str) -> tuple[dict[str, str], list[str], list[str]]:
    """({abbreviation: expansion}, abbreviations left ambiguous, abbreviations defined in the text)."""
    defined = {d.short: d.long for d in find_definitions(text)}
    chosen, ambiguous = dict(defined), []
    for abbreviation in senses():
        if abbreviation in chosen or not _pattern(abbreviation).search(text):
            continue
        expansion = choose_sense(abbreviation, text)
        if expansion is None:
            ambiguous.append(abbreviation)
        else:
            chosen[abbreviation] = expansion
    return chosen, ambiguous, sorted(defined)


def expand_text(text: str, chosen: dict[str, str]) -> tuple[str, Counter]:
    """Replace each chosen abbreviation by its expansion, except inside its own "(SF)" definition."""
    keep = [(d.start, d.end) for d in find_definitions(text)]
    counts: Counter = Counter()
    for abbreviation, expansion in chosen.items():

        def substitute(match, expansion=expansion, abbreviation=abbreviation, keep=keep):
            if any(start <= match.start() < end for start, end in keep):
                return match.group(0)
            counts[abbreviation] += 1
            return expansion

        text = _pattern(abbreviation).sub(substitute, text)
        keep = [(d.start, d.end) for d in find_definitions(text)]  # offsets moved
    return text, counts


def apply(splits: dict, dataset_cfg, seed: int) -> tuple[dict, dict]:
    expanded, ambiguous, defined = Counter(), Counter(), Counter()
    records_changed = 0
    out = {}
    for name, records in splits.items():
        new_records = []
        for record in records:
            chosen, unclear, in_text = expansions_for(record_text(record))
            ambiguous.update(unclear)
            per_record: Counter = Counter()

            def expand(text, chosen=chosen, per_record=per_record):
                new_text, counts = expand_text(text, chosen)
                per_record.update(counts)
                return new_text

            new = rewrite(record, expand) if chosen else record
            if new is None:  # two options would read the same: keep the item as written
                new = record
            elif per_record:
                records_changed += 1
                expanded.update(per_record)
                defined.update(a for a in in_text if per_record[a])
            new_records.append(new)
        out[name] = new_records
    counts = {
        "records_changed": records_changed,
        "expanded": dict(sorted(expanded.items())),
        "expanded_total": sum(expanded.values()),
        "ambiguous_left": dict(sorted(ambiguous.items())),
        "ambiguous_total": sum(ambiguous.values()),
        "from_in_text_definitions": dict(sorted(defined.items())),
    }
    return out, counts
