"""PubMedQA PQA-L (expert-labelled yes/no/maybe questions over PubMed abstracts).

Native files (github.com/pubmedqa/pubmedqa): `ori_pqal.json`, one JSON object keyed by PMID with
QUESTION, CONTEXTS (the abstract's sections), LABELS, MESHES, YEAR, final_decision, LONG_ANSWER;
`test_ground_truth.json` ({pmid: label}) names the official 500-record test set. The trainpool
copy `ori_pqal_trainpool.json` has the same format and holds only the 500 non-test records.

The context is the CONTEXTS joined with "\\n", as lm-evaluation-harness's pubmedqa does.
LONG_ANSWER is the abstract's conclusion and states the answer: it is kept in metadata only.
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
    read_text,
    require_folder_or_file,
)
from medft.data.describe import describe
from medft.data.records import Record
from medft.data.safe_json import JsonProblem, parse_json

NAME = "pubmedqa"
DEFAULT_HUB_ID = "qiaojin/PubMedQA"
DEFAULT_HUB_CONFIG = "pqa_labeled"
OPTIONS = ("yes", "no", "maybe")
FILE_NAMES = ("ori_pqal.json", "ori_pqal_trainpool.json")  # preferred first
GROUND_TRUTH = "test_ground_truth.json"
REQUIRED = ("QUESTION", "CONTEXTS", "final_decision")


def _record(
    pmid: str, question, contexts, decision, long_answer, where: str, source: str, position: int | None = None
) -> Record:
    if not isinstance(question, str) or not question.strip():
        raise format_error(where, f"QUESTION is {describe(question)}", "a non-empty string")
    if not isinstance(contexts, list) or not all(isinstance(c, str) for c in contexts):
        raise format_error(where, f"CONTEXTS is {type(contexts).__name__}", "a list of strings")
    if decision not in OPTIONS:
        raise format_error(where, f"final_decision ({describe(decision)}) is not a label", f"one of {list(OPTIONS)}")
    index = OPTIONS.index(decision)
    return Record(
        question=question,
        answer=OPTIONS[index],
        options=OPTIONS,
        answer_index=index,
        context="\n".join(contexts),
        metadata={
            "id": pmid,
            "long_answer": long_answer,
            "source": source,
            **({"record": position} if position else {}),
        },
    )


def _reject_duplicates(path: Path):
    def hook(pairs):
        seen: dict[str, int] = {}
        for position, (key, _) in enumerate(pairs, start=1):
            if key in seen:  # named by position: a user's keys can be record numbers, never quoted
                raise format_error(
                    f"{path}: key {position} of an object", f"the key repeats key {seen[key]}", "each PMID once"
                )
            seen[key] = position
        return dict(pairs)

    return hook


def _read_json(path: Path):
    text = read_text(path)
    try:
        return parse_json(text, object_pairs_hook=_reject_duplicates(path))
    except JsonProblem as err:
        raise format_error(
            f"{path}:{err.line}" if err.line else str(path), err.problem, "one JSON object keyed by PMID"
        ) from None


def read_pqal(path: Path) -> list[Record]:
    data = _read_json(path)
    if not isinstance(data, dict) or not data:
        raise format_error(
            str(path),
            f"top level is {type(data).__name__}{'' if data else ' (empty)'}",
            "a non-empty JSON object keyed by PMID, as ori_pqal.json",
        )
    records = []
    for position, (pmid, item) in enumerate(data.items(), start=1):
        where = f"{path}: record {position} (the object's key {position})"
        if not isinstance(item, dict):
            raise format_error(where, f"value is {type(item).__name__}", "an object with " + ", ".join(REQUIRED))
        missing = [k for k in REQUIRED if k not in item]
        if missing:
            raise format_error(
                where, f"missing {missing} (keys found: {sorted(item)})", "the PQA-L fields " + ", ".join(REQUIRED)
            )
        records.append(
            _record(
                str(pmid),
                item["QUESTION"],
                item["CONTEXTS"],
                item["final_decision"],
                item.get("LONG_ANSWER"),
                where,
                str(path),
                position,
            )
        )
    return records


def read_ground_truth(path: Path, records: list[Record], data_file: Path) -> set[str]:
    truth = _read_json(path)
    if not isinstance(truth, dict) or not truth:
        raise format_error(str(path), "not a non-empty JSON object", '{"<pmid>": "yes|no|maybe", ...}')
    by_id = {r.metadata["id"]: r for r in records}
    absent = [position for position, pmid in enumerate(truth, start=1) if pmid not in by_id]
    if absent:
        raise BenchmarkSourceError(
            f"{path}: {len(absent)} of its {len(truth)} test PMIDs (keys {absent[:3]}, by position) are not in "
            f"{data_file}; the ground truth belongs with ori_pqal.json (all 1000 PQA-L records)"
        )
    for position, (pmid, label) in enumerate(truth.items(), start=1):
        where = f"{path}: key {position} of the object"
        if label not in OPTIONS:
            raise format_error(where, f"label is {describe(label)}", f"one of {list(OPTIONS)}")
        if by_id[pmid].answer != label:
            raise format_error(
                where,
                f"the label differs from final_decision of record {by_id[pmid].metadata.get('record')} in {data_file}",
                "the same final_decision in both files",
            )
    return set(truth)


def _resolve(path: Path) -> Path:
    if path.is_file():
        return path
    for name in FILE_NAMES:
        found = find_files(path, (name,))
        if len(found) > 1:
            raise BenchmarkSourceError(
                f"{NAME}: several {name} under {path}: {[str(p) for p in found]}; pass the one to use as the path"
            )
        if found:
            return found[0]
    raise BenchmarkSourceError(f"{NAME}: no {' or '.join(FILE_NAMES)} under {path} (searched recursively)")


def _load_local(path: Path, split: str) -> BenchmarkData:
    data_file = _resolve(path)
    records = read_pqal(data_file)
    truth_file = data_file.parent / GROUND_TRUTH
    test_ids = read_ground_truth(truth_file, records, data_file) if truth_file.is_file() else None
    notes = []
    if test_ids is None:
        if split in ("test", "train"):
            hint = (
                "; if the file holds no test records (as ori_pqal_trainpool.json), use benchmark.split=all "
                "(dataset.source_split=all when training)"
                if split == "train"
                else ""
            )
            raise BenchmarkSourceError(
                f"{NAME}: split={split} needs {truth_file} (the official test PMIDs) next to {data_file}; "
                f"it is missing{hint}"
            )
        if split == "auto":
            split = "all"
            notes.append(
                f"no {GROUND_TRUTH} next to {data_file.name}: evaluated all {len(records)} of its "
                "records (split=all), not the official 500-record PQA-L test set"
            )
        return BenchmarkData(NAME, records, split, str(data_file), notes=notes)
    test = [r for r in records if r.metadata["id"] in test_ids]
    train = [r for r in records if r.metadata["id"] not in test_ids]
    split = "test" if split == "auto" else split
    if split == "all":
        notes.append(f"split=all includes the {len(test)} official test records of {GROUND_TRUTH}")
    chosen = {"test": test, "train": train, "all": records}[split]
    if not chosen:
        raise BenchmarkSourceError(f"{NAME}: {data_file} has no {split} records ({len(test)} test, {len(train)} train)")
    return BenchmarkData(NAME, chosen, split, str(data_file), fewshot_pool=train, notes=notes)


def _from_hub(row: dict, where: str, source: str) -> Record:
    missing = [k for k in ("pubid", "question", "context", "final_decision") if k not in row]
    if missing:
        raise format_error(where, f"missing {missing}", "qiaojin/PubMedQA pqa_labeled rows")
    context = row["context"]
    contexts = context.get("contexts") if isinstance(context, dict) else None
    return _record(
        str(row["pubid"]), row["question"], contexts, row["final_decision"], row.get("long_answer"), where, source
    )


def load(
    path: str | None, split: str = "auto", hub_id: str | None = None, hub_config: str | None = None
) -> BenchmarkData:
    check_split(NAME, split, ("auto", "test", "train", "all"))
    if path is not None:
        return _load_local(require_folder_or_file(path, NAME), split)
    hub_id = hub_id or DEFAULT_HUB_ID
    hub_config = hub_config or DEFAULT_HUB_CONFIG
    if split in ("test", "train"):
        raise BenchmarkSourceError(
            f"{NAME}: {hub_id} has one split of all 1000 PQA-L records, so split={split} (the official "
            f"500-record test set and the rest) needs {GROUND_TRUTH}: pass a local folder holding "
            f"ori_pqal.json and {GROUND_TRUTH} with benchmark.path=<folder> (dataset.path= when training), "
            "or use benchmark.split=all (dataset.source_split=all when training)"
        )
    source = hub_source(hub_id, hub_config, "train")
    rows = hub_rows(NAME, hub_id, hub_config, "train")
    records = [_from_hub(row, f"{source} row {i}", source) for i, row in enumerate(rows)]
    _check_unique(records, source)
    note = (
        f"{hub_id} has no official test split: evaluated all {len(records)} PQA-L records (split=all), "
        f"which include the 500 official test records; for the official split pass ori_pqal.json and "
        f"{GROUND_TRUTH} locally"
    )
    return BenchmarkData(NAME, records, "all", source, notes=[note])


def _check_unique(records: list[Record], source: str) -> None:
    seen: dict[str, int] = {}
    for i, record in enumerate(records):
        if record.metadata["id"] in seen:
            raise format_error(
                f"{source} row {i}", f"its pubid repeats row {seen[record.metadata['id']]}'s", "unique pubids"
            )
        seen[record.metadata["id"]] = i
