"""CMeEE, Huatuo and MIMIC note loaders on project-written files in their native layouts, their
errors (named record, bad offset, missing field), and Chinese-aware text metrics."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from medft.data.jsonl import DataFormatError

FIXTURES = Path(__file__).parent / "fixtures"
CMEEE = FIXTURES / "cmeee"


# --------------------------------------------------------------------------- CMeEE


def test_cmeee_folder_detects_inclusive_ends_and_keeps_nested_and_repeated_entities(caplog):
    from medft.data.cmeee import load_cmeee

    with caplog.at_level(logging.INFO):
        docs = load_cmeee(str(CMEEE))
    assert set(docs) == {"train", "dev"} and len(docs["train"]) == 5 and len(docs["dev"]) == 2
    assert "CMeEE_train.json: end_idx is inclusive" in caplog.text
    first = docs["train"][0]
    assert all(d.text[e.start : e.end] == e.text for d in docs["train"] for e in d.entities)
    assert {(e.text, e.type) for e in first.entities} >= {("胸部CT", "ite"), ("胸部", "bod"), ("右肺炎", "dis")}
    coughs = [e.start for e in docs["train"][1].entities if e.text == "咳嗽"]
    assert len(coughs) == 2 and coughs[0] != coughs[1]
    assert docs["train"][4].entities == () and docs["train"][0].source.endswith("CMeEE_train.json[0]")


def test_cmeee_exclusive_ends_are_detected_and_give_the_same_entities(caplog):
    from medft.data.cmeee import load_cmeee

    with caplog.at_level(logging.INFO):
        exclusive = load_cmeee(str(CMEEE / "exclusive_end.json"))["train"]
    assert "exclusive_end.json: end_idx is exclusive" in caplog.text
    inclusive = load_cmeee(str(CMEEE))["dev"]
    assert [d.entities for d in exclusive] == [d.entities for d in inclusive]


def _write(tmp_path, records, name="bad.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return str(path)


def test_cmeee_entity_that_does_not_match_its_span_names_the_record(tmp_path):
    from medft.data.cmeee import load_cmeee

    records = json.loads((CMEEE / "CMeEE_dev.json").read_text())
    records[1]["entities"][2]["start_idx"] += 1  # 阑尾 shifted by one character
    with pytest.raises(
        DataFormatError,
        match=r"bad\.json\[1\]: entities\[2\] \('entity', a string of 2 characters\) "
        r"does not match its span",
    ) as err:
        load_cmeee(_write(tmp_path, records))
    assert "阑尾" not in str(err.value)  # entity and text are patient text: described, never quoted


def test_cmeee_a_file_mixing_conventions_is_refused(tmp_path):
    from medft.data.cmeee import load_cmeee

    inclusive = json.loads((CMEEE / "CMeEE_dev.json").read_text())
    exclusive = json.loads((CMEEE / "exclusive_end.json").read_text())
    with pytest.raises(DataFormatError, match="inclusive for some entities.*exclusive for others"):
        load_cmeee(_write(tmp_path, [inclusive[0], exclusive[1]]))
    with pytest.raises(DataFormatError, match=r"bad\.json\[1\].*with end_idx inclusive"):
        load_cmeee(_write(tmp_path, [inclusive[0], exclusive[1]]), offsets="inclusive")


@pytest.mark.parametrize(
    "broken,message",
    [
        (lambda r: r.pop("entities"), r"bad\.json\[0\]: missing field\(s\) \['entities'\].*test file has no labels"),
        (lambda r: r.pop("text"), r"bad\.json\[0\]: missing field\(s\) \['text'\]"),
        (lambda r: r["entities"][0].pop("end_idx"), r"bad\.json\[0\]: entities\[0\] lacks \['end_idx'\]"),
        (
            lambda r: r["entities"][0].update(type="gene"),
            r"bad\.json\[0\]: entities\[0\] has a type \(a string of 4 characters\) not one of",
        ),
    ],
)
def test_cmeee_missing_fields_name_the_record(tmp_path, broken, message):
    from medft.data.cmeee import load_cmeee

    records = json.loads((CMEEE / "CMeEE_dev.json").read_text())
    broken(records[0])
    with pytest.raises(DataFormatError, match=message):
        load_cmeee(_write(tmp_path, records))


def test_cmeee_hub_copy_goes_through_datasets(tmp_path):
    """`dataset.hub_id` is read with datasets.load_dataset, which also takes a local dataset folder: the same
    code path as a hub repository, without a network."""
    from medft.data.cmeee import load_cmeee

    repo = tmp_path / "cmeee_hub"
    repo.mkdir()
    for split, name in (("train", "CMeEE_train.json"), ("validation", "CMeEE_dev.json")):
        rows = json.loads((CMEEE / name).read_text())
        (repo / f"{split}.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    docs = load_cmeee(hub_id=str(repo))
    assert len(docs["train"]) == 5 and len(docs["dev"]) == 2
    assert docs["dev"][1].entities == load_cmeee(str(CMEEE))["dev"][1].entities


# --------------------------------------------------------------------------- Huatuo


def test_huatuo_lite_keeps_its_extra_fields():
    from medft.data.huatuo import load_huatuo

    records = load_huatuo(str(FIXTURES / "huatuo" / "lite.jsonl"))["train"]
    assert len(records) == 3 and records[1].question == "高血压患者平时饮食要注意什么？"
    assert records[1].metadata["label"] == "心血管内科" and records[1].metadata["source"].endswith("lite.jsonl:2")


def test_huatuo_encyclopedia_pairs_each_question_group_with_its_answer():
    from medft.data.huatuo import load_huatuo

    records = load_huatuo(str(FIXTURES / "huatuo" / "encyclopedia.json"))["train"]
    assert [r.question for r in records] == ["糖尿病的典型症状有哪些？", "缺铁性贫血怎么治疗？", "缺铁性贫血吃什么好？"]
    assert records[2].answer.startswith("可多吃瘦肉") and records[0].metadata["paraphrases"] == ["糖尿病有什么表现？"]
    kg = load_huatuo(str(FIXTURES / "huatuo" / "knowledge_graph.jsonl"))["train"]
    assert kg[0].answer == "呼吸内科"


@pytest.mark.parametrize(
    "row,message",
    [
        ({"question": "头痛怎么办？"}, r"lite\.jsonl:2: Huatuo26M-Lite row lacks \['answer'\]"),
        ({"questions": [["头痛怎么办？"]]}, r"lite\.jsonl:2: an encyclopedia.*needs 'questions'.*and 'answers'"),
        ({"questions": [["a"], ["b"]], "answers": ["x"]}, r"lite\.jsonl:2: 2 question groups for 1 answers"),
        ({"prompt": "x"}, r"lite\.jsonl:2: neither Huatuo26M-Lite fields"),
    ],
)
def test_huatuo_bad_rows_name_file_and_line(tmp_path, row, message):
    from medft.data.huatuo import load_huatuo

    path = tmp_path / "lite.jsonl"
    good = (FIXTURES / "huatuo" / "lite.jsonl").read_text().splitlines()[0]
    path.write_text(good + "\n" + json.dumps(row, ensure_ascii=False) + "\n")
    with pytest.raises(DataFormatError, match=message):
        load_huatuo(str(path))


def test_huatuo_hub_splits_map_to_ours(tmp_path):
    from medft.data.huatuo import load_huatuo

    repo = tmp_path / "huatuo_hub"
    repo.mkdir()
    rows = json.loads((FIXTURES / "huatuo" / "encyclopedia.json").read_text())
    for split in ("train", "validation", "test"):
        (repo / f"{split}.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    splits = load_huatuo(hub_id=str(repo))
    assert set(splits) == {"train", "validation", "test"} and len(splits["test"]) == 3


# --------------------------------------------------------------------------- MIMIC


def test_mimic3_noteevents_drops_iserror_rows_and_filters_categories():
    from medft.data.mimic import read_notes

    notes = read_notes(FIXTURES / "mimic" / "NOTEEVENTS.csv")
    assert [n.metadata["note_id"] for n in notes] == ["174", "176", "177"]  # 175 has ISERROR=1
    assert notes[0].answer.startswith("Admission Date:") and "Discharge Diagnosis" in notes[0].answer
    assert notes[0].metadata["plain_text"] and notes[0].metadata["patient"] == "22532"
    summaries = read_notes(FIXTURES / "mimic" / "NOTEEVENTS.csv", categories=["discharge summary"])
    assert [n.metadata["note_id"] for n in summaries] == ["174", "176"]


def test_mimic4_discharge_layout_and_patient_split():
    from medft.data.mimic import read_notes, split_by_patient

    notes = read_notes(FIXTURES / "mimic" / "discharge.csv")
    assert [n.metadata["note_id"] for n in notes] == ["10000032-DS-21", "10000084-DS-17"]
    assert notes[1].metadata["category"] == "DS" and notes[1].answer.endswith("delirium.")
    many = read_notes(FIXTURES / "mimic" / "NOTEEVENTS.csv") * 20
    splits = split_by_patient(many, 0.3, 0.3, seed=0)
    patients = {name: {r.metadata["patient"] for r in part} for name, part in splits.items()}
    assert not (patients["train"] & patients["test"]) and sum(len(p) for p in splits.values()) == len(many)


def test_mimic_wrong_layout_and_missing_file_are_clear(tmp_path):
    from medft.data.mimic import read_notes

    bad = tmp_path / "notes.csv"
    bad.write_text("id,body\n1,hello\n")
    with pytest.raises(DataFormatError, match=r"notes\.csv:1: not a MIMIC note file.*ROW_ID"):
        read_notes(bad)
    with pytest.raises(DataFormatError, match="no such file"):
        read_notes(tmp_path / "NOTEEVENTS.csv")


# --------------------------------------------------------------------------- Chinese text metrics


def test_chinese_rouge_counts_characters_not_spaces():
    from rouge_score import rouge_scorer

    from medft.evaluation.zh_text import rouge_l, tokenize

    reference, prediction = "建议低盐饮食并监测血压", "建议低盐饮食"
    default = rouge_scorer.RougeScorer(["rougeL"]).score(reference, prediction)["rougeL"].fmeasure
    assert default == 0.0  # rouge_score's own tokenizer drops every Chinese character
    # LCS 6 characters: P = 6/6, R = 6/11 -> F = 2 * 6 / (6 + 11)
    assert rouge_l([prediction], [reference]) == [pytest.approx(12 / 17)]
    assert tokenize("口服阿司匹林100mg，每日一次") == [
        "口",
        "服",
        "阿",
        "司",
        "匹",
        "林",
        "100mg",
        "每",
        "日",
        "一",
        "次",
    ]
    english = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True).score("the fevers resolved", "fever resolved")
    assert rouge_l(["fever resolved"], ["the fevers resolved"]) == [pytest.approx(english["rougeL"].fmeasure)]


def test_jieba_segments_words():
    pytest.importorskip("jieba")
    from medft.evaluation.zh_text import rouge_l, tokenize

    words = tokenize("建议低盐饮食并监测血压", "jieba")
    assert "".join(words) == "建议低盐饮食并监测血压" and len(words) < 11  # words, not characters
    assert 0 < rouge_l(["建议低盐饮食"], ["建议低盐饮食并监测血压"], "jieba")[0] < 1
