"""MedMCQA (Pal et al. 2022): 4-option questions from Indian medical entrance exams.

Native files: JSON lines `train.json`, `dev.json`, `test.json` with question, opa..opd, cop,
exp, subject_name, topic_name, id, choice_type. The test answers are not public, so
lm-evaluation-harness scores the validation split (dev.json) and so does `split=auto` here.

cop is off by one between the copies: 1-based in the raw files (1 = opa), 0-based on the hub
(openlifescienceai/medmcqa, 0 = opa). `exp` often states the answer: metadata only.
"""

from __future__ import annotations

from pathlib import Path

from medft.benchmarks.base import (
    BenchmarkData,
    BenchmarkSourceError,
    check_split,
    find_files,
    format_error,
    hub_rows,
    hub_source,
    read_json_lines,
    require_fields,
    require_folder_or_file,
)
from medft.data.describe import describe
from medft.data.records import Record

NAME = "medmcqa"
DEFAULT_HUB_ID = "openlifescienceai/medmcqa"
OPTION_KEYS = ("opa", "opb", "opc", "opd")
REQUIRED = ("question", *OPTION_KEYS, "cop")
VALIDATION_SIZE = 4183  # records in the full dev.json / hub validation split
NO_TEST = (
    "MedMCQA's test answers are not public; lm-evaluation-harness scores the validation split "
    "(dev.json): use benchmark.split=auto or benchmark.split=validation"
)


def file_split(path: Path) -> str | None:
    name = path.name.lower()
    for split, prefix in (("validation", "dev"), ("train", "train"), ("test", "test")):
        if name.startswith(prefix):
            return split
    return None


def _record(obj, where: str, source: str, line: int | None, base: int) -> Record:
    """`base` is what cop counts from: 1 in the raw files, 0 on the hub."""
    require_fields(obj, REQUIRED, where, "MedMCQA")
    empty = [k for k in OPTION_KEYS if obj[k] is None]
    if empty:
        raise format_error(where, f"too few options: {empty} null", "four options opa..opd")
    if not isinstance(obj["question"], str) or not obj["question"].strip():
        raise format_error(where, f"question is {describe(obj['question'])}", "a non-empty string")
    cop = obj["cop"]
    if not isinstance(cop, int) or isinstance(cop, bool) or not base <= cop < base + 4:
        copy = "raw file, 1 = opa" if base == 1 else "hub copy, 0 = opa"
        raise format_error(
            where,
            f"cop is {describe(cop)} outside {base}..{base + 3}",
            f"an integer {base}..{base + 3} ({copy}; the raw files count from 1, the hub from 0)",
        )
    options = tuple(str(obj[k]) for k in OPTION_KEYS)
    index = cop - base
    metadata = {
        "id": str(obj.get("id") or ""),
        "subject": obj.get("subject_name"),
        "explanation": obj.get("exp"),
        "topic": obj.get("topic_name"),
        "choice_type": obj.get("choice_type"),
        "source": source,
    }
    if line is not None:
        metadata["line"] = line
    return Record(
        question=obj["question"], answer=options[index], options=options, answer_index=index, metadata=metadata
    )


def _check_ids(records: list[Record], where_of) -> None:
    seen: dict[str, int] = {}
    for i, record in enumerate(records):
        record_id = record.metadata["id"]
        if not record_id:
            raise format_error(where_of(i), "no 'id'", "each record's id")
        if record_id in seen:
            # the id is not quoted: a user's ids can be record numbers (MRN)
            raise format_error(where_of(i), f"its id repeats the id at {where_of(seen[record_id])}", "unique ids")
        seen[record_id] = i


def read_jsonl(path: Path) -> list[Record]:
    rows = read_json_lines(path, "MedMCQA")
    records = [_record(obj, where, str(path), line_no, base=1) for line_no, where, obj in rows]
    _check_ids(records, lambda i: f"{path}:{rows[i][0]}")
    return records


