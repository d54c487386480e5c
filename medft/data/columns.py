"""The user's column names -> medft's canonical fields, and one table row -> one Record.

`dataset.columns.<field>` names the column that holds each canonical field (question, options,
answer, context, response, messages); an unset field reads the column of its own name. A row then
takes the shape of a JSONL line (medft.data.jsonl): messages, a multiple-choice item, or a free-text
pair. Errors name the file, its role, the column and the mapping key, and list the file's columns
(names, never values: a record's text may be patient data).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import replace

from medft.config.errors import UserError
from medft.data.jsonl import DataFormatError, parse_line
from medft.data.records import Record

FIELDS = ("question", "options", "answer", "context", "response", "messages")
FALLBACK = {"question": ("question", "prompt")}  # the JSONL prompt/response shape maps without setting anything


class ColumnError(UserError, KeyError):
    """A mapped column the file does not have, or no column for a field the records need."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


# Column names datasets commonly give each field: the suggestion in an error, never a silent mapping.
USUAL_NAMES = {
    "question": ("stem", "query", "input", "instruction", "sent1", "text"),
    "options": ("choices", "candidates", "endings"),
    "answer": ("label", "gold", "target", "correct", "answer_idx", "final_decision", "output"),
    "context": ("passage", "abstract", "document", "contexts", "note"),
    "response": ("output", "completion", "target", "answer"),
    "messages": ("conversations", "conversation", "dialog", "chat", "turns"),
}


def _suggest(field: str, wanted: str, available: list[str]) -> str:
    lower = {c.lower(): c for c in available}
    usual = next((lower[name] for name in USUAL_NAMES.get(field, ()) if name in lower), None)
    close = lower.get(wanted.lower()) or usual or next(iter(difflib.get_close_matches(wanted, available, 1, 0.5)), None)
    return close or "<column>"


def _missing(source: str, role: str, field: str, column: str, available: list[str], fix: str) -> ColumnError:
    key = f"dataset.columns.{field}"
    value = _suggest(field, column, available)
    return ColumnError(
        f"{source} ({role} file) has no column '{column}' for {field} ({key}); its columns: {available}. "
        f"Map yours by adding {key}=<your column> to the command, e.g. {fix} {key}={value}"
    )


def resolve_columns(mapping, available: list[str], source: str, role: str, fix: str) -> dict[str, str | list[str]]:
    """Canonical field -> the column(s) of this file that hold it; checks the shape is complete."""
    found: dict[str, str | list[str]] = {}
    for field in FIELDS:
        wanted = mapping.get(field)
        if wanted is None:
            present = [c for c in FALLBACK.get(field, (field,)) if c in available]
            if present:
                found[field] = present[0]
            continue
        columns = list(wanted) if field == "options" and not isinstance(wanted, str) else [str(wanted)]
        for column in columns:
            if column not in available:
                raise _missing(source, role, field, column, available, fix)
        found[field] = columns if field == "options" and not isinstance(wanted, str) else columns[0]
    if "messages" in found:
        return found
    need = [f for f in ("question",) if f not in found]
    if "answer" not in found and "response" not in found:
        need.append("answer")
    if need:
        field = need[0]
        raise _missing(source, role, field, field, available, fix)
    return found


def _text(value):
    """CSV and Parquet type a numeric cell: a free-text answer of "5" is still text."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _options(value):
    """A CSV cell holding a JSON list or object is that list or object."""
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def row_record(row: dict, found: dict, source: str, role: str, number: int) -> Record:
    """One row as a Record; a bad value fails naming `source`, the row number and the field."""
    obj: dict = {}
    if "messages" in found:
        obj["messages"] = row[found["messages"]]
    else:
        for field in ("question", "context", "answer", "response"):
            if field in found:
                obj[field] = row[found[field]]
        if "options" in found:
            cols = found["options"]
            obj["options"] = [row[c] for c in cols] if isinstance(cols, list) else _options(row[cols])
        if "options" not in obj:  # a free-text pair: the JSONL prompt/response shape
            target = obj.get("answer") if obj.get("answer") is not None else obj.get("response")
            obj = {"prompt": _text(obj["question"]), "response": _text(target), "context": obj.get("context")}
        elif "answer" not in obj and "response" in obj:
            obj["answer"] = obj.pop("response")
    try:
        record = parse_line(obj, source, number)
    except DataFormatError as err:
        problem = str(err).split(": ", 1)[-1].split(". Each line must be", 1)[0]
        raise DataFormatError(
            f"{source} record {number} ({role} file): {problem}; the fields come from the columns {found} "
            "(dataset.columns.<field> maps them)"
        ) from None
    meta = {k: v for k, v in record.metadata.items() if k != "line"}
    context = obj.get("context") if "prompt" in obj else None  # parse_line's free-text shape has no context
    return replace(
        record,
        context=str(context) if context is not None else record.context,
        metadata={**meta, "file": source, "record": number, "role": role},
    )
