"""Benchmark loaders: native files and hub rows -> Records, split rules, and errors that name the
file and line (or key). Fixtures under tests/fixtures/benchmarks are hand-written toy items in
each benchmark's native format; the hub is replaced by `datasets.Dataset.from_list`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from medft.benchmarks import medmcqa, medqa, medquad, mmlu, pubmedqa
from medft.benchmarks.base import BenchmarkFormatError, BenchmarkSourceError
from medft.benchmarks.registry import BENCHMARKS, load_benchmark
from medft.config.errors import UserError

FIXTURES = Path(__file__).parent / "fixtures" / "benchmarks"


@pytest.fixture
def hub(monkeypatch):
    """Replace `datasets.load_dataset` with in-memory rows: {(hub_id, config, split): [row, ...]}."""
    import datasets

    tables: dict = {}
    calls: list = []

    def fake(path, name=None, split=None, **kwargs):
        calls.append((path, name, split))
        if (path, name, split) not in tables:
            raise ConnectionError(f"offline: {path} {name} {split}")
        return datasets.Dataset.from_list(tables[(path, name, split)])

    monkeypatch.setattr(datasets, "load_dataset", fake)
    fake.tables, fake.calls = tables, calls
    return fake


def copy(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dst)
    return dst


# --- PubMedQA -----------------------------------------------------------------------------------


def test_pubmedqa_folder_with_ground_truth_uses_the_official_test_split():
    data = pubmedqa.load(str(FIXTURES / "pubmedqa"))
    assert data.split == "test" and data.notes == []
    assert [r.metadata["id"] for r in data.records] == ["9000001", "9000003", "9000005"]
    first = data.records[0]
    assert first.options == ("yes", "no", "maybe") and first.answer == "yes" and first.answer_index == 0
    assert first.context == (
        "Walking is a common low-cost exercise.\nAdults over 65 walked 30 minutes daily "
        "for 12 weeks.\nSystolic pressure fell by 6 mmHg on average."
    )
    assert first.metadata["long_answer"] == "Daily walking lowered resting blood pressure."
    assert first.metadata["long_answer"] not in first.question + first.context
    assert {r.metadata["id"] for r in data.fewshot_pool} == {"9000002", "9000004", "9000006"}
    assert [r.answer for r in data.records] == ["yes", "maybe", "no"]

    train = pubmedqa.load(str(FIXTURES / "pubmedqa"), split="train")
    assert train.split == "train" and [r.metadata["id"] for r in train.records] == ["9000002", "9000004", "9000006"]
    everything = pubmedqa.load(str(FIXTURES / "pubmedqa" / "ori_pqal.json"), split="all")
    assert len(everything.records) == 6 and "includes the 3 official test records" in everything.notes[0]


def test_pubmedqa_trainpool_without_ground_truth(tmp_path):
    path = copy(FIXTURES / "pubmedqa" / "ori_pqal.json", tmp_path / "nested" / "ori_pqal_trainpool.json")
    data = pubmedqa.load(str(tmp_path))
    assert data.split == "all" and len(data.records) == 6 and data.fewshot_pool == []
    assert "test_ground_truth.json" in data.notes[0] and "not the official" in data.notes[0]
    with pytest.raises(BenchmarkSourceError, match="split=all") as err:
        pubmedqa.load(str(path), split="train")
    assert "test_ground_truth.json" in str(err.value)
    with pytest.raises(BenchmarkSourceError, match="test_ground_truth.json"):
        pubmedqa.load(str(path), split="test")
    with pytest.raises(BenchmarkSourceError, match="no 'validation' split"):
        pubmedqa.load(str(path), split="validation")


def pubmedqa_hub_row(pubid, decision):
    return {
        "pubid": pubid,
        "question": f"Does treatment {pubid} help?",
        "context": {"contexts": ["Background.", "Results."], "labels": ["B", "R"], "meshes": ["Humans"]},
        "long_answer": "It does.",
        "final_decision": decision,
    }


def test_pubmedqa_hub_rows_and_split_rules(hub):
    hub.tables[("qiaojin/PubMedQA", "pqa_labeled", "train")] = [
        pubmedqa_hub_row(1, "yes"),
        pubmedqa_hub_row(2, "maybe"),
    ]
    data = pubmedqa.load(None)
    assert data.split == "all" and "no official test split" in data.notes[0]
    assert [r.answer_index for r in data.records] == [0, 2] and data.records[0].context == "Background.\nResults."
    assert data.records[0].metadata["id"] == "1" and data.records[0].metadata["long_answer"] == "It does."
    calls = len(hub.calls)
    with pytest.raises(BenchmarkSourceError, match="test_ground_truth.json"):
        pubmedqa.load(None, split="test")
    assert len(hub.calls) == calls  # refused before touching the hub
    with pytest.raises(BenchmarkSourceError, match=r"benchmark\.path=<file or folder>") as err:
        pubmedqa.load(None, hub_id="someone/missing")
    assert "dataset.path=" in str(err.value) and "ConnectionError" in str(err.value)


# --- MedQA --------------------------------------------------------------------------------------


def test_medqa_folder_splits_and_fewshot_pool():
    root = FIXTURES / "medqa"
    data = medqa.load(str(root))
    assert data.split == "test" and len(data.records) == 3 and len(data.fewshot_pool) == 3
    first = data.records[0]
    assert first.answer == "Right coronary" and first.answer_index == 1 and len(first.options) == 4
    assert first.metadata["meta_info"] == "step2&3" and first.metadata["line"] == 1
    assert first.metadata["id"] == "phrases_no_exclude_test.jsonl:1" and first.context == ""
    dev = medqa.load(str(root), split="dev")
    assert dev.split == "validation" and len(dev.records) == 2
    assert medqa.load(str(root), split="train").fewshot_pool == medqa.load(str(root), split="train").records


def test_medqa_single_files(tmp_path):
    test_file = FIXTURES / "medqa" / "US" / "4_options" / "phrases_no_exclude_test.jsonl"
    data = medqa.load(str(test_file))
    assert data.split == "test" and len(data.fewshot_pool) == 3  # the sibling train file
    with pytest.raises(BenchmarkSourceError, match="is the test file"):
        medqa.load(str(test_file), split="train")
    unnamed = copy(test_file, tmp_path / "usmle.jsonl")
    data = medqa.load(str(unnamed))
    assert data.split == "all" and "names no split" in data.notes[0] and data.fewshot_pool == []
    with pytest.raises(BenchmarkSourceError, match="dataset.source_split=all"):
        medqa.load(str(unnamed), split="train")


def _region_line(i: int, n_options: int) -> str:
    letters = "ABCDE"[:n_options]
    options = {k: f"选项{k}{i}" for k in letters}  # Mainland and Taiwan questions are Chinese text
    answer = letters[i % n_options]
    return json.dumps(
        {
            "question": f"问题{i}？",
            "options": options,
            "answer": options[answer],
            "answer_idx": answer,
            "meta_info": "卫生法规",
        },
        ensure_ascii=False,
    )


@pytest.mark.parametrize("region,n_options", [("Mainland", 5), ("Taiwan", 4)])
def test_medqa_region_folders_of_the_release_load(tmp_path, region, n_options):
    folder = tmp_path / "data_clean" / "questions" / region
    for split, n in (("train", 6), ("dev", 3), ("test", 4)):
        (folder / f"{split}.jsonl").parent.mkdir(parents=True, exist_ok=True)
        (folder / f"{split}.jsonl").write_text("\n".join(_region_line(i, n_options) for i in range(n)) + "\n", "utf-8")
    translated = folder / "tw_translated_jsonl" / "en" / "test-2en.jsonl"  # Taiwan's English copy is skipped
    translated.parent.mkdir(parents=True)
    translated.write_text(_medqa_line() + "\n")
    test = medqa.load(str(folder))
    assert test.split == "test" and len(test.records) == 4 and test.source == str(folder / "test.jsonl")
    first = test.records[0]
    assert len(first.options) == n_options and first.answer == "选项A0" and first.question == "问题0？"
    last = test.records[3]
    assert last.answer_index == 3 % n_options and last.answer_letter == "ABCDE"[3 % n_options]
    assert len(medqa.load(str(folder), split="dev").records) == 3
    assert len(medqa.load(str(folder / "train.jsonl"), split="train").records) == 6  # the file itself


def test_medqa_mainland_trains_through_the_dataset_option(compose, tmp_path):
    folder = tmp_path / "Mainland"
    folder.mkdir()
    (folder / "train.jsonl").write_text("\n".join(_region_line(i, 5) for i in range(20)), "utf-8")
    from medft.data.load import load_splits

    cfg = compose(["dataset=medqa", f"dataset.path={folder / 'train.jsonl'}", "dataset.stratify_by=null"])
    splits = load_splits(cfg.dataset)
    assert {k: len(v) for k, v in splits.items()} == {"train": 16, "validation": 2, "test": 2}
    assert all(len(r.options) == 5 for r in splits["train"])


def test_medqa_prefers_the_4_option_files_in_the_release_layout(tmp_path):
    src = FIXTURES / "medqa" / "US" / "4_options" / "phrases_no_exclude_test.jsonl"
    copy(src, tmp_path / "US" / "4_options" / "phrases_no_exclude_test.jsonl")
    copy(src, tmp_path / "US" / "test.jsonl")
    assert medqa.load(str(tmp_path)).source.endswith("4_options/phrases_no_exclude_test.jsonl")
    copy(src, tmp_path / "Other" / "4_options" / "test.jsonl")
    with pytest.raises(BenchmarkSourceError, match="several test files"):
        medqa.load(str(tmp_path))


def test_medqa_hub_rows_in_both_shapes(hub):
    native = {
        "question": "Antidote for heparin?",
        "answer": "Protamine",
        "answer_idx": "B",
        "meta_info": "step1",
        "options": {"A": "Vitamin K", "B": "Protamine", "C": "Naloxone", "D": "Glucagon"},
    }
    hub.tables[("GBaker/MedQA-USMLE-4-options", None, "test")] = [native]
    hub.tables[("GBaker/MedQA-USMLE-4-options", None, "train")] = [native, native]
    data = medqa.load(None)
    assert data.split == "test" and data.records[0].answer_index == 1 and len(data.fewshot_pool) == 2
    assert data.records[0].metadata["meta_info"] == "step1" and data.records[0].metadata["id"] == "test:0"
    hf = {
        "id": "x",
        "sent1": "Antidote for heparin?",
        "sent2": "",
        "ending0": "Vitamin K",
        "ending1": "Protamine",
        "ending2": "Naloxone",
        "ending3": "Glucagon",
        "label": 1,
    }
    for split in ("validation", "train"):
        hub.tables[("GBaker/MedQA-USMLE-4-options-hf", None, split)] = [hf]
    data = medqa.load(None, split="dev", hub_id="GBaker/MedQA-USMLE-4-options-hf")
    assert data.split == "validation" and data.records[0] == medqa.load(None).records[0]
    hub.tables[("GBaker/MedQA-USMLE-4-options-hf", None, "test")] = [{**hf, "label": 4}]
    with pytest.raises(BenchmarkFormatError, match="row 0.*label is a number outside 0..3"):
        medqa.load(None, hub_id="GBaker/MedQA-USMLE-4-options-hf")


# --- MedMCQA ------------------------------------------------------------------------------------


def test_medmcqa_folder_is_scored_on_validation_with_1_based_cop():
    data = medmcqa.load(str(FIXTURES / "medmcqa"))
    assert data.split == "validation" and len(data.records) == 4 and len(data.fewshot_pool) == 3
    assert [r.answer for r in data.records] == ["Femur", "Ethosuximide", "Vitamin K", "Measles"]  # cop 1..4
    first = data.records[0]
    assert first.metadata["subject"] == "Anatomy" and first.metadata["id"] == "toy-1" and first.metadata["line"] == 1
    assert first.metadata["explanation"].startswith("Ans. a.") and data.records[1].metadata["explanation"] is None
    assert "holds 4 records" in data.notes[0]  # a subset of the 4183-record validation split
    with pytest.raises(BenchmarkSourceError, match="not public"):
        medmcqa.load(str(FIXTURES / "medmcqa"), split="test")


def test_medmcqa_single_files(tmp_path):
    data = medmcqa.load(str(FIXTURES / "medmcqa" / "dev.json"))
    assert data.split == "validation" and len(data.fewshot_pool) == 3
    other = copy(FIXTURES / "medmcqa" / "dev.json", tmp_path / "mcqa_sample.json")
    data = medmcqa.load(str(other))
    assert data.split == "all" and "names no split" in data.notes[-1]
    with pytest.raises(BenchmarkSourceError, match="dataset.source_split=all"):
        medmcqa.load(str(other), split="train")


def test_medmcqa_hub_cop_is_0_based(hub):
    local = [json.loads(line) for line in (FIXTURES / "medmcqa" / "dev.json").read_text().splitlines()]
    hub.tables[("openlifescienceai/medmcqa", None, "validation")] = [{**row, "cop": row["cop"] - 1} for row in local]
    hub.tables[("openlifescienceai/medmcqa", None, "train")] = [{**local[0], "cop": 0}]
    data = medmcqa.load(None)
    assert data.split == "validation" and len(data.fewshot_pool) == 1
    assert data.records == medmcqa.load(str(FIXTURES / "medmcqa")).records
    hub.tables[("openlifescienceai/medmcqa", None, "validation")] = [{**local[0], "cop": 4}]
    with pytest.raises(BenchmarkFormatError, match=r"row 0: cop is a number outside 0\.\.3"):
        medmcqa.load(None)


# --- MMLU ---------------------------------------------------------------------------------------


def test_mmlu_tarball_layout():
    data = mmlu.load(str(FIXTURES / "mmlu"))
    assert data.split == "test" and data.fewshot_sampler == "first_n" and len(data.records) == 7
    subjects = [r.metadata["subject"] for r in data.records]
    assert subjects == ["anatomy", "anatomy", *mmlu.MEDICAL_SUBJECTS[1:]]
    quoted = data.records[1]
    assert quoted.question == 'The "heart" has how many chambers, in adults?' and quoted.answer == "Four"
    assert quoted.metadata["line"] == 2 and quoted.metadata["id"] == "anatomy-test-1"
    assert data.records[2].metadata["line"] == 1  # next file starts again
    assert data.records[3].question == "Which organelle makes ATP?\nChoose one." and data.records[3].answer_index == 3
    assert sorted(r.metadata["subject"] for r in data.fewshot_pool) == sorted(mmlu.MEDICAL_SUBJECTS)
    one = mmlu.load(str(FIXTURES / "mmlu"), subjects=("medical_genetics",), split="validation")
    assert (
        one.split == "validation"
        and len(one.records) == 1
        and one.fewshot_pool[0].metadata["subject"] == "medical_genetics"
    )


def test_mmlu_falls_back_to_val_and_names_missing_files(tmp_path):
    shutil.copytree(FIXTURES / "mmlu" / "data" / "val", tmp_path / "data" / "val")
    data = mmlu.load(str(tmp_path))
    assert data.split == "validation" and "no *_test.csv" in data.notes[0] and data.fewshot_pool == []
    (tmp_path / "data" / "val" / "anatomy_val.csv").unlink()
    with pytest.raises(BenchmarkSourceError, match="anatomy_val.csv"):
        mmlu.load(str(tmp_path))


def test_mmlu_single_csv_takes_subject_and_split_from_its_name():
    data = mmlu.load(str(FIXTURES / "mmlu" / "data" / "test" / "anatomy_test.csv"))
    assert data.split == "test" and {r.metadata["subject"] for r in data.records} == {"anatomy"}
    assert len(data.fewshot_pool) == 1 and data.fewshot_pool[0].metadata["id"] == "anatomy-dev-0"


def test_mmlu_hub_rows_per_subject(hub):
    for subject in ("anatomy", "virology"):
        hub.tables[("cais/mmlu", subject, "test")] = [
            {"question": f"{subject} q?", "subject": subject, "choices": ["w", "x", "y", "z"], "answer": 2}
        ]
        hub.tables[("cais/mmlu", subject, "dev")] = [
            {"question": "dev q?", "subject": subject, "choices": ["w", "x", "y", "z"], "answer": 0}
        ]
    data = mmlu.load(None, subjects=("anatomy", "virology"))
    assert [r.answer for r in data.records] == ["y", "y"] and [r.metadata["subject"] for r in data.records] == [
        "anatomy",
        "virology",
    ]
    assert data.fewshot_sampler == "first_n" and len(data.fewshot_pool) == 2
    assert data.records[0].metadata["id"] == "anatomy-test-0"
    with pytest.raises(BenchmarkSourceError, match="clinical_knowledge"):
        mmlu.load(None)  # the other medical subjects are not on this fake hub


# --- MedQuAD ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question,focus,matched",
    [
        ("What is (are) Gout ?", "gout", True),
        ("Who is at risk for Adult Acute Myeloid Leukemia? ?", "adult acute myeloid leukemia", True),
        ("what research (or clinical trials) is being done for Scurvy ?", "scurvy", True),
        ("Is  Fragile X syndrome   inherited ?", "fragile x syndrome", True),
        ("How many people are affected by alpha-1 antitrypsin deficiency ?", "alpha-1 antitrypsin deficiency", True),
        ("Do you have information about Air Pollution", "air pollution", True),
        ("Can I exercise with a sore knee?", "can i exercise with a sore knee", False),
    ],
)
def test_medquad_focus_extraction(question, focus, matched):
    assert medquad.extract_focus(question) == (focus, matched)


def test_medquad_focus_split_keeps_each_focus_on_one_side():
    everything = medquad.load(str(FIXTURES / "medquad"), split="all")
    assert len(everything.records) == 19 and "8 foci" in everything.notes[0]
    assert "18/19 questions matched" in everything.notes[0]
    parts = {s: medquad.load(str(FIXTURES / "medquad"), split=s).records for s in ("train", "validation", "test")}
    assert sum(len(v) for v in parts.values()) == 19
    foci = {s: {r.metadata["focus"] for r in v} for s, v in parts.items()}
    assert not (foci["train"] & foci["test"]) and not (foci["train"] & foci["validation"])
    assert foci["test"] == {"mumps", "appendicitis"} and foci["validation"] == {"scoliosis"}  # sha256: stable
    auto = medquad.load(str(FIXTURES / "medquad" / "medquad.csv"))
    assert auto.split == "test" and auto.records == parts["test"] and auto.fewshot_pool == parts["train"]
    record = everything.records[1]
    assert not record.options and record.answer.startswith("Sudden, severe pain,\nswelling")
    assert record.metadata["qtype"] == "symptoms" and record.metadata["line"] == 3
    assert everything.records[2].metadata["line"] == 5  # the row above spans two lines


def test_medquad_hub_rows(hub):
    hub.tables[("keivalya/MedQuad-MedicalQnADataset", None, "train")] = [
        {"qtype": "information", "Question": "What is (are) Mumps ?", "Answer": "A viral infection."},
        {"qtype": "causes", "Question": "What causes Gout ?", "Answer": "Uric acid crystals."},
    ]
    data = medquad.load(None)
    assert data.split == "test" and [r.metadata["focus"] for r in data.records] == ["mumps"]
    assert data.records[0].metadata["id"] == "train:0" and data.records[0].answer == "A viral infection."


# --- Malformed inputs ---------------------------------------------------------------------------


def _mcqa_line(**change):
    row = {
        "question": "q?",
        "opa": "a",
        "opb": "b",
        "opc": "c",
        "opd": "d",
        "cop": 1,
        "id": "i1",
        "exp": None,
        "subject_name": "Anatomy",
    }
    return json.dumps({k: v for k, v in {**row, **change}.items() if v != "DROP"})


def _medqa_line(**change):
    row = {"question": "q?", "options": {"A": "a", "B": "b", "C": "c", "D": "d"}, "answer": "b", "answer_idx": "B"}
    return json.dumps({**row, **change})


GOOD_PQAL = {"QUESTION": "q?", "CONTEXTS": ["c"], "final_decision": "yes", "LONG_ANSWER": "l"}

MALFORMED = [
    # (module, file name, content, expected pieces of the message besides the file name)
    (pubmedqa, "ori_pqal.json", '{\n "1": {"QUESTION": "q"\n', [":3:", "invalid JSON"]),
    (pubmedqa, "ori_pqal.json", json.dumps({"7": {"QUESTION": "q?", "CONTEXTS": []}}), ["record 1", "final_decision"]),
    (
        pubmedqa,
        "ori_pqal.json",
        json.dumps({"7": {**GOOD_PQAL, "final_decision": "perhaps"}}),
        ["record 1", "final_decision (a string of 7 characters)", "maybe"],
    ),
    (
        pubmedqa,
        "ori_pqal.json",
        f'{{"7": {json.dumps(GOOD_PQAL)},\n "7": {json.dumps(GOOD_PQAL)}}}',
        ["key 2 of an object", "repeats key 1"],
    ),
    (medqa, "test.jsonl", _medqa_line() + "\n{oops\n", [":2:", "invalid JSON"]),
    (medqa, "test.jsonl", _medqa_line(answer="c"), [":1:", "is not the text of option B"]),
    (medqa, "test.jsonl", _medqa_line(options={"A": "a", "B": "b"}), [":1:", "too few options"]),
    (
        medqa,
        "test.jsonl",
        _medqa_line(options={"A": "a", "B": "b", "C": "c", "D": "d", "E": "e", "F": "f"}),
        [":1:", "unexpected option keys", "A-E (5 options)"],
    ),
    (medqa, "test.jsonl", _medqa_line(options={"A": "a", "B": "b", "C": "c", "E": "e"}), [":1:", "A-D (4 options)"]),
    (medqa, "test.jsonl", json.dumps({"question": "q"}), [":1:", "missing", "answer_idx"]),
    (
        medmcqa,
        "dev.json",
        _mcqa_line() + "\n" + _mcqa_line(cop=0, id="i2"),
        [":2:", "cop is a number outside 1..4", "1 = opa"],
    ),
    (medmcqa, "dev.json", _mcqa_line() + "\n\n" + _mcqa_line(), [":3:", "its id repeats the id at", ":1"]),
    (medmcqa, "dev.json", _mcqa_line(opd="DROP"), [":1:", "missing ['opd']"]),
    (medmcqa, "dev.json", _mcqa_line(opc=None), [":1:", "too few options"]),
    (mmlu, "anatomy_test.csv", "q?,a,b,c,d,A\nq2,a,b,c,B\n", [":2:", "too few options", "6 comma-separated fields"]),
    (
        mmlu,
        "anatomy_test.csv",
        '"multi\nline q",a,b,c,d,E\n',
        [":1:", "answer (a string of 1 character) is not a letter", "A, B, C or D"],
    ),
    (medquad, "medquad.csv", "qtype,Question\ninformation,What is (are) Gout ?\n", [":1:", "lacks ['Answer']"]),
    (
        medquad,
        "medquad.csv",
        "qtype,Question,Answer\ninformation,What is (are) Gout ?,x\ncauses,What causes Gout ?,\n",
        [":3:", "Answer is an empty string"],
    ),
]


@pytest.mark.parametrize(
    "module,name,content,needles", MALFORMED, ids=[f"{m.NAME}-{i}" for i, (m, *_rest) in enumerate(MALFORMED)]
)
def test_malformed_files_name_the_file_and_place(tmp_path, module, name, content, needles):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(BenchmarkFormatError) as err:
        module.load(str(path), split="all")
    message = str(err.value)
    assert str(path) in message
    for needle in needles:
        assert needle in message, message


@pytest.mark.parametrize(
    "module,name",
    [
        (pubmedqa, "ori_pqal.json"),
        (medqa, "test.jsonl"),
        (medmcqa, "dev.json"),
        (mmlu, "anatomy_test.csv"),
        (medquad, "medquad.csv"),
    ],
)
def test_empty_and_non_utf8_files(tmp_path, module, name):
    path = tmp_path / name
    path.write_text("\n  \n")
    with pytest.raises(BenchmarkFormatError, match="empty") as err:
        module.load(str(path), split="all")
    assert str(path) in str(err.value)
    path.write_bytes("line one\nQuestion about caf\u00e9,\n".encode("latin-1"))
    with pytest.raises(BenchmarkFormatError, match="UTF-8") as err:
        module.load(str(path), split="all")
    assert f"{path}:2:" in str(err.value)


def test_pubmedqa_ground_truth_must_agree_with_the_data(tmp_path):
    copy(FIXTURES / "pubmedqa" / "ori_pqal.json", tmp_path / "ori_pqal.json")
    truth = tmp_path / "test_ground_truth.json"
    truth.write_text(json.dumps({"9000001": "no"}))
    with pytest.raises(
        BenchmarkFormatError, match="key 1 of the object: the label differs from final_decision of record"
    ):
        pubmedqa.load(str(tmp_path))
    truth.write_text(json.dumps({"1234": "yes"}))
    with pytest.raises(BenchmarkSourceError, match="not in"):
        pubmedqa.load(str(tmp_path))


def test_a_missing_path_and_an_unknown_split(tmp_path):
    with pytest.raises(BenchmarkSourceError, match="no such file or folder"):
        medqa.load(str(tmp_path / "absent.jsonl"))
    with pytest.raises(UserError, match="'testing' is not one of"):
        medqa.load(str(FIXTURES / "medqa"), split="testing")


# --- Registry -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,count,split",
    [
        ("pubmedqa", 3, "test"),
        ("medqa", 3, "test"),
        ("medmcqa", 4, "validation"),
        ("mmlu_medical", 7, "test"),
        ("medquad", 5, "test"),
    ],
)
def test_load_benchmark_from_a_data_dir(name, count, split):
    data = load_benchmark(name, data_dir=str(FIXTURES))
    assert data.name == name and len(data.records) == count and data.split == split


def test_load_benchmark_errors_name_what_was_looked_for(tmp_path):
    with pytest.raises(BenchmarkSourceError, match=r"no folder .*medqa.*subfolder"):
        load_benchmark("medqa", data_dir=str(tmp_path))
    for spec in BENCHMARKS.values():
        (tmp_path / spec.data_subdir).mkdir()
    expected = {
        "pubmedqa": "ori_pqal.json",
        "medqa": "*.jsonl",
        "medmcqa": "dev*.json",
        "mmlu_medical": "anatomy_test.csv",
        "medquad": "*.csv",
    }
    for name, needle in expected.items():
        with pytest.raises(BenchmarkSourceError) as err:
            load_benchmark(name, data_dir=str(tmp_path))
        assert needle in str(err.value) and str(tmp_path) in str(err.value)
    with pytest.raises(UserError, match="known:.*medquad.*pubmedqa"):
        load_benchmark("pubmed")


def test_registry_matches_the_loaders_and_the_config_choices(hub):
    from medft.config.choices import BENCHMARK_KINDS, DatasetKind, values
    from medft.data.task_data import TASK_DATA_KINDS

    modules = {"pubmedqa": pubmedqa, "medqa": medqa, "medmcqa": medmcqa, "mmlu_medical": mmlu, "medquad": medquad}
    others = {
        "builtin",
        "jsonl",
        "files",
        "preference_jsonl",
        "text",
        "mixture",
        *TASK_DATA_KINDS,
    }  # not benchmarks: own data, mixtures, the task group's
    assert set(BENCHMARKS) == set(modules) == set(BENCHMARK_KINDS) == set(values(DatasetKind)) - others
    for name, spec in BENCHMARKS.items():
        assert spec.module == modules[name].__name__.rsplit(".", 1)[1] and spec.hub_id == modules[name].DEFAULT_HUB_ID
        assert spec.task == ("generative" if name == "medquad" else "multiple_choice")
    assert BENCHMARKS["pubmedqa"].hub_config == "pqa_labeled" and BENCHMARKS["medquad"].harness is None
    with pytest.raises(BenchmarkSourceError):
        load_benchmark("medmcqa")
    assert hub.calls == [("openlifescienceai/medmcqa", None, "validation")]


# --- Training on a benchmark --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_benchmark_dataset_options_compose_and_validate(compose, name):
    from medft.config.validate import validate

    cfg = compose([f"dataset={name}", "dry_run=true"])
    assert cfg.dataset.kind == name and cfg.dataset.path is None
    validate(cfg)


def test_training_splits_from_local_benchmark_files(compose):
    from medft.data.load import load_splits

    cfg = compose(
        [
            "dataset=medmcqa",
            f"dataset.path={FIXTURES / 'medmcqa' / 'dev.json'}",
            "dataset.source_split=all",
            "dry_run=true",
        ]
    )
    splits = load_splits(cfg.dataset)
    assert sum(len(v) for v in splits.values()) == 4 and splits["train"]
    cfg = compose(
        [
            "dataset=pubmedqa",
            f"dataset.path={FIXTURES / 'pubmedqa'}",
            "dataset.validation_fraction=0",
            "dataset.test_fraction=0",
            "dry_run=true",
        ]
    )
    assert {r.metadata["id"] for r in load_splits(cfg.dataset)["train"]} == {"9000002", "9000004", "9000006"}
    cfg = compose(["dataset=medquad", f"dataset.path={FIXTURES / 'medquad'}", "dry_run=true"])
    splits = load_splits(cfg.dataset)
    foci = {name: {r.metadata["focus"] for r in part} for name, part in splits.items()}
    assert foci["test"] == {"mumps", "appendicitis"} and not foci["train"] & (foci["test"] | foci["validation"])
    cfg = compose(["dataset=medquad", f"dataset.path={FIXTURES / 'medquad'}", "dataset.source_split=test"])
    with pytest.raises(UserError, match="dataset.source_split=train"):
        load_splits(cfg.dataset)
