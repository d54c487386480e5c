"""training.max_seq_len by task for the user's own data, by dataset where the records were measured,
and data_stats.json's truncation count per split."""

from __future__ import annotations

import pytest

from medft.config.derived import describe_max_seq_len
from medft.data.records import Record
from medft.data.summary import data_stats, format_stats
from tests.conftest import tiny_llama


@pytest.mark.parametrize(
    "overrides,expected",
    [
        (["dataset=files", "task=medical_qa"], 512),
        (["dataset=files", "task=diagnosis"], 1024),
        (["dataset=files", "task=clinical_note"], 2048),
        (["dataset=jsonl", "task=clinical_note"], 2048),
        (["dataset=jsonl", "task=ner", "dataset.path=x.jsonl"], 512),
        (["dataset=pubmedqa", "task=medical_qa"], 1024),  # measured options keep their own
        (["dataset=builtin"], 256),
        (["dataset=files", "task=clinical_note", "training.max_seq_len=3072"], 3072),
    ],
)
def test_the_users_own_data_takes_the_tasks_length(compose, overrides, expected):
    assert compose(overrides).training.max_seq_len == expected


def test_the_log_line_says_where_the_length_came_from(compose):
    assert describe_max_seq_len(compose(["dataset=files", "task=clinical_note"])) == (
        "training.max_seq_len=2048 (task=clinical_note's default for your data, task.max_seq_len)"
    )
    assert describe_max_seq_len(compose(["dataset=pubmedqa"])) == (
        "training.max_seq_len=1024 (dataset=pubmedqa's default, dataset.max_seq_len)"
    )


def test_truncation_is_counted_per_split_as_training_encodes(compose):
    """The byte tokenizer counts characters: questions of 120 and 400 characters (about 210 and 490
    tokens in the chat template) against a limit of 256; the diagnosis task puts its instruction
    (about 70 characters) in front of every question, as training does, which tips the short ones over."""
    _, tokenizer = tiny_llama()

    def records(short: int, long: int) -> list[Record]:
        return [Record(question="q" * 120, answer="a")] * short + [Record(question="q" * 400, answer="a")] * long

    splits = {"train": records(9, 1), "validation": records(2, 2), "test": records(4, 0)}
    stats = data_stats(compose(["model=tiny-random", "training.max_seq_len=256"]), splits, tokenizer)
    assert {k: (v["truncated"], v["records"]) for k, v in stats["truncation"].items()} == {
        "train": (1, 10),
        "validation": (2, 4),
        "test": (0, 4),
    }
    assert (
        "truncated at training.max_seq_len=256: train 1 of 10 (10.0%), validation 2 of 4 (50.0%), test 0 of 4 (0.0%)"
        in format_stats(stats)
    )
    diagnosis = compose(["model=tiny-random", "training.max_seq_len=256", "task=diagnosis"])
    cut = data_stats(diagnosis, splits, tokenizer)["truncation"]
    assert {k: v["truncated"] for k, v in cut.items()} == {"train": 10, "validation": 4, "test": 4}