def _pick(root: Path, split: str) -> Path | None:
    pattern = {"validation": "dev*.json", "train": "train*.json", "test": "test*.json"}[split]
    found = find_files(root, (pattern,))
    if len(found) > 1:
        raise BenchmarkSourceError(
            f"{NAME}: several {pattern} under {root}: {[str(p) for p in found]}; pass the one to use as the path"
        )
    return found[0] if found else None


def _subset_note(split: str, records: list[Record]) -> list[str]:
    if split == "validation" and len(records) != VALIDATION_SIZE:
        return [
            f"validation file holds {len(records)} records; the full MedMCQA validation split has "
            f"{VALIDATION_SIZE}: scores are on a subset"
        ]
    return []


def _load_local(path: Path, split: str) -> BenchmarkData:
    if path.is_file():
        named = file_split(path) or "all"
        if split not in ("auto", "all", named):
            what = f"the {named} file" if named != "all" else "not named dev*/train*"
            raise BenchmarkSourceError(
                f"{NAME}: {path} is {what} (by its name), so split={split} cannot come from it; pass benchmark.split=auto "
                "or benchmark.split=all (dataset.source_split=all when training), or the folder holding dev.json and train.json"
            )
        records = read_jsonl(path)
        notes = _subset_note(named, records)
        if named == "all":
            notes.append(f"{path.name} names no split: evaluated all {len(records)} of its records (split=all)")
        siblings = sorted(path.parent.glob("train*.json"))
        train_file = siblings[0] if named != "train" and len(siblings) == 1 else None
        pool = records if named == "train" else (read_jsonl(train_file) if train_file else [])
        return BenchmarkData(NAME, records, named, str(path), fewshot_pool=pool, notes=notes)
    if split == "all":  # every file with public answers
        chosen_files = [p for p in (_pick(path, "validation"), _pick(path, "train")) if p]
        if not chosen_files:
            raise BenchmarkSourceError(f"{NAME}: no dev*.json or train*.json under {path} (searched recursively)")
        records = [r for p in chosen_files for r in read_jsonl(p)]
        return BenchmarkData(
            NAME,
            records,
            "all",
            ", ".join(map(str, chosen_files)),
            notes=[f"split=all: {', '.join(p.name for p in chosen_files)} together"],
        )
    split = "validation" if split == "auto" else split
    chosen = _pick(path, split)
    if chosen is None:
        raise BenchmarkSourceError(
            f"{NAME}: no {'dev' if split == 'validation' else split}*.json under {path} (searched recursively)"
        )
    records = read_jsonl(chosen)
    train_file = None if split == "train" else _pick(path, "train")
    pool = records if split == "train" else (read_jsonl(train_file) if train_file else [])
    return BenchmarkData(NAME, records, split, str(chosen), fewshot_pool=pool, notes=_subset_note(split, records))


def _hub_split(hub_id: str, hub_config: str | None, split: str) -> list[Record]:
    source = hub_source(hub_id, hub_config, split)
    records = [
        _record(dict(row), f"{source} row {i}", source, None, base=0)
        for i, row in enumerate(hub_rows(NAME, hub_id, hub_config, split))
    ]
    _check_ids(records, lambda i: f"{source} row {i}")
    return records


def load(
    path: str | None, split: str = "auto", hub_id: str | None = None, hub_config: str | None = None
) -> BenchmarkData:
    check_split(NAME, split, ("auto", "validation", "dev", "train", "all", "test"))
    if split == "test":
        raise BenchmarkSourceError(f"{NAME}: {NO_TEST}")
    split = "validation" if split == "dev" else split
    if path is not None:
        return _load_local(require_folder_or_file(path, NAME), split)
    hub_id = hub_id or DEFAULT_HUB_ID
    if split == "all":
        raise BenchmarkSourceError(f"{NAME}: the all split reads a local file; from {hub_id} use validation or train")
    split = "validation" if split == "auto" else split
    records = _hub_split(hub_id, hub_config, split)
    pool = records if split == "train" else _hub_split(hub_id, hub_config, "train")
    return BenchmarkData(
        NAME,
        records,
        split,
        hub_source(hub_id, hub_config, split),
        fewshot_pool=pool,
        notes=_subset_note(split, records),
    )
