"""MIMIC clinical notes (credentialed PhysioNet access) -> plain-text note Records.

Two layouts, read with the csv module (notes hold quoted newlines), streamed (NOTEEVENTS.csv
is ~4 GB):
- MIMIC-III NOTEEVENTS.csv: ROW_ID, SUBJECT_ID, HADM_ID, CHARTDATE, CHARTTIME, STORETIME,
  CATEGORY, DESCRIPTION, CGID, ISERROR, TEXT. Rows with ISERROR=1 (a physician marked the note
  as wrong) are dropped.
- MIMIC-IV-Note discharge.csv (and radiology.csv): note_id, subject_id, hadm_id, note_type,
  note_seq, charttime, storetime, text.
`dataset.note_categories` keeps only some CATEGORY / note_type values (e.g. ["Discharge
summary"]); empty keeps all. Splits are by patient (a hash of SUBJECT_ID), so no patient's
notes are both trained on and tested.

Every note passes through the PHI hook (`phi_hook`) before it becomes a Record. MIMIC text is
de-identified already ([** ... **] marks), but a user's own export may not be: the hook scans
with medft.data.phi when that module exists and logs kinds and counts (never the text); the
refuse / scrub policy is the run-level guard's (medft.data.phi_guard, which treats
dataset.kind=mimic_notes as notes).
"""

from __future__ import annotations

import csv
import hashlib
import logging
import sys
from collections import Counter
from pathlib import Path

from medft.data import phi
from medft.data.jsonl import DataFormatError
from medft.data.records import Record
from medft.data.utf8 import open_utf8

log = logging.getLogger(__name__)

LAYOUTS = {  # layout -> (id, patient, category, text) columns; the rest is kept in metadata
    "mimic3": ("ROW_ID", "SUBJECT_ID", "CATEGORY", "TEXT"),
    "mimic4": ("note_id", "subject_id", "note_type", "text"),
}


def phi_hook(records: list[Record], source: str) -> list[Record]:
    """Pass notes through the project's PHI scanner when it is installed; report kinds and counts only."""
    try:
        pass
    except ImportError:
        log.warning(
            "%s: no PHI scanner in this installation (medft.data.phi): the notes are used as they are; "
            "MIMIC's own text is de-identified, anything else must be before training",
            source,
        )
        return records
    kinds: Counter = Counter()
    notes_with_phi = 0
    for record in records:
        found = phi.count_kinds(phi.scan(record.answer))
        kinds.update(found)
        notes_with_phi += bool(found)
    log.info(
        "%s: PHI scan of %d notes: %d hold identifier-like spans %s (the run's PHI guard decides)",
        source,
        len(records),
        notes_with_phi,
        dict(kinds),
    )
    return records


def _layout(header: list[str], path: Path) -> str:
    for name, columns in LAYOUTS.items():
        if set(columns) <= set(header):
            return name
    # The first row is not quoted: in a file without a header it is a note.
    raise DataFormatError(
        f"{path}:1: not a MIMIC note file: its first row ({len(header)} fields) lacks MIMIC-III "
        f"NOTEEVENTS columns {list(LAYOUTS['mimic3'])} and MIMIC-IV note columns "
        f"{list(LAYOUTS['mimic4'])}; give the file with its header row"
    )


def read_notes(
    path: str | Path, categories: list[str] | tuple[str, ...] = (), max_notes: int | None = None, min_chars: int = 1
) -> list[Record]:
    """Notes of a NOTEEVENTS.csv / discharge.csv file as Records (answer = the note text)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataFormatError(
            f"dataset.path: no such file: {path}. Give NOTEEVENTS.csv (MIMIC-III) or "
            "discharge.csv (MIMIC-IV-Note): dataset.path=/path/to/NOTEEVENTS.csv"
        )
    csv.field_size_limit(sys.maxsize)  # one note can exceed csv's 128 kB default
    wanted = {c.lower() for c in categories}
    # Streamed: rows are parsed as the file is read and reading stops at max_notes, so memory
    # holds the notes kept, not the file (the whole 4 GB NOTEEVENTS.csv decoded would need ~19 GB).
    with open_utf8(path, DataFormatError) as handle:
        reader = csv.DictReader(handle)
        try:
            records, layout = _read_rows(reader, path, wanted, max_notes, min_chars)
        except csv.Error as err:  # csv's messages name the problem, never the field's text
            raise DataFormatError(
                f"{path}:{reader.line_num}: unreadable CSV ({err}); MIMIC files are RFC 4180 CSV with quoted notes"
            ) from None
    if not records:
        raise DataFormatError(f"{path}: no notes left (categories {sorted(wanted) or 'all'}, ISERROR rows dropped)")
    log.info(
        "%s (%s layout): %d notes of %d patients",
        path,
        layout,
        len(records),
        len({r.metadata["patient"] for r in records}),
    )
    return phi_hook(records, str(path))


def _read_rows(
    reader: csv.DictReader, path: Path, wanted: set[str], max_notes: int | None, min_chars: int
) -> tuple[list[Record], str]:
    """The notes of `reader`'s rows, stopping at `max_notes`; (notes, layout)."""
    records: list[Record] = []
    layout = _layout(reader.fieldnames or [], path)
    id_col, patient_col, category_col, text_col = LAYOUTS[layout]
    for row in reader:
        line = reader.line_num  # the line the row ends on (notes span lines)
        if None in row or any(row.get(c) is None for c in (id_col, patient_col, text_col)):
            raise DataFormatError(
                f"{path}:{line}: row has {len(row)} fields for a {len(reader.fieldnames)}-column "
                "header (a broken quote?)"
            )
        if layout == "mimic3" and (row.get("ISERROR") or "").strip() == "1":
            continue
        if wanted and (row.get(category_col) or "").strip().lower() not in wanted:
            continue
        text = row[text_col].strip()
        if not row[patient_col].strip():
            raise DataFormatError(f"{path}:{line}: empty {patient_col}: notes are split by patient")
        if len(text) < min_chars:
            continue
        records.append(
            Record(
                question="",
                answer=text,
                metadata={
                    "plain_text": True,
                    "note_id": row[id_col],
                    "patient": row[patient_col].strip(),
                    "category": (row.get(category_col) or "").strip(),
                    "source": f"{path.name}:{line}",
                },
            )
        )
        if max_notes and len(records) >= max_notes:
            break
    return records, layout


def split_by_patient(
    records: list[Record], validation_fraction: float, test_fraction: float, seed: int
) -> dict[str, list[Record]]:
    """Train / validation / test by a seeded hash of the patient: a patient's notes stay together."""
    splits: dict[str, list[Record]] = {"train": [], "validation": [], "test": []}
    for record in records:
        digest = hashlib.sha256(f"{seed}:{record.metadata['patient']}".encode()).digest()
        u = int.from_bytes(digest[:8], "big") / 2**64
        name = "test" if u < test_fraction else "validation" if u < test_fraction + validation_fraction else "train"
        splits[name].append(record)
    return splits
