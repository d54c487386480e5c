"""MedQA (Jin et al. 2020): the US (USMLE, English), Mainland (MCMLE, simplified Chinese) and Taiwan
(TWMLE, traditional Chinese) exam questions.

Native files: JSON lines {"question", "options": {"A".."D"} or {"A".."E"}, "answer" (text), "answer_idx"
(letter), "meta_info"}, in the release's `data_clean/questions/<US|Mainland|Taiwan>/` as
`train.jsonl`, `dev.jsonl`, `test.jsonl` (4 or 5 options each; the US file's 5-option questions
also come as `US/4_options/phrases_no_exclude_*.jsonl`). A folder holding both reads the 4-option files;
the 5-option ones are read by passing the file itself (or a folder holding only them). Taiwan's
`tw_translated_jsonl/` copies are skipped when its own files are there.
Hub (US only): GBaker/MedQA-USMLE-4-options (same fields; train, test) or GBaker/MedQA-USMLE-4-options-hf (sent1, ending0..3, label 0-based; train, validation, test;
the copy lm-evaluation-harness's medqa_4options reads, prompting with sent1 only).
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
from medft.data.records import LETTERS, Record

NAME = "medqa"
DEFAULT_HUB_ID = "GBaker/MedQA-USMLE-4-options"
LETTER_KEYS = tuple(LETTERS[:4])  # the hub copies and 4_options/ files
OPTION_COUNTS = (4, 5)  # 4_options/ and the hub copies; the release's 5-option region files
REQUIRED = ("question", "options", "answer", "answer_idx")


def file_split(path: Path) -> str | None:
    """The split a MedQA file name states: test, train or validation (dev); None if it states none."""
    name = path.name.lower()
    for split, words in (("test", ("test",)), ("train", ("train",)), ("validation", ("dev", "valid"))):
        if any(word in name for word in words):
            return split
    return None


def _record(obj, where: str, source: str, line: int | None, record_id: str) -> Record:
    require_fields(obj, REQUIRED, where, "MedQA")
    options = obj["options"]
    if not isinstance(options, dict) or not all(isinstance(v, str) for v in options.values()):
        raise format_error(where, f"'options' is {type(options).__name__}", '{"A": str, "B": str, "C": str, "D": str}')
    keys = tuple(sorted(options))
    if len(keys) not in OPTION_COUNTS or keys != tuple(LETTERS[: len(keys)]):
        problem = "too few options" if len(keys) < min(OPTION_COUNTS) else "unexpected option keys"
        shown = list(keys) if all(len(k) <= 2 for k in keys) else f"{len(keys)} keys"  # labels, never option text
        raise format_error(where, f"{problem}: {shown}", "the keys A-D (4 options) or A-E (5 options)")
    letter = obj["answer_idx"]
    if not isinstance(letter, str) or letter not in options:
        raise format_error(where, f"answer_idx ({describe(letter)}) is not an option key", f"one of {list(keys)}")
    texts = tuple(options[k] for k in keys)
    if not isinstance(obj["answer"], str) or options[letter].strip() != obj["answer"].strip():
        raise format_error(
            where,
            f"'answer' ({describe(obj['answer'])}) is not the text of option {letter}, which answer_idx names",
            "answer to be the text of option answer_idx",
        )
    if not isinstance(obj["question"], str) or not obj["question"].strip():
        raise format_error(where, f"question is {describe(obj['question'])}", "a non-empty string")
    index = keys.index(letter)
    metadata = {"id": record_id, "meta_info": obj.get("meta_info"), "source": source}
    if line is not None:
        metadata["line"] = line
    return Record(question=obj["question"], answer=texts[index], options=texts, answer_index=index, metadata=metadata)


def read_jsonl(path: Path) -> list[Record]:
    return [
        _record(obj, where, str(path), line_no, f"{path.name}:{line_no}")
        for line_no, where, obj in read_json_lines(path, "MedQA")
    ]


def _pick(files: list[Path], split: str, root: Path) -> Path | None:
    candidates = [p for p in files if file_split(p) == split]
    if len(candidates) > 1:  # a region folder of the release holds the 5-option files and 4_options/
        four = [p for p in candidates if "4_options" in p.parts]
        candidates = four or candidates
    if len(candidates) > 1:  # Taiwan/ also holds tw_translated_jsonl/{en,zh}/: the folder's own files first
        depth = min(len(p.relative_to(root).parts) for p in candidates)
        candidates = [p for p in candidates if len(p.relative_to(root).parts) == depth]
    if len(candidates) > 1:
        raise BenchmarkSourceError(
            f"{NAME}: several {split} files under {root}: {[str(p) for p in candidates]}; "
            "pass the folder (or file) holding just one: a region (US, Mainland, Taiwan) or US/4_options"
        )
    return candidates[0] if candidates else None


def _load_local(path: Path, split: str) -> BenchmarkData:
    split = "validation" if split == "dev" else split
    notes: list[str] = []
    if path.is_file():
        named = file_split(path) or "all"
        if split not in ("auto", "all", named):
            what = f"the {named} file" if named != "all" else "not named as a split"
            raise BenchmarkSourceError(
                f"{NAME}: {path} is {what} (by its name), so split={split} cannot come from it; pass benchmark.split=auto "
                "or benchmark.split=all (dataset.source_split=all when training), or a folder holding test/train/dev files"
            )
        records = read_jsonl(path)
        if named == "all":
            notes.append(f"{path.name} names no split: evaluated all {len(records)} of its records (split=all)")
        siblings = [p for p in sorted(path.parent.glob("*.jsonl")) if file_split(p) == "train"]
        train_file = siblings[0] if named != "train" and len(siblings) == 1 else None
        pool = records if named == "train" else (read_jsonl(train_file) if train_file else [])
        return BenchmarkData(NAME, records, named, str(path), fewshot_pool=pool, notes=notes)
    files = find_files(path, ("*.jsonl",))
    if not files:
        raise BenchmarkSourceError(
            f"{NAME}: no *.jsonl under {path} (searched recursively for "
            "test/train/dev JSON lines, e.g. phrases_no_exclude_test.jsonl)"
        )
    by_split = {s: _pick(files, s, path) for s in ("train", "validation", "test")}
    if not any(by_split.values()):
        if len(files) == 1:
            return _load_local(files[0], split)
        raise BenchmarkSourceError(
            f"{NAME}: no file under {path} names a split (test/train/dev): "
            f"{[str(p) for p in files]}; pass one file as the path"
        )
    if split == "all":
        chosen = [p for p in by_split.values() if p]
        records = [r for p in chosen for r in read_jsonl(p)]
        if by_split["test"]:
            notes.append(f"split=all includes the test file {by_split['test'].name}")
    else:
        split = "test" if split == "auto" else split
        if by_split[split] is None:
            raise BenchmarkSourceError(
                f"{NAME}: no {split} file under {path} (looked for *.jsonl with "
                f"'{'dev' if split == 'validation' else split}' in the name)"
            )
        chosen = [by_split[split]]
        records = read_jsonl(by_split[split])
    pool = records if split == "train" else (read_jsonl(by_split["train"]) if by_split["train"] else [])
    return BenchmarkData(NAME, records, split, ", ".join(str(p) for p in chosen), fewshot_pool=pool, notes=notes)


def _from_hub_row(row: dict, where: str, source: str, record_id: str) -> Record:
    if "sent1" in row:  # the -hf copy: multiple-choice columns
        options = [row.get(f"ending{i}") for i in range(4)]
        label = row.get("label")
        bad_label = not isinstance(label, int) or isinstance(label, bool) or not 0 <= label < 4
        not_text = [f"ending{i}" for i, o in enumerate(options) if not isinstance(o, str)]
        if not_text or bad_label:
            problem = [f"{', '.join(not_text)} not strings"] if not_text else []
            problem += (
                [f"label is {describe(label)}" + (" outside 0..3" if isinstance(label, int) else "")]
                if bad_label
                else []
            )
            raise format_error(where, "; ".join(problem), "four string endings and a 0-based label 0..3")
        obj = {
            "question": row["sent1"],
            "options": dict(zip(LETTER_KEYS, options)),
            "answer": options[label],
            "answer_idx": LETTER_KEYS[label],
        }
    else:
        obj = row
    return _record(obj, where, source, None, record_id)


def _hub_split(hub_id: str, hub_config: str | None, split: str) -> list[Record]:
    source = hub_source(hub_id, hub_config, split)
    return [
        _from_hub_row(row, f"{source} row {i}", source, f"{split}:{i}")
        for i, row in enumerate(hub_rows(NAME, hub_id, hub_config, split))
    ]


def load(
    path: str | None, split: str = "auto", hub_id: str | None = None, hub_config: str | None = None
) -> BenchmarkData:
    check_split(NAME, split, ("auto", "test", "validation", "dev", "train", "all"))
    if path is not None:
        return _load_local(require_folder_or_file(path, NAME), split)
    hub_id = hub_id or DEFAULT_HUB_ID
    if split == "all":
        raise BenchmarkSourceError(
            f"{NAME}: the all split reads a local file; from {hub_id} use test, train or validation (the -hf copy)"
        )
    split = {"auto": "test", "dev": "validation"}.get(split, split)
    records = _hub_split(hub_id, hub_config, split)
    pool = records if split == "train" else _hub_split(hub_id, hub_config, "train")
    return BenchmarkData(NAME, records, split, hub_source(hub_id, hub_config, split), fewshot_pool=pool)
