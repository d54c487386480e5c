"""Rare-class augmentation (`dataset.transforms=[augment]`), on the train split only.

Labels (labels.py: a question type, a category, a few distinct answers) with fewer training
records than `dataset.augment.target_count` (null: the largest label's count) get variants of
their own records until they reach it: synonym replacement (a term of terms.csv swapped for
another of its group: "Tylenol" for "acetaminophen") and entity masking (the term replaced by
its type: "[DRUG]"). Only the prompt side changes (question, context); the target answer and
the options stay, so a variant teaches the same answer from different wording. Validation and
test splits are returned as they came: augmenting them would score the model on text it wrote
itself. A record with no table term gives no variant; a label may therefore stay short, and the
counts say so.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import replace

from medft.data.labels import label_key, label_of
from medft.data.transforms import TransformConfigError
from medft.data.transforms.terms import find_mentions

METHODS = ("synonym", "mask")


def synonym_variants(text: str) -> list[str]:
    """Every text with one term swapped for another term of its group."""
    out = []
    for start, end, term, group in find_mentions(text):
        for other in group.all_terms:
            if other.lower() != term.lower():
                out.append(text[:start] + other + text[end:])
    return out


def mask_variants(text: str) -> list[str]:
    """Every text with one term replaced by its entity type, e.g. [DRUG]."""
    return [text[:start] + f"[{group.type}]" + text[end:] for start, end, _, group in find_mentions(text)]


_VARIANTS = {"synonym": synonym_variants, "mask": mask_variants}


def record_variants(record, methods, rng: random.Random) -> list:
    """Distinct prompt-side variants of a record, shuffled: each changes one mention of the question
    (or of the context, when the question names no term)."""
    field = "question" if find_mentions(record.question) else "context"
    text = getattr(record, field)
    seen, variants = {text}, []
    for method in methods:
        for new_text in _VARIANTS[method](text):
            if new_text not in seen:
                seen.add(new_text)
                variants.append((method, new_text))
    rng.shuffle(variants)
    return [
        (method, replace(record, **{field: new_text}, metadata={**record.metadata, "augmented": method}))
        for method, new_text in variants
    ]


def apply(splits: dict, dataset_cfg, seed: int) -> tuple[dict, dict]:
    options = dataset_cfg.augment
    methods = list(options.methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise TransformConfigError(f"dataset.augment.methods: unknown {unknown}; use a list of {list(METHODS)}")
    train = splits["train"]
    key = label_key(train, options.label_by)
    by_label = defaultdict(list)
    for record in train:
        by_label[label_of(record, key)].append(record)
    target = options.target_count or max(len(v) for v in by_label.values())
    rng = random.Random(seed)
    added, by_method, short = Counter(), Counter(), {}
    new_train = list(train)
    for label, records in sorted(by_label.items()):
        need = target - len(records)
        if need <= 0:
            continue
        pools = [record_variants(r, methods, rng)[: options.max_per_record] for r in records]
        while need > 0 and any(pools):  # round-robin over the label's records: spread, not one record x N
            for pool in pools:
                if pool and need > 0:
                    method, variant = pool.pop(0)
                    new_train.append(variant)
                    added[label] += 1
                    by_method[method] += 1
                    need -= 1
        if need > 0:
            short[label] = need
    rng.shuffle(new_train)
    counts = {
        "label_by": key,
        "target_count": target,
        "added_by_label": dict(sorted(added.items())),
        "added_by_method": dict(sorted(by_method.items())),
        "added_total": sum(added.values()),
        "labels_still_short": short,
        "train_before": len(train),
        "train_after": len(new_train),
    }
    return {**splits, "train": new_train}, counts
