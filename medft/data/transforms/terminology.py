"""Terminology normalisation (`dataset.transforms=[terminology]`): brand names and lay terms
become one preferred term (terms.csv): "Tylenol" -> "acetaminophen", "heart attack" ->
"myocardial infarction". Opt-in, because it changes the wording a benchmark or a user expects;
the counts say which terms were rewritten how often."""

from __future__ import annotations

from collections import Counter

from medft.data.transforms.terms import find_mentions
from medft.data.transforms.text_fields import rewrite


def normalise_text(text: str, counts: Counter | None = None) -> str:
    pieces, last = [], 0
    for start, end, term, group in find_mentions(text):
        if term == group.preferred:
            continue
        pieces += [text[last:start], group.preferred]
        last = end
        if counts is not None:
            counts[f"{term.lower()} -> {group.preferred}"] += 1
    return "".join(pieces) + text[last:]


def apply(splits: dict, dataset_cfg, seed: int) -> tuple[dict, dict]:
    replaced, kept_for_options = Counter(), 0
    out = {}
    for name, records in splits.items():
        new_records = []
        for record in records:
            per_record: Counter = Counter()
            new = rewrite(record, lambda text, c=per_record: normalise_text(text, c))
            if new is None:  # e.g. options "Tylenol" and "acetaminophen" would become the same
                kept_for_options += 1
                new = record
            else:
                replaced.update(per_record)
            new_records.append(new)
        out[name] = new_records
    return out, {
        "replaced": dict(replaced.most_common()),
        "replaced_total": sum(replaced.values()),
        "records_kept_because_options_would_merge": kept_for_options,
    }
