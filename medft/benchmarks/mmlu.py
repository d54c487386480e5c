"""MMLU's six medical subjects (Hendrycks et al. 2021), as the Open Medical-LLM Leaderboard uses.

Native files: header-less CSVs (question, A, B, C, D, answer letter) in the original tarball's
layout `data/{dev,val,test}/{subject}_{split}.csv`; fields hold commas, quotes and newlines, so
they are read with the csv module. `dev` holds five items per subject: lm-evaluation-harness
takes the first k of the same subject as few-shot examples (sampler first_n), never random ones.
Hub: cais/mmlu, one config per subject (question, subject, choices, answer 0-based).
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from medft.benchmarks.base import (
    BenchmarkData,
    BenchmarkSourceError,
    check_split,
    format_error,
    hub_rows,
    hub_source,
    read_text,
    require_folder_or_file,
)
from medft.data.describe import describe
from medft.data.records import LETTERS, Record

NAME = "mmlu_medical"
DEFAULT_HUB_ID = "cais/mmlu"
MEDICAL_SUBJECTS = (
    "anatomy",
    "clinical_knowledge",
    "college_biology",
    "college_medicine",
    "medical_genetics",
    "professional_medicine",
)
FILE_SPLITS = {"test": "test", "validation": "val", "dev": "dev"}  # split -> the file-name suffix
HUB_SPLITS = {"test": "test", "validation": "validation", "dev": "dev"}
_FILE_NAME = re.compile(r"^(?P<subject>.+)_(?P<suffix>dev|val|test)\.csv$")


def _record(
    question, options, answer_index: int, subject: str, split: str, i: int, where: str, source: str, line: int | None
) -> Record:
    if not isinstance(question, str) or not question.strip():
        raise format_error(where, f"question is {describe(question)}", "a non-empty string")
    metadata = {"id": f"{subject}-{split}-{i}", "subject": subject, "source": source}
    if line is not None:
        metadata["line"] = line
    return Record(
        question=question,
        answer=options[answer_index],
        options=tuple(options),
        answer_index=answer_index,
        metadata=metadata,
    )


def read_csv(path: Path, subject: str, split: str) -> list[Record]:
    """One subject's CSV; `line` is where each row starts (rows may span lines)."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    records, start = [], 1
    try:
        for row in reader:
            where, line = f"{path}:{start}", start
            start = reader.line_num + 1
            if not row or not any(field.strip() for field in row):
                continue
            if len(row) != 6:
                problem = "too few options" if len(row) < 6 else "too many fields"
                raise format_error(
                    where,
                    f"{problem}: {len(row)} fields",
                    "6 comma-separated fields: question, A, B, C, D, answer letter (no header)",
                )
            letter = row[5].strip()
            if letter not in LETTERS[:4]:
                raise format_error(
                    where, f"answer ({describe(row[5])}) is not a letter A-D", "A, B, C or D in the last field"
                )
            records.append(
                _record(row[0], row[1:5], LETTERS.index(letter), subject, split, len(records), where, str(path), line)
            )
    except csv.Error as err:
        raise format_error(f"{path}:{reader.line_num}", f"unreadable CSV ({err})", "RFC 4180 CSV") from None
    if not records:
        raise format_error(str(path), "no records", "MMLU CSV rows")
    return records


def _parse_name(path: Path) -> tuple[str, str]:
    """(subject, split) from `{subject}_{dev|val|test}.csv`; an unnamed file is split all."""
    match = _FILE_NAME.match(path.name)
    if not match:
        return path.stem, "all"
    suffix = match["suffix"]
    return match["subject"], {v: k for k, v in FILE_SPLITS.items()}[suffix]


def _index(root: Path) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for path in sorted(root.rglob("*.csv")):
        if path.name in index:
            raise BenchmarkSourceError(
                f"{NAME}: {path.name} twice under {root} ({index[path.name]}, {path}); pass the folder holding one copy"
            )
        index[path.name] = path
    return index


def _files(index: dict[str, Path], subjects, split: str) -> tuple[list[Path], list[str]]:
    names = [f"{s}_{FILE_SPLITS[split]}.csv" for s in subjects]
    return [index[n] for n in names if n in index], [n for n in names if n not in index]


def _read_all(files: list[Path]) -> list[Record]:
    return [r for p in files for r in read_csv(p, *_parse_name(p))]


