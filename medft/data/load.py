"""Dataset config -> named splits of canonical Records (train, validation, test, control)."""

from __future__ import annotations

import logging

from medft.data.records import Record
from medft.data.task_data import TASK_DATA_KINDS, load_task_data_splits

log = logging.getLogger(__name__)


BENCHMARK_KINDS = ("pubmedqa", "medqa", "medmcqa", "mmlu_medical", "medquad")


def _benchmark_splits(dataset_cfg) -> dict[str, list[Record]]:
    """A published benchmark's `source_split` -> train / validation / test.

    MedQuAD keeps its own focus split (train, validation, test by a hash of the condition asked
    about), so no condition straddles train and test; the others are split like a JSONL file.
    """
    from medft.benchmarks.registry import load_benchmark
    from medft.data.split import stratified_split
    from medft.errors import UserError

    if dataset_cfg.kind == "medquad":
        if dataset_cfg.source_split not in ("train", "all", "auto"):
            raise UserError(f"dataset.source_split={dataset_cfg.source_split}: MedQuAD trains on the train part "
                            "of its focus split and tests on its test part; use dataset.source_split=train")
        from medft.benchmarks.medquad import split_by_focus

        data = load_benchmark("medquad", dataset_cfg.path, "all", hub_id=dataset_cfg.hub_id,
                              hub_config=dataset_cfg.hub_config)
        splits = split_by_focus(data.records)
    else:
        data = load_benchmark(dataset_cfg.kind, dataset_cfg.path, dataset_cfg.source_split,
                              hub_id=dataset_cfg.hub_id, hub_config=dataset_cfg.hub_config)
        splits = stratified_split(data.records, dataset_cfg.validation_fraction, dataset_cfg.test_fraction,
                                  dataset_cfg.stratify_by, dataset_cfg.split_seed)
    for note in data.notes:
        log.info("%s (%s, split %s): %s", dataset_cfg.kind, data.source, data.split, note)
    return splits


def load_splits(dataset_cfg) -> dict[str, list[Record]]:
    """The dataset's splits, its training split capped at dataset.max_samples (never empty)."""
    if dataset_cfg.kind == "mixture":  # each component through this function, then interleaved
        from medft.data.mixture import load_mixture

        splits = load_mixture(dataset_cfg, load_splits)
    else:
        splits = _load_kind(dataset_cfg)
    if dataset_cfg.max_samples is not None:
        splits["train"] = splits["train"][: dataset_cfg.max_samples]
    if not splits["train"]:
        raise ValueError(f"dataset '{dataset_cfg.name}' has no training records after splitting")
    return splits


def _load_kind(dataset_cfg) -> dict[str, list[Record]]:
    if dataset_cfg.kind == "builtin":
        from medft.data.builtin import build_builtin_splits

        splits = build_builtin_splits(dataset_cfg.control_fraction, dataset_cfg.split_seed,
                                      tuple(dataset_cfg.train_formats))
    elif dataset_cfg.kind in ("jsonl", "preference_jsonl", "text"):  # the user's file, split with a seed
        from medft.data.jsonl import load_jsonl
        from medft.data.preference import load_preference_jsonl
        from medft.data.split import stratified_split
        from medft.data.text import load_text

        loader = {"jsonl": load_jsonl, "preference_jsonl": load_preference_jsonl, "text": load_text}[dataset_cfg.kind]
        splits = stratified_split(loader(dataset_cfg.path), dataset_cfg.validation_fraction,
                                  dataset_cfg.test_fraction, dataset_cfg.stratify_by, dataset_cfg.split_seed)
    elif dataset_cfg.kind in BENCHMARK_KINDS:
        splits = _benchmark_splits(dataset_cfg)
    elif dataset_cfg.kind in TASK_DATA_KINDS:  # the task group's data and the Chinese / MIMIC sets
        splits = load_task_data_splits(dataset_cfg)
    else:
        raise ValueError(f"dataset.kind: unknown '{dataset_cfg.kind}'; use builtin, jsonl, preference_jsonl, text, "
                         f"mixture or one of {list(BENCHMARK_KINDS + TASK_DATA_KINDS)}")
    return splits


def evaluation_sets(splits: dict[str, list[Record]], limit: int | None,
                    names: tuple[str, ...] = ("test", "control")) -> dict[str, list[Record]]:
    """The multiple-choice records of the named splits (test and control by default), capped at `limit`."""
    sets = {}
    for name in names:
        records = [r for r in splits.get(name, []) if r.is_multiple_choice]
        if records:
            sets[name] = records[:limit] if limit else records
    if not sets:
        log.warning("No multiple-choice records in the %s split: accuracy is not evaluated", "/".join(names))
    return sets
