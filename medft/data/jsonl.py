"""A user's own JSONL file -> canonical Records, failing on the first bad line with its number."""

from __future__ import annotations

import json
from pathlib import Path

from medft.config.errors import UserError
from medft.data.records import LETTERS, Record
from medft.data.utf8 import read_utf8

ACCEPTED_SHAPES = (
    '{"prompt": str, "response": str}, '
    '{"messages": [{"role": ..., "content": ...}, ..., {"role": "assistant", ...}]}, or '
    '{"question": str, "options": [str, ...], "answer": index | letter | option text}'
)


class DataFormatError(UserError, ValueError):
    """A data file that cannot be read; the message names the file, line and key."""


def _fail(path: Path, line_no: int, problem: str) -> DataFormatError:
    return DataFormatError(f"{path}:{line_no}: {problem}. Each line must be one of {ACCEPTED_SHAPES}.")


def _answer_index(raw, options: list[str], path: Path, line_no: int) -> int:
    if isinstance(raw, bool):
        raise _fail(path, line_no, "'answer' is a boolean")
    if isinstance(raw, int) and 0 <= raw < len(options):
        return raw
    if isinstance(raw, str) and len(raw) == 1 and raw.upper() in LETTERS[: len(options)]:
        return LETTERS.index(raw.upper())
    if isinstance(raw, str) and raw in options:
        return options.index(raw)
    raise _fail(path, line_no, f"'answer' {raw!r} is not an option index, letter or option text")


def _from_messages(obj: dict, path: Path, line_no: int) -> Record:
    messages = obj["messages"]
    if not isinstance(messages, list) or not messages:
        raise _fail(path, line_no, "'messages' must be a non-empty list")
    turns = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not {"role", "content"} <= message.keys():
            raise _fail(path, line_no, f"'messages[{i}]' needs 'role' and 'content'")
        turns.append((str(message["role"]), str(message["content"])))
    if turns[-1][0] != "assistant" or len(turns) < 2 or turns[-2][0] != "user":
        raise _fail(path, line_no, "'messages' must end with a user turn then an assistant turn")
    # A system turn in the data replaces the default system prompt for this record only.
    system = [content for role, content in turns[:-2] if role == "system"]
    history = tuple((r, c) for r, c in turns[:-2] if r != "system")
    return Record(
        question=turns[-2][1], answer=turns[-1][1], history=history,
        metadata={"line": line_no, **({"system": system[0]} if system else {})},
    )


def parse_line(obj, path: Path, line_no: int) -> Record:
    if not isinstance(obj, dict):
        raise _fail(path, line_no, f"expected a JSON object, got {type(obj).__name__}")
    if "messages" in obj:
        return _from_messages(obj, path, line_no)
    if "options" in obj:
        missing = [k for k in ("question", "answer") if k not in obj]
        if missing:
            raise _fail(path, line_no, f"multiple-choice item lacks {missing}")
        options = obj["options"]
        if isinstance(options, dict):  # {"A": ..., "B": ...} as in MedQA
            options = [options[k] for k in sorted(options)]
        if not isinstance(options, list) or len(options) < 2:
            raise _fail(path, line_no, "'options' must be a list of at least 2 strings")
        options = [str(o) for o in options]
        index = _answer_index(obj["answer"], options, path, line_no)
        return Record(
            question=str(obj["question"]), answer=options[index], options=tuple(options),
            answer_index=index, context=str(obj.get("context") or ""), metadata={"line": line_no},
        )
    missing = [k for k in ("prompt", "response") if not isinstance(obj.get(k), str) or not obj.get(k)]
    if missing:
        raise _fail(path, line_no, f"missing or empty {missing} (keys found: {sorted(obj)})")
    return Record(question=obj["prompt"], answer=obj["response"], metadata={"line": line_no})


def read_json_lines(path: str | Path, parse, fail, example: str, what: str = "records") -> list[Record]:
    """Every non-blank line of `path` parsed by `parse(obj, path, line_no)`; errors name file:line
    (`fail` builds them with the format's own description of a valid line)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataFormatError(
            f"dataset.path: no such file: {path} (resolved to {path.resolve()}). "
            f"Give an existing file: dataset.path=/path/to/{example}"
        )
    records, id_lines = [], {}
    # split("\n"), not splitlines(): a U+2028 inside a JSON string is not a line break
    for line_no, line in enumerate(read_utf8(path, DataFormatError).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise fail(path, line_no, f"invalid JSON ({err.msg} at column {err.colno})") from None
        records.append(parse(obj, path, line_no))
        record_id = obj.get("id")  # optional; when lines carry ids, one id is one example
        if record_id is not None:
            key = json.dumps(record_id, sort_keys=True)
            if key in id_lines:
                raise DataFormatError(f"{path}:{line_no}: duplicate id {record_id!r} (first on line {id_lines[key]}); "
                                      "give each line its own id, or drop the repeated line")
            id_lines[key] = line_no
    if not records:
        raise DataFormatError(f"{path}: the file has no {what}")
    return records


def load_jsonl(path: str | Path) -> list[Record]:
    return read_json_lines(path, parse_line, _fail, "data.jsonl")
