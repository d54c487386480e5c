"""Dataset config -> named splits of canonical Records (train, validation, test, control)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from medft.benchmarks.medquad import split_by_focus
from medft.benchmarks.registry import load_benchmark
from medft.config.choices import BENCHMARK_KINDS
from medft.config.errors import UserError
from medft.data.balance import balance_records, class_counts
from medft.data.builtin import build_builtin_splits
from medft.data.jsonl import load_jsonl
from medft.data.mixture import load_mixture
from medft.data.preference import load_preference_jsonl
from medft.data.records import Record
from medft.data.role_files import load_files
from medft.data.split import stratified_split
from medft.data.task_data import TASK_DATA_KINDS, load_task_data_splits
from medft.data.text import load_text

log = logging.getLogger(__name__)


def _benchmark_splits(dataset_cfg) -> dict[str, list[Record]]:
    """A published benchmark's `source_split` -> train / validation / test.

    MedQuAD keeps its own focus split (train, validation, test by a hash of the condition asked
    about), so no condition straddles train and test; the others are split like a JSONL file.
    """

    if dataset_cfg.kind == "medquad":
        if dataset_cfg.source_split not in ("train", "all", "auto"):
            raise UserError(
                f"dataset.source_split={dataset_cfg.source_split}: MedQuAD trains on the train part "
                "of its focus split and tests on its test part; use dataset.source_split=train"
            )

        data = load_benchmark(
            "medquad", dataset_cfg.path, "all", hub_id=dataset_cfg.hub_id, hub_config=dataset_cfg.hub_config
        )
        splits = split_by_focus(data.records)
    else:
        data = load_benchmark(
            dataset_cfg.kind,
            dataset_cfg.path,
            dataset_cfg.source_split,
            hub_id=dataset_cfg.hub_id,
            hub_config=dataset_cfg.hub_config,
        )
        splits = stratified_split(
            data.records,
            dataset_cfg.validation_fraction,
            dataset_cfg.test_fraction,
            dataset_cfg.stratify_by,
            dataset_cfg.split_seed,
        )
    for note in data.notes:
        log.info("%s (%s, split %s): %s", dataset_cfg.kind, data.source, data.split, note)
    return splits


def _where(record: Record, dataset_cfg) -> str:
    """A record's place in its source, as precise as its loader recorded it. A file's record is
    placed by line, block or position, never by its id (a user's ids can be record numbers, MRN);
    a hub record by the public id of its published dataset."""
    meta = record.metadata
    for key in ("source", "file"):
        if meta.get(key):
            place = str(meta[key])
            break
    else:
        place = str(dataset_cfg.path or f"dataset={dataset_cfg.name}")
    located = (
        "line" in meta
        or "block" in meta
        or "record" in meta
        or re.search(r"(:\d+|\[\d+\])$", place) is not None
        or Path(place).is_file()
    )
    return (
        place
        + (f":{meta['line']}" if "line" in meta and f":{meta['line']}" not in place else "")
        + (f" block {meta['block']}" if "block" in meta else "")
        + (f" record {meta['record']}" if "record" in meta else "")
        + (f" id {meta['id']}" if meta.get("id") and not located else "")
    )


def record_chars(record: Record) -> int:
    return (
        len(record.question)
        + len(record.answer)
        + len(record.context)
        + sum(map(len, record.options))
        + sum(len(c) for _, c in record.history)
        + len(str(record.metadata.get("rejected") or ""))
    )


def check_lengths(splits: dict[str, list[Record]], dataset_cfg) -> None:
    """Refuse a record longer than dataset.max_record_chars: far past any context window, it is a
    broken file (a lost newline or quote merged records), and it would only be truncated away."""
    cap = dataset_cfg.get("max_record_chars")
    if not cap:
        return
    for records in splits.values():
        for record in records:
            if (n := record_chars(record)) > cap:
                raise UserError(
                    f"{_where(record, dataset_cfg)}: a record of {n:,} characters exceeds "
                    f"dataset.max_record_chars={cap} (a missing newline or quote can merge records). "
                    "Fix the record, or raise the cap: dataset.max_record_chars=<n>"
                )


def load_splits(dataset_cfg) -> dict[str, list[Record]]:
    """The dataset's splits, its training split capped at dataset.max_samples (never empty)."""
    if dataset_cfg.kind == "mixture":  # each component through this function, then interleaved
        splits = load_mixture(dataset_cfg, load_splits)
    else:
        splits = _load_kind(dataset_cfg)
    check_lengths(splits, dataset_cfg)
    if dataset_cfg.max_samples is not None:
        splits["train"] = splits["train"][: dataset_cfg.max_samples]
    if dataset_cfg.get("balance", "none") != "none":
        before = class_counts(splits["train"])
        splits["train"] = balance_records(splits["train"], dataset_cfg.balance, dataset_cfg.split_seed)
        log.info(
            "dataset.balance=%s: training classes %s -> %s", dataset_cfg.balance, before, class_counts(splits["train"])
        )
    if not splits["train"]:
        raise UserError(
            f"dataset '{dataset_cfg.name}' has no training records after splitting: give more "
            "records or lower dataset.validation_fraction / dataset.test_fraction"
        )
    return splits


def _load_kind(dataset_cfg) -> dict[str, list[Record]]:
    if dataset_cfg.kind == "builtin":
        splits = build_builtin_splits(
            dataset_cfg.control_fraction, dataset_cfg.split_seed, tuple(dataset_cfg.train_formats)
        )
    elif dataset_cfg.kind in ("jsonl", "preference_jsonl", "text"):  # the user's file, split with a seed
        loader = {"jsonl": load_jsonl, "preference_jsonl": load_preference_jsonl, "text": load_text}[dataset_cfg.kind]
        splits = stratified_split(
            loader(dataset_cfg.path),
            dataset_cfg.validation_fraction,
            dataset_cfg.test_fraction,
            dataset_cfg.stratify_by,
            dataset_cfg.split_seed,
        )
    elif dataset_cfg.kind == "files":  # the user's file per role (or a hub split per role), columns mapped
        splits = load_files(dataset_cfg)
    elif dataset_cfg.kind in BENCHMARK_KINDS:
        splits = _benchmark_splits(dataset_cfg)
    elif dataset_cfg.kind in TASK_DATA_KINDS:  # the task group's data and the Chinese / MIMIC sets
        splits = load_task_data_splits(dataset_cfg)
    else:
        raise UserError(
            f"dataset.kind: unknown '{dataset_cfg.kind}'; use builtin, jsonl, files, preference_jsonl, text, "
            f"mixture or one of {list(BENCHMARK_KINDS + TASK_DATA_KINDS)}"
        )
    return splits


def evaluation_sets(
    splits: dict[str, list[Record]], limit: int | None, names: tuple[str, ...] = ("test", "control")
) -> dict[str, list[Record]]:
    """The multiple-choice records of the named splits (test and control by default), capped at `limit`."""
    sets = {}
    for name in names:
        records = [r for r in splits.get(name, []) if r.is_multiple_choice]
        if records:
            sets[name] = records[:limit] if limit else records
    if not sets:
        log.warning("No multiple-choice records in the %s split: accuracy is not evaluated", "/".join(names))
    return sets
