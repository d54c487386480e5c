"""CMeEE (CBLUE's Chinese medical entity recognition) in its native JSON -> NER records.

The native file is one JSON array of `{"text": str, "entities": [{"start_idx", "end_idx",
"type", "entity"}]}` with nine types (below). Releases disagree on `end_idx`: CMeEE v1 files
make it inclusive (text[start:end + 1] == entity), other copies exclusive. The convention is
read from the data (`dataset.offsets=auto`): every entity is checked both ways, the one that
holds for all of a file's entities wins and is logged; an entity that fits neither, or a file
that mixes both, is an error naming the file, the record index and what differs. Offsets are
stored exclusive from then on (medft.data.entities.Entity).

Sources: a local file, a folder with the CBLUE file names (train and dev; the official test
file carries no labels), or a hub copy (`dataset.hub_id`) with the same fields.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from medft.data.describe import describe
from medft.data.entities import Entity
from medft.data.jsonl import DataFormatError
from medft.data.safe_json import JsonProblem, parse_json
from medft.data.utf8 import read_utf8

log = logging.getLogger(__name__)

TYPES = ("dis", "sym", "pro", "equ", "dru", "ite", "bod", "dep", "mic")
TYPE_NAMES = {  # the CBLUE paper's names, for prompts and reports
    "dis": "disease",
    "sym": "clinical symptom",
    "pro": "medical procedure",
    "equ": "medical equipment",
    "dru": "drug",
    "ite": "medical examination item",
    "bod": "body part",
    "dep": "department",
    "mic": "microorganism",
}
# CMeEE (v1) and CMeEE-V2 file names in a CBLUE folder: train -> train (+ validation), dev -> test.
FILES = {"train": ("CMeEE_train.json", "CMeEE-V2_train.json"), "dev": ("CMeEE_dev.json", "CMeEE-V2_dev.json")}
OFFSETS = ("auto", "inclusive", "exclusive")


@dataclass(frozen=True)
class NerDocument:
    text: str
    entities: tuple[Entity, ...]
    source: str  # file:index, for errors and provenance


def _fail(source: str, problem: str) -> DataFormatError:
    return DataFormatError(
        f"{source}: {problem}. CMeEE records are "
        '{"text": str, "entities": [{"start_idx": int, "end_idx": int, "type": str, "entity": str}]}'
    )


def _check_record(raw, source: str, types: tuple[str, ...]) -> tuple[str, list[dict]]:
    if not isinstance(raw, dict):
        raise _fail(source, f"expected an object, got {type(raw).__name__}")
    missing = [k for k in ("text", "entities") if k not in raw]
    if missing:
        hint = (
            " (CBLUE's test file has no labels: train on the train file, test on the dev file)"
            if missing == ["entities"]
            else ""
        )
        raise _fail(source, f"missing field(s) {missing}{hint}")
    text, entities = raw["text"], raw["entities"]
    if not isinstance(text, str) or not isinstance(entities, list):
        raise _fail(source, "'text' must be a string and 'entities' a list")
    for j, e in enumerate(entities):
        lacking = [k for k in ("start_idx", "end_idx", "type", "entity") if not isinstance(e, dict) or k not in e]
        if lacking:
            raise _fail(source, f"entities[{j}] lacks {lacking}")
        if e["type"] not in types:
            raise _fail(source, f"entities[{j}] has a type ({describe(e['type'])}) not one of {list(types)}")
        if not isinstance(e["start_idx"], int) or not isinstance(e["end_idx"], int):
            raise _fail(source, f"entities[{j}] offsets must be integers")
    return text, entities


def _fits(text: str, e: dict, inclusive: bool) -> bool:
    start, end = e["start_idx"], e["end_idx"] + (1 if inclusive else 0)
    return 0 <= start < end <= len(text) and text[start:end] == e["entity"]


def detect_offsets(rows: list[tuple[str, list[dict], str]], name: str) -> str:
    """'inclusive' or 'exclusive': the end_idx convention every entity of `rows` agrees with."""
    holds = {"inclusive": 0, "exclusive": 0}
    first_only: dict[str, str] = {}  # where each convention first held alone, for the error
    total = 0
    for text, entities, source in rows:
        for j, e in enumerate(entities):
            total += 1
            fits = {"inclusive": _fits(text, e, True), "exclusive": _fits(text, e, False)}  # never both
            if not any(fits.values()):  # neither text is quoted: both are patient text
                raise _fail(
                    source,
                    f"entities[{j}] ('entity', {describe(e['entity'])}) does not match its span "
                    f"[{e['start_idx']}, {e['end_idx']}] of 'text' ({len(text)} characters), with "
                    "end_idx inclusive or exclusive",
                )
            for key, ok in fits.items():
                holds[key] += ok
                if ok:
                    first_only.setdefault(key, f"{source} entities[{j}]")
    if total == 0:
        return "exclusive"
    for key in ("inclusive", "exclusive"):
        if holds[key] == total:
            return key
    raise DataFormatError(
        f"{name}: end_idx is inclusive for some entities (first: {first_only.get('inclusive')}) and "
        f"exclusive for others (first: {first_only.get('exclusive')}); fix the file or set "
        "dataset.offsets=inclusive|exclusive to find every record that breaks it"
    )


def parse_records(raw_records, name: str, offsets: str = "auto", types: tuple[str, ...] = TYPES) -> list[NerDocument]:
    """Native CMeEE rows (an iterable of dicts) -> documents with exclusive-end entities."""
    if offsets not in OFFSETS:
        raise DataFormatError(f"dataset.offsets={offsets!r} is not one of {list(OFFSETS)}")
    rows = []
    for index, raw in enumerate(raw_records):
        source = f"{name}[{index}]"
        rows.append((*_check_record(raw, source, types), source))
    convention = detect_offsets(rows, name) if offsets == "auto" else offsets
    if offsets == "auto":
        log.info("%s: end_idx is %s (detected from all %d entities)", name, convention, sum(len(e) for _, e, _ in rows))
    inclusive = convention == "inclusive"
    documents = []
    for text, entities, source in rows:
        placed = []
        for j, e in enumerate(entities):
            if not _fits(text, e, inclusive):
                raise _fail(
                    source,
                    f"entities[{j}] ('entity', {describe(e['entity'])}) does not match "
                    f"text[{e['start_idx']}:{e['end_idx'] + inclusive}] with end_idx {convention}",
                )
            end = e["end_idx"] + (1 if inclusive else 0)
            placed.append(Entity(e["start_idx"], end, e["type"], e["entity"]))
        documents.append(NerDocument(text, tuple(placed), source))
    return documents


def _read_json_array(path: Path):
    try:
        data = parse_json(read_utf8(path, DataFormatError))
    except JsonProblem as err:
        raise DataFormatError(f"{path}{f':{err.line}' if err.line else ''}: {err.problem}") from None
    if not isinstance(data, list):
        raise DataFormatError(f"{path}: expected a JSON array of records (CBLUE's layout), got {type(data).__name__}")
    return data


def load_cmeee(
    path: str | None = None, hub_id: str | None = None, offsets: str = "auto"
) -> dict[str, list[NerDocument]]:
    """{'train': [...], 'dev': [...]} (dev only when present) from a file, a CBLUE folder or a hub copy."""
    if hub_id and not path:
        from datasets import load_dataset

        splits = load_dataset(hub_id)  # a DatasetDict; its dev part is called validation or dev
        documents = {"train": parse_records(splits["train"], f"{hub_id}:train", offsets)}
        dev = next((name for name in ("validation", "dev") if name in splits), None)
        if dev:
            documents["dev"] = parse_records(splits[dev], f"{hub_id}:{dev}", offsets)
        return documents
    if not path:
        raise DataFormatError(
            "dataset.path: give a CMeEE JSON file or a CBLUE folder, or dataset.hub_id for a hub copy"
        )
    root = Path(path).expanduser()
    if root.is_file():
        return {"train": parse_records(_read_json_array(root), str(root), offsets)}
    if not root.is_dir():
        raise DataFormatError(f"dataset.path: no such file or folder: {root}")
    documents = {}
    for part, names in FILES.items():
        found = [root / n for n in names if (root / n).is_file()]
        if found:
            documents[part] = parse_records(_read_json_array(found[0]), str(found[0]), offsets)
    if "train" not in documents:
        raise DataFormatError(f"{root}: no {' or '.join(FILES['train'])} in this folder")
    return documents
