"""MedQuAD (Ben Abacha and Demner-Fushman 2019): consumer health questions with free-text answers.

Native file: a CSV with the columns qtype, Question, Answer, as the hub copy
keivalya/MedQuad-MedicalQnADataset (one split, train). MedQuAD has no official split, and one
condition (the question's focus) is asked about in up to ~30 templated ways with overlapping
answers, so a random split would leak. medft splits by focus instead: a stable hash (sha256) of
the focus puts ~10% of foci in test, ~5% in validation and the rest in train, so all questions
about one focus fall on one side.

The focus comes from the question templates below. On the real trainpool CSV (12,529 rows from
the GHR, GARD, CancerGov and MedlinePlus sources) the 15 templates matched 12,529 of 12,529
questions (100%), giving 4,359 distinct foci (2,317 of them asked once). A question that fits
no template is its own focus (its normalised text).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from pathlib import Path

from medft.benchmarks.base import (
    BenchmarkData,
    BenchmarkSourceError,
    check_split,
    find_files,
    format_error,
    hub_rows,
    hub_source,
    read_text,
    require_folder_or_file,
)
from medft.data.describe import describe
from medft.data.records import Record

NAME = "medquad"
DEFAULT_HUB_ID = "keivalya/MedQuad-MedicalQnADataset"
COLUMNS = ("qtype", "Question", "Answer")
TEST_FRACTION = 0.10
VALIDATION_FRACTION = 0.05

# Matched against the normalised question (lower case, single spaces, no trailing "?" or ".").
TEMPLATES = tuple(
    re.compile(f"^{pattern}$")
    for pattern in (
        r"what is \(are\) (?P<focus>.+)",
        r"what are the symptoms of (?P<focus>.+)",
        r"how to diagnose (?P<focus>.+)",
        r"what are the treatments for (?P<focus>.+)",
        r"is (?P<focus>.+) inherited",
        r"what causes (?P<focus>.+)",
        r"how many people are affected by (?P<focus>.+)",
        r"what are the genetic changes related to (?P<focus>.+)",
        r"who is at risk for (?P<focus>.+)",
        r"what is the outlook for (?P<focus>.+)",
        r"what research \(or clinical trials\) is being done for (?P<focus>.+)",
        r"how to prevent (?P<focus>.+)",
        r"what are the stages of (?P<focus>.+)",
        r"what to do for (?P<focus>.+)",
        r"do you have information about (?P<focus>.+)",
        # In the full MedQuAD (NIDDK, NINDS, NIHSeniorHealth sources), not in the trainpool copy:
        r"what are the complications of (?P<focus>.+)",
        r"where to find support for people with (?P<focus>.+)",
    )
)


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower().rstrip(" ?.!").strip()


def extract_focus(question: str) -> tuple[str, bool]:
    """(focus, whether a template matched); e.g. 'What causes Gout ?' -> ('gout', True)."""
    normalised = _normalise(question)
    for template in TEMPLATES:
        match = template.match(normalised)
        if match:
            focus = match["focus"].strip(" ?.,;:!")
            if focus:
                return focus, True
    return normalised, False


def focus_split(focus: str) -> str:
    """test | validation | train, fixed by the focus text alone (sha256; not Python's salted hash)."""
    digest = hashlib.sha256(focus.encode("utf-8")).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    if position < TEST_FRACTION:
        return "test"
    return "validation" if position < TEST_FRACTION + VALIDATION_FRACTION else "train"


def split_by_focus(records: list[Record]) -> dict[str, list[Record]]:
    splits: dict[str, list[Record]] = {"train": [], "validation": [], "test": []}
    for record in records:
        splits[focus_split(record.metadata["focus"])].append(record)
    return splits


def _record(qtype, question, answer, where: str, source: str, record_id: str, line: int | None) -> Record:
    for column, value in zip(COLUMNS, (qtype, question, answer)):
        if not isinstance(value, str) or (column != "qtype" and not value.strip()):
            raise format_error(where, f"{column} is {describe(value)}", f"a non-empty {column} text")
    focus, _ = extract_focus(question)
    metadata = {"id": record_id, "qtype": qtype, "focus": focus, "source": source}
    if line is not None:
        metadata["line"] = line
    return Record(question=question.strip(), answer=answer.strip(), metadata=metadata)


def read_csv(path: Path) -> list[Record]:
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    try:
        header = next(reader)
        if [h.strip() for h in header] != list(COLUMNS):
            missing = [c for c in COLUMNS if c not in [h.strip() for h in header]]
            if missing:
                # the first row is not quoted: in a file without a header it is a record
                raise format_error(
                    f"{path}:1",
                    f"the header row ({len(header)} fields) lacks {missing}",
                    f"the header {','.join(COLUMNS)} (as keivalya/MedQuad-MedicalQnADataset)",
                )
        columns = [h.strip() for h in header]
        positions = [columns.index(c) for c in COLUMNS]
        records, start = [], reader.line_num + 1
        for row in reader:
            where, line = f"{path}:{start}", start
            start = reader.line_num + 1
            if not row or not any(field.strip() for field in row):
                continue
            if len(row) != len(header):
                raise format_error(where, f"{len(row)} fields", f"{len(header)} fields as in the header")
            records.append(_record(*(row[p] for p in positions), where, str(path), f"{path.name}:{line}", line))
    except csv.Error as err:
        raise format_error(f"{path}:{reader.line_num}", f"unreadable CSV ({err})", "RFC 4180 CSV") from None
    if not records:
        raise format_error(str(path), "no records after the header", "MedQuAD rows qtype,Question,Answer")
    return records


def _resolve(path: Path) -> Path:
    if path.is_file():
        return path
    found = find_files(path, ("*.csv",))
    if len(found) > 1:
        found = [p for p in found if "medquad" in p.name.lower()] or found
    if len(found) != 1:
        what = f"several CSVs {[str(p) for p in found]}" if found else "no *.csv"
        raise BenchmarkSourceError(
            f"{NAME}: {what} under {path} (searched recursively for the MedQuAD CSV "
            f"with columns {', '.join(COLUMNS)}); pass the file as the path"
        )
    return found[0]


def _select(records: list[Record], split: str, source: str) -> BenchmarkData:
    parts = split_by_focus(records)
    foci = {r.metadata["focus"] for r in records}
    matched = sum(extract_focus(r.question)[1] for r in records)
    notes = [
        f"MedQuAD has no official split: medft splits by focus (sha256; ~{TEST_FRACTION:.0%} of foci test, "
        f"~{VALIDATION_FRACTION:.0%} validation): {len(foci)} foci, {matched}/{len(records)} questions matched "
        f"a question template; {', '.join(f'{k} {len(v)}' for k, v in parts.items())} records"
    ]
    split = {"auto": "test", "dev": "validation"}.get(split, split)
    chosen = records if split == "all" else parts[split]
    if not chosen:
        raise BenchmarkSourceError(
            f"{NAME}: {source} has no {split} records after the focus split "
            f"({len(records)} records, {len(foci)} foci); use benchmark.split=all (dataset.source_split=all when training)"
        )
    pool = parts["train"] if split != "all" else []
    return BenchmarkData(NAME, chosen, split, source, fewshot_pool=pool, notes=notes)


def load(
    path: str | None, split: str = "auto", hub_id: str | None = None, hub_config: str | None = None
) -> BenchmarkData:
    check_split(NAME, split, ("auto", "test", "validation", "dev", "train", "all"))
    if path is not None:
        data_file = _resolve(require_folder_or_file(path, NAME))
        return _select(read_csv(data_file), split, str(data_file))
    hub_id = hub_id or DEFAULT_HUB_ID
    source = hub_source(hub_id, hub_config, "train")
    records = []
    for i, row in enumerate(hub_rows(NAME, hub_id, hub_config, "train")):
        missing = [c for c in COLUMNS if c not in row]
        if missing:
            raise format_error(f"{source} row {i}", f"missing {missing}", f"the columns {', '.join(COLUMNS)}")
        records.append(
            _record(row["qtype"], row["Question"], row["Answer"], f"{source} row {i}", source, f"train:{i}", None)
        )
    return _select(records, split, source)
