"""A user's own JSONL file -> canonical Records, failing on the first bad line with its number.

A turn's `content` is a string or OpenAI's list of content parts, whose text parts are joined
with newlines; an image or audio part is refused (medft trains text models), and so is
`content: null`: OpenAI writes null only for a tool-calling turn, which has nothing to train on,
so a null is a broken export rather than an absent turn. Errors name the file, line and field
and describe a bad value without quoting it (medft.data.describe): the text may be patient data.
"""

from __future__ import annotations

import json
from pathlib import Path

from medft.config.errors import UserError
from medft.data.answer_options import RecordProblem, answer_index, ordered_options
from medft.data.describe import describe
from medft.data.records import Record
from medft.data.safe_json import JsonProblem, parse_json
from medft.data.utf8 import read_utf8

ACCEPTED_SHAPES = (
    '{"prompt": str, "response": str}, '
    '{"messages": [{"role": "system" | "user" | "assistant", "content": str | [{"type": "text", "text": str}]}, '
    '..., {"role": "assistant", ...}]}, or '
    '{"question": str, "options": [str, ...] | {"A": str, ...}, "answer": index | letter | option text}'
)
ROLES = ("system", "user", "assistant")
NON_TEXT_PARTS = ("image_url", "image", "input_image", "input_audio", "audio", "file", "video")


class DataFormatError(UserError, ValueError):
    """A data file that cannot be read; the message names the file, line and key."""


def _fail(path: Path, line_no: int, problem: str) -> DataFormatError:
    return DataFormatError(f"{path}:{line_no}: {problem}. Each line must be one of {ACCEPTED_SHAPES}.")


def _content(content, where: str) -> str:
    """A turn's text: a string, or OpenAI's content parts [{"type": "text", "text": ...}] joined by newlines."""
    if isinstance(content, str):
        if not content.strip():
            raise RecordProblem(f"'{where}' is an empty string; every turn needs its text")
        return content
    if isinstance(content, list) and content:
        texts = []
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind in NON_TEXT_PARTS:
                raise RecordProblem(
                    f"'{where}[{j}]' is an {kind} part; medft trains on text only: drop the part "
                    "(or the record), or describe the image in a text part"
                )
            if kind != "text" or not isinstance(part.get("text"), str):
                raise RecordProblem(
                    f'\'{where}[{j}]\' is {describe(part)}, not a text part {{"type": "text", "text": str}}'
                )
            texts.append(part["text"])
        return _content("\n".join(texts), where)
    raise RecordProblem(
        f"'{where}' is {describe(content)}; give the turn's text as a string or a list of "
        '{"type": "text", "text": str} parts'
    )


def _from_messages(obj: dict, path: Path, line_no: int) -> Record:
    messages = obj["messages"]
    if not isinstance(messages, list) or not messages:
        raise _fail(path, line_no, "'messages' must be a non-empty list")
    turns = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not {"role", "content"} <= message.keys():
            raise _fail(path, line_no, f"'messages[{i}]' needs 'role' and 'content'")
        if message["role"] not in ROLES:
            raise _fail(path, line_no, f"'messages[{i}].role' is {describe(message['role'])}; use one of {list(ROLES)}")
        try:
            turns.append((message["role"], _content(message["content"], f"messages[{i}].content")))
        except RecordProblem as err:
            raise _fail(path, line_no, str(err)) from None
    if turns[-1][0] != "assistant" or len(turns) < 2 or turns[-2][0] != "user":
        raise _fail(path, line_no, "'messages' must end with a user turn then an assistant turn")
    # A system turn in the data replaces the default system prompt for this record only.
    system = [content for role, content in turns[:-2] if role == "system"]
    history = tuple((r, c) for r, c in turns[:-2] if r != "system")
    return Record(
        question=turns[-2][1],
        answer=turns[-1][1],
        history=history,
        metadata={"line": line_no, **({"system": system[0]} if system else {})},
    )


def _from_choices(obj: dict, path: Path, line_no: int) -> Record:
    missing = [k for k in ("question", "answer") if k not in obj]
    if missing:
        raise _fail(path, line_no, f"multiple-choice item lacks {missing}")
    for key in ("question", "context"):
        value = obj.get(key)
        if (key == "question" or value is not None) and (
            not isinstance(value, str) or (key == "question" and not value.strip())
        ):
            raise _fail(path, line_no, f"'{key}' is {describe(value)}; give a non-empty string")
    try:
        options, labels = ordered_options(obj["options"])
        index = answer_index(obj["answer"], options, labels)
    except RecordProblem as err:
        raise _fail(path, line_no, str(err)) from None
    return Record(
        question=obj["question"],
        answer=options[index],
        options=tuple(options),
        answer_index=index,
        context=obj.get("context") or "",
        metadata={"line": line_no},
    )


def parse_line(obj, path: Path, line_no: int) -> Record:
    if not isinstance(obj, dict):
        raise _fail(path, line_no, f"expected a JSON object, got {type(obj).__name__}")
    if "messages" in obj:
        return _from_messages(obj, path, line_no)
    if "options" in obj:
        return _from_choices(obj, path, line_no)
    missing = [k for k in ("prompt", "response") if not isinstance(obj.get(k), str) or not obj.get(k).strip()]
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
            obj = parse_json(line)
        except JsonProblem as err:
            raise fail(path, line_no, err.problem) from None
        records.append(parse(obj, path, line_no))
        record_id = obj.get("id")  # optional; when lines carry ids, one id is one example
        if record_id is not None:
            key = json.dumps(record_id, sort_keys=True)
            if key in id_lines:  # the id itself is not quoted: ids can be record numbers (MRN)
                raise DataFormatError(
                    f"{path}:{line_no}: 'id' repeats the id of line {id_lines[key]}; "
                    "give each line its own id, or drop the repeated line"
                )
            id_lines[key] = line_no
    if not records:
        raise DataFormatError(f"{path}: the file has no {what}")
    return records


def load_jsonl(path: str | Path) -> list[Record]:
    return read_json_lines(path, parse_line, _fail, "data.jsonl")
