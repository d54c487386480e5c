"""FreedomIntelligence's Huatuo sets (Chinese medical QA) in their native layouts -> Records.

Two layouts, from the dataset cards:
- Huatuo26M-Lite: one QA pair per row, `question` and `answer` (plus `id`, `label` (the
  department), `related_diseases`, `score`; kept in metadata when present).
- huatuo_encyclopedia_qa and huatuo_knowledge_graph_qa: `questions`, a list of lists (each
  inner list the paraphrases of one question), and `answers`, a list with one answer per inner
  list. Row i's k-th question group is answered by answers[k]; its first paraphrase becomes the
  question (the others are kept in metadata: training on all of them would repeat the answer).

`dataset.layout=auto` tells them apart by their fields. Sources: a local .jsonl (one row a
line) or .json (an array) file, a folder with train / validation / test files, or the hub
(`dataset.hub_id`, e.g. FreedomIntelligence/huatuo_encyclopedia_qa). A row that lacks its
layout's fields is an error naming the file and line (or hub split and index).
"""

from __future__ import annotations

from pathlib import Path

from medft.data.jsonl import DataFormatError
from medft.data.records import Record
from medft.data.safe_json import JsonProblem, parse_json
from medft.data.utf8 import read_utf8

LAYOUTS = ("auto", "lite", "encyclopedia")  # encyclopedia: also the knowledge-graph set
LITE_EXTRAS = ("id", "label", "related_diseases", "score")
SPLIT_NAMES = {"train": ("train",), "validation": ("validation", "valid", "dev"), "test": ("test",)}


def _layout_of(row: dict, where: str, layout: str) -> str:
    if layout != "auto":
        return layout
    if "questions" in row or "answers" in row:
        return "encyclopedia"
    if "question" in row or "answer" in row:
        return "lite"
    raise DataFormatError(
        f"{where}: neither Huatuo26M-Lite fields (question, answer) nor encyclopedia / "
        f"knowledge-graph fields (questions, answers); keys found: {sorted(row)}"
    )


def _lite(row: dict, where: str) -> list[Record]:
    missing = [k for k in ("question", "answer") if not isinstance(row.get(k), str) or not row[k].strip()]
    if missing:
        raise DataFormatError(f"{where}: Huatuo26M-Lite row lacks {missing} (keys found: {sorted(row)})")
    extras = {k: row[k] for k in LITE_EXTRAS if k in row}
    return [Record(question=row["question"], answer=row["answer"], metadata={"source": where, **extras})]


def _encyclopedia(row: dict, where: str) -> list[Record]:
    questions, answers = row.get("questions"), row.get("answers")
    if not isinstance(questions, list) or not isinstance(answers, list) or not questions or not answers:
        raise DataFormatError(
            f"{where}: an encyclopedia / knowledge-graph row needs 'questions' (a list of lists) and "
            f"'answers' (a list), non-empty (keys found: {sorted(row)})"
        )
    if len(questions) != len(answers):
        raise DataFormatError(f"{where}: {len(questions)} question groups for {len(answers)} answers")
    records = []
    for k, (group, answer) in enumerate(zip(questions, answers)):
        group = [group] if isinstance(group, str) else group  # tolerate a flat list of strings
        if not isinstance(group, list) or not group or not all(isinstance(q, str) and q.strip() for q in group):
            raise DataFormatError(f"{where}: questions[{k}] must be a non-empty list of question strings")
        if not isinstance(answer, str) or not answer.strip():
            raise DataFormatError(f"{where}: answers[{k}] must be a non-empty string")
        records.append(
            Record(question=group[0], answer=answer, metadata={"source": where, "paraphrases": list(group[1:])})
        )
    return records


def parse_row(row, where: str, layout: str = "auto") -> list[Record]:
    if layout not in LAYOUTS:
        raise DataFormatError(f"dataset.layout={layout!r} is not one of {list(LAYOUTS)}")
    if not isinstance(row, dict):
        raise DataFormatError(f"{where}: expected a JSON object, got {type(row).__name__}")
    return _lite(row, where) if _layout_of(row, where, layout) == "lite" else _encyclopedia(row, where)


def parse_rows(rows, name: str, layout: str = "auto") -> list[Record]:
    """Rows of a hub split or a JSON array; errors name `name[index]`."""
    records = [r for index, row in enumerate(rows) for r in parse_row(row, f"{name}[{index}]", layout)]
    if not records:
        raise DataFormatError(f"{name}: no records")
    return records


def _read_file(path: Path, layout: str) -> list[Record]:
    text = read_utf8(path, DataFormatError)
    if path.suffix == ".jsonl":  # errors name the file's own line
        records = []
        for line_no, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = parse_json(line)
            except JsonProblem as err:
                raise DataFormatError(f"{path}:{line_no}: {err.problem}") from None
            records += parse_row(row, f"{path}:{line_no}", layout)
        if not records:
            raise DataFormatError(f"{path}: no records")
        return records
    try:
        data = parse_json(text)
    except JsonProblem as err:
        raise DataFormatError(f"{path}{f':{err.line}' if err.line else ''}: {err.problem}") from None
    return parse_rows(data if isinstance(data, list) else [data], str(path), layout)


def load_huatuo(path: str | None = None, hub_id: str | None = None, layout: str = "auto") -> dict[str, list[Record]]:
    """{split: records} for the splits the source has (a single file or the Lite set: train only)."""
    if hub_id and not path:
        from datasets import load_dataset

        splits = load_dataset(hub_id)
        return {
            ours: parse_rows(splits[theirs], f"{hub_id}:{theirs}", layout)
            for ours, names in SPLIT_NAMES.items()
            for theirs in names
            if theirs in splits
        }
    if not path:
        raise DataFormatError(
            "dataset.path: give a Huatuo .jsonl/.json file or folder, or dataset.hub_id "
            "(e.g. FreedomIntelligence/Huatuo26M-Lite)"
        )
    root = Path(path).expanduser()
    if root.is_file():
        return {"train": _read_file(root, layout)}
    if not root.is_dir():
        raise DataFormatError(f"dataset.path: no such file or folder: {root}")
    found = {}
    for ours, names in SPLIT_NAMES.items():
        for file in sorted(root.iterdir()):
            if file.suffix in (".json", ".jsonl") and any(file.stem.lower().startswith(n) for n in names):
                found[ours] = _read_file(file, layout)
                break
    if "train" not in found:
        raise DataFormatError(f"{root}: no train*.json / train*.jsonl file in this folder")
    return found
