"""Dataset config -> named splits of canonical Records (train, validation, test, control)."""

from __future__ import annotations

import logging

from medft.data.records import Record

log = logging.getLogger(__name__)


def load_splits(dataset_cfg) -> dict[str, list[Record]]:
    if dataset_cfg.kind == "builtin":
        from medft.data.builtin import build_builtin_splits

        splits = build_builtin_splits(dataset_cfg.control_fraction, dataset_cfg.split_seed,
                                      tuple(dataset_cfg.train_formats))
    elif dataset_cfg.kind == "jsonl":
        from medft.data.jsonl import load_jsonl
        from medft.data.split import stratified_split

        splits = stratified_split(load_jsonl(dataset_cfg.path), dataset_cfg.validation_fraction,
                                  dataset_cfg.test_fraction, dataset_cfg.stratify_by, dataset_cfg.split_seed)
    else:
        raise ValueError(f"dataset.kind: unknown '{dataset_cfg.kind}'; use builtin or jsonl")
    if dataset_cfg.max_samples is not None:
        splits["train"] = splits["train"][: dataset_cfg.max_samples]
    if not splits["train"]:
        raise ValueError(f"dataset '{dataset_cfg.name}' has no training records after splitting")
    return splits


def evaluation_sets(splits: dict[str, list[Record]], limit: int | None) -> dict[str, list[Record]]:
    """The multiple-choice sets scored before and after training: test, and control if any."""
    sets = {}
    for name in ("test", "control"):
        records = [r for r in splits.get(name, []) if r.is_multiple_choice]
        if records:
            sets[name] = records[:limit] if limit else records
    if not sets:
        log.warning("No multiple-choice records in the test split: accuracy is not evaluated")
    return sets
