"""dataset=files: a file per role (JSONL, JSON, CSV, Parquet) or a hub split per role, the user's
column names mapped onto the canonical record, and data_stats.json naming each file's role."""

from __future__ import annotations

import csv
import json

import pytest

from medft.config.errors import ConfigError
from medft.config.validate import validate
from medft.data.columns import ColumnError
from medft.data.jsonl import DataFormatError
from medft.data.load import load_splits
from medft.data.role_files import HubSplitError
from medft.data.summary import data_stats, format_stats, sources

ORGANS = ["pancreas", "liver", "kidney", "spleen"]
SECRET = "Zebulon Quackenbush"  # a planted name: no error may quote a record


def questions(n: int, offset: int = 0) -> list[tuple[str, list[str], int]]:
    return [(f"Which organ item {i + offset} concerns {ORGANS[i % 4]}?", ORGANS, i % 4) for i in range(n)]


def write_jsonl(path, n, offset=0):
    """Custom names: Stem, choices (a list), gold (an index)."""
    path.write_text(
        "".join(json.dumps({"Stem": q, "choices": o, "gold": a}) + "\n" for q, o, a in questions(n, offset))
    )
    return path


def write_csv(path, n, offset=0, list_column=False):
    """Custom names: Stem, opa..opd (one column per option) or choices (a JSON list), gold (a letter)."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Stem", "choices", "gold"] if list_column else ["Stem", "opa", "opb", "opc", "opd", "gold"])
        for q, o, a in questions(n, offset):
            writer.writerow([q, json.dumps(o), "ABCD"[a]] if list_column else [q, *o, "ABCD"[a]])
    return path


def files_cfg(compose, *overrides):
    return compose(["dataset=files", *overrides])


MAPPING = ("dataset.columns.question=Stem", "dataset.columns.answer=gold")


def test_jsonl_train_and_csv_validation_with_their_own_columns(compose, tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", 40)
    dev = write_csv(tmp_path / "dev.csv", 8, offset=100)
    cfg = files_cfg(
        compose,
        f"dataset.train_file={train}",
        f"dataset.validation_file={dev}",
        *MAPPING,
        "dataset.columns.options=choices",
        "dataset.test_fraction=0.25",
    )
    # the two files use other option columns: a list column in one, four columns in the other
    with pytest.raises(ColumnError) as err:
        load_splits(cfg.dataset)
    message = str(err.value)
    assert f"{dev} (validation file) has no column 'choices'" in message
    assert "['Stem', 'opa', 'opb', 'opc', 'opd', 'gold']" in message and "dataset.columns.options=" in message
    assert f"python train.py dataset=files dataset.train_file={train} dataset.validation_file={dev}" in message

    train_csv = write_csv(tmp_path / "train.csv", 40)
    cfg = files_cfg(
        compose,
        f"dataset.train_file={train_csv}",
        f"dataset.validation_file={dev}",
        *MAPPING,
        "dataset.columns.options=[opa,opb,opc,opd]",
        "dataset.test_fraction=0.25",
    )
    splits = load_splits(cfg.dataset)
    assert {k: len(v) for k, v in splits.items()} == {"train": 32, "validation": 8, "test": 8}
    first = splits["validation"][0]
    assert first.options == tuple(ORGANS) and first.answer == ORGANS[first.answer_index]
    assert first.question.startswith("Which organ item 10")  # the validation file, not carved from train
    stats = data_stats(cfg, splits)
    assert stats["sources"] == [
        {"path": str(train_csv), "role": "train", "records": 32},
        {"path": str(dev), "role": "validation", "records": 8},
        {"path": str(train_csv), "role": "test", "records": 8, "carved_from": "train"},
    ]
    assert f"validation: 8 records from {dev}" in format_stats(stats)


def test_sources_group_records_by_file_not_by_line(compose):
    """Loaders that place each record (`file:line`, `name[index]`) still give one row per file and split."""
    rows = sources(load_splits(compose(["task=ner"]).dataset))
    assert [(r["path"], r["role"], r["records"]) for r in rows] == [
        ("builtin:ner", "train", 41),
        ("builtin:ner", "validation", 5),
        ("builtin:ner", "test", 11),
    ]


def test_parquet_train_and_a_json_array_test_file(compose, tmp_path):
    import pandas as pd

    def pairs(n, offset):
        return [{"q": f"What treats condition {i + offset}?", "a": f"drug {i}", "ctx": "a note"} for i in range(n)]

    pd.DataFrame(pairs(6, 0)).to_parquet(tmp_path / "train.parquet")
    (tmp_path / "test.json").write_text(json.dumps(pairs(3, 10)))  # a JSON array of objects, not JSON lines
    cfg = files_cfg(
        compose,
        f"dataset.train_file={tmp_path / 'train.parquet'}",
        f"dataset.test_file={tmp_path / 'test.json'}",
        "dataset.columns.question=q",
        "dataset.columns.response=a",
        "dataset.columns.context=ctx",
        "dataset.validation_fraction=0.0",
    )
    splits = load_splits(cfg.dataset)
    assert len(splits["train"]) == 6 and splits["validation"] == []
    assert [r.question for r in splits["test"]] == [f"What treats condition {i}?" for i in (10, 11, 12)]
    assert {r.context for r in splits["train"]} == {"a note"} and splits["train"][0].answer.startswith("drug ")


def test_a_chat_column_maps_onto_messages(compose, tmp_path):
    chats = [
        {"dialog": [{"role": "user", "content": f"Question {i}?"}, {"role": "assistant", "content": f"Answer {i}."}]}
        for i in range(4)
    ]
    (tmp_path / "chats.json").write_text(json.dumps(chats))
    common = (
        f"dataset.train_file={tmp_path / 'chats.json'}",
        "dataset.validation_fraction=0",
        "dataset.test_fraction=0",
    )
    with pytest.raises(ColumnError, match=r"chats\.json \(train file\) has no column 'question'.*\['dialog'\]"):
        load_splits(files_cfg(compose, *common).dataset)
    splits = load_splits(files_cfg(compose, *common, "dataset.columns.messages=dialog").dataset)
    assert sorted(r.answer for r in splits["train"]) == [f"Answer {i}." for i in range(4)]


def test_a_numeric_free_text_answer_stays_text_and_prompt_maps_by_default(compose, tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("prompt,response\n" + "".join(f"How many drops in dose {i}?,{i}\n" for i in range(5)))
    cfg = files_cfg(compose, f"dataset.train_file={path}", "dataset.validation_fraction=0", "dataset.test_fraction=0")
    splits = load_splits(cfg.dataset)
    assert sorted(r.answer for r in splits["train"]) == ["0", "1", "2", "3", "4"]


def test_a_bad_value_names_file_record_and_field_never_the_text(compose, tmp_path):
    path = tmp_path / "train.jsonl"
    lines = [{"Stem": f"{SECRET} question {i}", "choices": ORGANS, "gold": i % 4} for i in range(3)]
    lines.append({"Stem": f"{SECRET} asks", "choices": ORGANS, "gold": SECRET})
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    cfg = files_cfg(compose, f"dataset.train_file={path}", *MAPPING, "dataset.columns.options=choices")
    with pytest.raises(DataFormatError) as err:
        load_splits(cfg.dataset)
    message = str(err.value)
    assert f"{path} record 4 (train file)" in message and "'answer'" in message
    assert SECRET not in message and "Quackenbush" not in message


def test_a_missing_question_column_suggests_the_close_one(compose, tmp_path):
    path = write_csv(tmp_path / "train.csv", 4)
    cfg = files_cfg(compose, f"dataset.train_file={path}")
    with pytest.raises(ColumnError) as err:
        load_splits(cfg.dataset)
    assert "has no column 'question' for question (dataset.columns.question)" in str(err.value)
    assert str(err.value).endswith("dataset.columns.question=Stem")


def test_a_hub_dataset_with_a_split_per_role_from_a_local_mirror(compose, tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    write_jsonl(mirror / "train.jsonl", 12)
    write_jsonl(mirror / "validation.jsonl", 4, offset=50)
    write_jsonl(mirror / "test.jsonl", 4, offset=80)
    common = (f"dataset.hub_id={mirror}", *MAPPING, "dataset.columns.options=choices")
    splits = load_splits(files_cfg(compose, *common, "dataset.hub_splits.test=test").dataset)
    assert {k: len(v) for k, v in splits.items()} == {"train": 12, "validation": 4, "test": 4}
    assert splits["test"][0].metadata["file"] == f"{mirror} split test"
    with pytest.raises(HubSplitError) as err:
        load_splits(files_cfg(compose, *common, "dataset.hub_splits.validation=dev").dataset)
    assert "dataset.hub_splits.validation=dev" in str(err.value) and "dataset.hub_splits.validation=null" in str(
        err.value
    )


def test_an_unreachable_hub_dataset_names_the_key_offline(compose, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    cfg = files_cfg(compose, "dataset.hub_id=medft-tests/no-such-dataset")
    with pytest.raises(HubSplitError) as err:
        load_splits(cfg.dataset)
    message = str(err.value)
    assert "dataset.hub_id=medft-tests/no-such-dataset" in message and "dataset.hub_splits.train=train" in message
    assert "local copy" in message


def test_files_need_a_training_file_at_compose_time(compose, tmp_path):
    with pytest.raises(ConfigError, match="dataset.train_file=/path/to/train.jsonl"):
        validate(files_cfg(compose), dry_run=True)
    with pytest.raises(ConfigError, match="dataset.validation_file: no such file"):
        validate(
            files_cfg(
                compose,
                f"dataset.train_file={write_jsonl(tmp_path / 't.jsonl', 4)}",
                f"dataset.validation_file={tmp_path / 'nope.csv'}",
            ),
            dry_run=True,
        )


def test_files_train_and_evaluate_and_data_stats_names_each_role(tiny_cfg, tmp_path):
    from medft.recipes.train import run

    train = write_jsonl(tmp_path / "train.jsonl", 24)
    dev = write_csv(tmp_path / "dev.csv", 6, offset=100, list_column=True)  # a JSON list in a CSV cell
    test = write_csv(tmp_path / "test.csv", 8, offset=200, list_column=True)
    cfg = tiny_cfg(
        "dataset=files",
        f"dataset.train_file={train}",
        f"dataset.validation_file={dev}",
        f"dataset.test_file={test}",
        *MAPPING,
        "dataset.columns.options=choices",
        "eval.before=false",  # the base model's score adds nothing to what this test checks
    )
    run_dir = tmp_path / "run"
    metrics = run(cfg, run_dir)
    assert metrics["eval_after"]["test"]["n"] == 8 and 0 <= metrics["eval_after"]["test"]["acc"] <= 1
    assert "validation" in metrics["eval_after"]
    stats = json.loads((run_dir / "data_stats.json").read_text())
    assert stats["sources"] == [
        {"path": str(train), "role": "train", "records": 24},
        {"path": str(dev), "role": "validation", "records": 6},
        {"path": str(test), "role": "test", "records": 8},
    ]
    assert set(stats["truncation"]) == {"train", "validation", "test"}
    assert stats["truncation"]["train"] == {
        "records": 24,
        "truncated": 0,
        "fraction": 0.0,
        "sampled": False,
        "max_seq_len": 512,
    }


@pytest.mark.faults
def test_fuzzed_files_get_a_clear_error_or_load(compose, tmp_path):
    """Cut, non-UTF-8 and odd-valued JSONL and CSV files: records or the project's error naming the
    file, never a raw pyarrow or KeyError (derandomized: the same files on every machine)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from medft.config.errors import UserError

    cfg = files_cfg(compose, *MAPPING, "dataset.columns.options=choices", "dataset.validation_fraction=0")
    cfg.dataset.test_fraction = 0.0
    values = (
        st.none() | st.booleans() | st.integers(-2, 6) | st.text(max_size=5) | st.lists(st.text(max_size=3), max_size=5)
    )
    row = st.fixed_dictionaries({}, optional={"Stem": values, "choices": values, "gold": values})

    @settings(max_examples=30, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @given(rows=st.lists(row, max_size=3), as_csv=st.booleans(), cut=st.integers(0, 400), junk=st.booleans())
    def check(rows, as_csv, cut, junk):
        path = tmp_path / ("in.csv" if as_csv else "in.jsonl")
        if as_csv:
            text = "Stem,choices,gold\n" + "".join(
                ",".join(json.dumps(r.get(k)) for k in ("Stem", "choices", "gold")) + "\n" for r in rows
            )
        else:
            text = "".join(json.dumps(r) + "\n" for r in rows)
        data = text.encode()[:cut] + (b"\xff" if junk else b"")
        path.write_bytes(data)
        cfg.dataset.train_file = str(path)
        try:
            load_splits(cfg.dataset)
        except UserError as err:
            assert str(path) in str(err), str(err)

    check()