def _load_file(path: Path, split: str) -> BenchmarkData:
    subject, named = _parse_name(path)
    if split not in ("auto", "all", named):
        what = f"the {named} file" if named != "all" else "not named <subject>_<dev|val|test>.csv"
        raise BenchmarkSourceError(
            f"{NAME}: {path} is {what} (by its name), so split={split} cannot come "
            "from it; pass benchmark.split=auto or benchmark.split=all (dataset.source_split=all when training), "
            "or the data/ folder of the MMLU tarball"
        )
    records = read_csv(path, subject, named)
    notes = (
        []
        if named != "all"
        else [
            f"{path.name} names no split: all {len(records)} rows (split=all), subject {subject!r} from the file name"
        ]
    )
    dev = next(
        (
            p
            for p in (path.parent / f"{subject}_dev.csv", path.parent.parent / "dev" / f"{subject}_dev.csv")
            if p.is_file()
        ),
        None,
    )
    pool = records if named == "dev" else (read_csv(dev, subject, "dev") if dev else [])
    if not pool:
        notes.append(f"no {subject}_dev.csv next to {path}: no few-shot examples")
    return BenchmarkData(NAME, records, named, str(path), fewshot_pool=pool, fewshot_sampler="first_n", notes=notes)


def _load_folder(root: Path, split: str, subjects: tuple[str, ...]) -> BenchmarkData:
    index = _index(root)
    notes: list[str] = []
    if split == "auto":
        split = "test" if _files(index, subjects, "test")[0] else "validation"
        if split == "validation" and not _files(index, subjects, "validation")[0]:
            raise BenchmarkSourceError(
                f"{NAME}: none of {', '.join(f'{s}_test.csv' for s in subjects)} (or their *_val.csv) under {root} "
                "(searched recursively for the tarball's data/test/<subject>_test.csv)"
            )
        if split == "validation":
            notes.append(f"no *_test.csv of {list(subjects)} under {root}: evaluated the val split")
    wanted = ("test", "validation", "dev") if split == "all" else (split,)
    files: list[Path] = []
    for part in wanted:
        found, missing = _files(index, subjects, part)
        if missing:
            raise BenchmarkSourceError(
                f"{NAME}: no {', '.join(missing)} under {root} (searched recursively for "
                f"the tarball's data/{FILE_SPLITS[part]}/<subject>_{FILE_SPLITS[part]}.csv)"
            )
        files += found
    records = _read_all(files)
    dev_files, dev_missing = _files(index, subjects, "dev")
    pool = _read_all(dev_files)
    if dev_missing:
        notes.append(f"few-shot pool lacks {', '.join(dev_missing)}")
    return BenchmarkData(NAME, records, split, str(root), fewshot_pool=pool, fewshot_sampler="first_n", notes=notes)


def _from_hub(rows, subject: str, split: str, source: str) -> list[Record]:
    records = []
    for i, row in enumerate(rows):
        where = f"{source} row {i}"
        choices, answer = row.get("choices"), row.get("answer")
        if not isinstance(choices, list) or len(choices) != 4:
            raise format_error(where, f"choices is {describe(choices)}", "a list of 4 option texts")
        if not isinstance(answer, int) or isinstance(answer, bool) or not 0 <= answer < 4:
            raise format_error(where, f"answer is {describe(answer)}", "a 0-based index 0..3")
        records.append(
            _record(row.get("question"), [str(c) for c in choices], answer, subject, split, i, where, source, None)
        )
    return records


def load(
    path: str | None,
    split: str = "auto",
    hub_id: str | None = None,
    hub_config: str | None = None,
    subjects: tuple[str, ...] = MEDICAL_SUBJECTS,
) -> BenchmarkData:
    check_split(NAME, split, ("auto", "test", "validation", "dev", "all"))
    subjects = tuple(subjects)
    if path is not None:
        resolved = require_folder_or_file(path, NAME)
        return _load_file(resolved, split) if resolved.is_file() else _load_folder(resolved, split, subjects)
    hub_id = hub_id or DEFAULT_HUB_ID
    if split == "all":
        raise BenchmarkSourceError(f"{NAME}: the all split reads local CSVs; from {hub_id} use test, validation or dev")
    split = "test" if split == "auto" else split
    if hub_config:  # one subject's config
        subjects = (hub_config,)
    records, pool = [], []
    for subject in subjects:
        source = hub_source(hub_id, subject, HUB_SPLITS[split])
        records += _from_hub(hub_rows(NAME, hub_id, subject, HUB_SPLITS[split]), subject, split, source)
        if split != "dev":
            dev_source = hub_source(hub_id, subject, "dev")
            pool += _from_hub(hub_rows(NAME, hub_id, subject, "dev"), subject, "dev", dev_source)
    if split == "dev":
        pool = records
    return BenchmarkData(
        NAME,
        records,
        split,
        f"{hub_id} ({', '.join(subjects)}) split {HUB_SPLITS[split]}",
        fewshot_pool=pool,
        fewshot_sampler="first_n",
    )
