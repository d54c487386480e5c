"""Dataset kinds of the task group (diagnosis, clinical_note, ner) and the Chinese sets -> splits.

Every loader returns train / validation / test lists of canonical Records; where a source has no
split of its own, one is carved from its train part with the dataset's fractions and seed.
"""

from __future__ import annotations

import logging
import math

from medft.data import builtin_tasks
from medft.data.builtin_tasks import ner_records_from_documents
from medft.data.cmeee import load_cmeee
from medft.data.huatuo import load_huatuo
from medft.data.mimic import read_notes, split_by_patient
from medft.data.records import Record
from medft.data.split import stratified_split

log = logging.getLogger(__name__)

BUILTIN_TASK_KINDS = ("diagnosis_builtin", "notes_builtin", "ner_builtin")
TASK_DATA_KINDS = (*BUILTIN_TASK_KINDS, "cmeee", "huatuo", "mimic_notes")
NER_KINDS = ("ner_builtin", "cmeee")  # kinds whose records carry gold entities


def _carve(train: list[Record], dataset_cfg, need_validation: bool, need_test: bool) -> dict[str, list[Record]]:
    validation = dataset_cfg.validation_fraction if need_validation else 0.0
    test = dataset_cfg.test_fraction if need_test else 0.0
    return stratified_split(train, validation, test, dataset_cfg.stratify_by, dataset_cfg.split_seed)


def _notes_to_read(dataset_cfg) -> int | None:
    """How many notes to stream (dataset.max_samples caps training notes; the validation and test
    patients' share comes on top), so a 4 GB NOTEEVENTS.csv is read only as far as the run needs."""
    if dataset_cfg.max_samples is None:
        return None
    held_out = dataset_cfg.validation_fraction + dataset_cfg.test_fraction
    return math.ceil(dataset_cfg.max_samples / max(1.0 - held_out, 1e-6))


def load_task_data_splits(dataset_cfg) -> dict[str, list[Record]]:
    kind = dataset_cfg.kind
    if kind in BUILTIN_TASK_KINDS:
        return {
            "diagnosis_builtin": builtin_tasks.diagnosis_splits,
            "notes_builtin": builtin_tasks.notes_splits,
            "ner_builtin": builtin_tasks.ner_splits,
        }[kind]()
    if kind == "cmeee":
        documents = load_cmeee(dataset_cfg.path, dataset_cfg.hub_id, dataset_cfg.offsets)
        splits = _carve(ner_records_from_documents(documents["train"]), dataset_cfg, True, "dev" not in documents)
        if "dev" in documents:  # CBLUE's public evaluation file; the official test labels are hidden
            splits["test"] = ner_records_from_documents(documents["dev"])
        return splits
    if kind == "huatuo":
        source = load_huatuo(dataset_cfg.path, dataset_cfg.hub_id, dataset_cfg.layout)
        splits = _carve(source["train"], dataset_cfg, "validation" not in source, "test" not in source)
        for name in ("validation", "test"):
            if name in source:
                splits[name] = source[name]
        return splits
    if kind == "mimic_notes":
        notes = read_notes(dataset_cfg.path, list(dataset_cfg.note_categories), _notes_to_read(dataset_cfg))
        return split_by_patient(
            notes, dataset_cfg.validation_fraction, dataset_cfg.test_fraction, dataset_cfg.split_seed
        )
    raise ValueError(f"dataset.kind={kind!r} is not a task data kind {list(TASK_DATA_KINDS)}")
