"""Seeded, stratified splitting of records into train / validation / test.

Hand-written (about 30 lines) because `datasets.train_test_split(stratify_by_column=...)` needs
a ClassLabel column and splits two ways at a time; this keeps each stratum's share in all three.
"""

from __future__ import annotations

import random
from collections import defaultdict

from medft.data.records import Record


def _stratum(record: Record, key: str | None) -> str:
    if key is None:
        return ""
    value = getattr(record, key, None)
    if value is None:
        value = record.metadata.get(key, "")
    return str(value)


def stratified_split(
    records: list[Record],
    validation_fraction: float,
    test_fraction: float,
    stratify_by: str | None,
    seed: int,
) -> dict[str, list[Record]]:
    """Split each stratum in the given proportions (largest remainders kept in train)."""
    if validation_fraction < 0 or test_fraction < 0 or validation_fraction + test_fraction >= 1:
        raise ValueError(
            f"dataset.validation_fraction ({validation_fraction}) + dataset.test_fraction "
            f"({test_fraction}) must be >= 0 and < 1"
        )
    strata: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        strata[_stratum(record, stratify_by)].append(record)
    # Strata too small to give every split its share (e.g. free-text answers, all unique)
    # are pooled, so near-unique keys degrade to a plain seeded shuffle instead of all-train.
    smallest = min(f for f in (validation_fraction, test_fraction, 1.0) if f > 0)
    pooled = [r for key in list(strata) if len(strata[key]) * smallest < 1 for r in strata.pop(key)]
    if pooled:
        strata["\x00pooled"] = pooled
    rng = random.Random(seed)
    splits: dict[str, list[Record]] = {"train": [], "validation": [], "test": []}
    for name in sorted(strata):
        group = strata[name][:]
        rng.shuffle(group)
        n_test = round(len(group) * test_fraction)
        n_val = round(len(group) * validation_fraction)
        splits["test"] += group[:n_test]
        splits["validation"] += group[n_test : n_test + n_val]
        splits["train"] += group[n_test + n_val :]
    for part in splits.values():
        rng.shuffle(part)
    return splits
