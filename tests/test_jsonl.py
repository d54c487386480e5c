"""User JSONL data: three accepted shapes, and errors that name the file and line."""

from __future__ import annotations

import json

import pytest

from medft.data.jsonl import DataFormatError, load_jsonl
from medft.data.split import stratified_split


def write(tmp_path, lines):
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def test_three_shapes_become_records(tmp_path):
    path = write(
        tmp_path,
        [
            {"prompt": "What treats anaphylaxis?", "response": "Intramuscular epinephrine."},
            {
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello"},
                    {"role": "user", "content": "Antidote for opioids?"},
                    {"role": "assistant", "content": "Naloxone."},
                ]
            },
            {"question": "Scurvy is caused by lack of?", "options": ["vitamin A", "vitamin C"], "answer": "B"},
            {"question": "Q?", "options": {"A": "x", "B": "y", "C": "z"}, "answer": 2},
            "",
        ],
    )
    records = load_jsonl(path)
    assert len(records) == 4
    assert records[0].answer == "Intramuscular epinephrine."
    assert records[1].question == "Antidote for opioids?" and records[1].history == (
        ("user", "Hi"),
        ("assistant", "Hello"),
    )
    assert records[1].metadata["system"] == "Be brief."
    assert records[2].answer == "vitamin C" and records[2].answer_index == 1
    assert records[3].answer == "z"


@pytest.mark.parametrize(
    "bad,needle",
    [
        ({"prompt": "only a prompt"}, "'response'"),
        ({"question": "q", "options": ["a", "b"]}, "'answer'"),
        ({"question": "q", "options": ["a", "b"], "answer": "E"}, "'answer'"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "'messages'"),
        ("{not json", "invalid JSON"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_line_names_file_and_line(tmp_path, bad, needle):
    path = write(tmp_path, [{"prompt": "ok", "response": "ok"}, bad])
    with pytest.raises(DataFormatError) as err:
        load_jsonl(path)
    assert f"{path}:2:" in str(err.value) and needle in str(err.value)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(DataFormatError, match="no-such.jsonl"):
        load_jsonl(tmp_path / "no-such.jsonl")


def test_stratified_split_keeps_proportions_and_is_seeded(tmp_path):
    from medft.data.records import Record

    records = [
        Record(question=f"q{i}", answer=["a", "b"][i % 4 == 0], options=("a", "b"), answer_index=int(i % 4 == 0))
        for i in range(200)
    ]
    splits = stratified_split(records, 0.1, 0.2, "answer", seed=3)
    assert [len(splits[k]) for k in ("train", "validation", "test")] == [140, 20, 40]
    assert sum(r.answer == "b" for r in splits["test"]) == 10  # 25% of the test split, as overall
    again = stratified_split(records, 0.1, 0.2, "answer", seed=3)
    assert [r.question for r in again["test"]] == [r.question for r in splits["test"]]


def test_unique_keys_fall_back_to_a_shuffle_not_all_train():
    from medft.data.records import Record

    records = [Record(question=f"q{i}", answer=f"free answer {i}") for i in range(50)]
    splits = stratified_split(records, 0.1, 0.1, "answer", seed=0)
    assert len(splits["test"]) == 5 and len(splits["validation"]) == 5
