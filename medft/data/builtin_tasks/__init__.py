"""Offline data for the diagnosis, clinical_note and ner tasks, written by the project (no patient data).

- diagnosis (`dataset=diagnosis_builtin`): 48 vignettes of 16 diagnoses (vignettes.yaml). Two
  vignettes per diagnosis train as free text (case -> diagnosis); the third is the test split,
  a new case of a trained diagnosis, with four options (distractors: other diagnoses) so both
  generated exact match and multiple-choice accuracy are scored.
- clinical_note (`dataset=notes_builtin`): one synthetic note per vignette (presentation,
  working diagnosis, management, course) with a summary of that case's own facts as the target
  (patient, complaint, key finding, diagnosis, plan, course); the same split by vignette, so a
  test summary shares only its diagnosis and plan with the two training summaries of that
  diagnosis (tests/test_builtin_data.py bounds the overlap).
- ner (`dataset=ner_builtin`): 60 English clinical sentences rendered from slot tables below (57
  distinct: a sentence rendered twice is kept once, in the split of its first copy),
  written out in CMeEE's native format (inclusive end_idx, the nine CMeEE types) and read back
  through the CMeEE parser, so the sample has exactly the entity format of the Chinese data,
  nested mentions included (chest pain: sym, chest: bod). Every fifth sentence is test, every
  tenth (offset 3) validation.
Everything is a pure function of the tables.
"""

from __future__ import annotations

from importlib import resources

from medft.data.cmeee import parse_records
from medft.data.entities import format_entities
from medft.data.records import Record

N_OPTIONS = 4
NOTE_INSTRUCTION = "Summarise this clinical note in two sentences."


def _vignettes() -> list[dict]:
    import yaml

    with resources.files(__package__).joinpath("vignettes.yaml").open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _options(table: list[dict], index: int, salt: int) -> tuple[tuple[str, ...], int]:
    """The right diagnosis among three others, the correct letter cycling A-D with `salt`."""
    others = [row["diagnosis"] for j, row in enumerate(table) if j != index]
    picks = [others[(index * 5 + salt * 3 + k * 7) % len(others)] for k in range(N_OPTIONS - 1)]
    picks = list(dict.fromkeys(picks)) + [o for o in others if o not in picks]
    position = salt % N_OPTIONS
    options = picks[:position] + [table[index]["diagnosis"]] + picks[position : N_OPTIONS - 1]
    return tuple(options), position


def diagnosis_splits() -> dict[str, list[Record]]:
    table = _vignettes()
    splits: dict[str, list[Record]] = {"train": [], "validation": [], "test": []}
    for index, row in enumerate(table):
        meta = {"category": "diagnosis", "aliases": list(row.get("aliases") or []), "diagnosis_id": index}
        for case in row["cases"][:2]:
            splits["train"].append(Record(question=case["text"], answer=row["diagnosis"], metadata=dict(meta)))
        options, position = _options(table, index, salt=index)
        splits["test"].append(
            Record(
                question=row["cases"][2]["text"],
                answer=row["diagnosis"],
                options=options,
                answer_index=position,
                metadata=dict(meta),
            )
        )
    return splits


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _note(case: dict, row: dict) -> tuple[str, str]:
    """A case as (note, summary). The summary restates this case's facts, not its diagnosis'
    (a per-diagnosis summary made every test summary a copy of two training ones)."""
    note = (
        f"Presentation: {case['text']}\nWorking diagnosis: {row['diagnosis']}.\n"
        f"Management: {row['treatment']}.\nCourse: {case['course']}."
    )
    summary = (
        f"{_capital(case['patient'])}: {case['complaint']}; {case['finding']}. "
        f"{_capital(row['diagnosis'])}, treated with {row['treatment']}; {case['course']}."
    )
    return note, summary


def notes_splits() -> dict[str, list[Record]]:
    splits: dict[str, list[Record]] = {"train": [], "validation": [], "test": []}
    for index, row in enumerate(_vignettes()):
        for k, case in enumerate(row["cases"]):
            note, summary = _note(case, row)
            record = Record(
                question=NOTE_INSTRUCTION,
                context=note,
                answer=summary,
                metadata={"category": "note", "diagnosis_id": index},
            )
            splits["test" if k == 2 else "train"].append(record)
    return splits


# --------------------------------------------------------------------------- NER
# A filler is its text and type, plus any entity nested inside it: (text, type, ((inner, type), ...)).
LEXICON = {
    "sym": [
        ("fever", ()),
        ("chest pain", (("chest", "bod"),)),
        ("back pain", (("back", "bod"),)),
        ("shortness of breath", ()),
        ("cough", ()),
        ("nausea", ()),
        ("knee swelling", (("knee", "bod"),)),
        ("headache", ()),
    ],
    "dis": [
        ("pneumonia", ()),
        ("lung cancer", (("lung", "bod"),)),
        ("type 2 diabetes", ()),
        ("kidney stones", (("kidney", "bod"),)),
        ("hypertension", ()),
        ("asthma", ()),
        ("liver cirrhosis", (("liver", "bod"),)),
        ("gout", ()),
    ],
    "dru": [
        ("metformin", ()),
        ("amoxicillin", ()),
        ("aspirin", ()),
        ("furosemide", ()),
        ("insulin", ()),
        ("salbutamol", ()),
        ("ceftriaxone", ()),
        ("paracetamol", ()),
    ],
    "pro": [
        ("knee replacement", (("knee", "bod"),)),
        ("colonoscopy", ()),
        ("appendicectomy", ()),
        ("lumbar puncture", ()),
        ("cardiac catheterisation", ()),
        ("dialysis", ()),
    ],
    "ite": [
        ("chest X-ray", (("chest", "bod"),)),
        ("blood glucose", ()),
        ("troponin", ()),
        ("urine culture", ()),
        ("CT scan", ()),
        ("full blood count", ()),
    ],
    "equ": [
        ("nebuliser", ()),
        ("urinary catheter", ()),
        ("ventilator", ()),
        ("insulin pump", ()),
        ("walking frame", ()),
    ],
    "dep": [
        ("cardiology", ()),
        ("the emergency department", ()),
        ("nephrology", ()),
        ("orthopaedics", ()),
        ("the intensive care unit", ()),
    ],
    "mic": [
        ("Staphylococcus aureus", ()),
        ("Escherichia coli", ()),
        ("Streptococcus pneumoniae", ()),
        ("Helicobacter pylori", ()),
        ("influenza virus", ()),
    ],
}
TEMPLATES = [
    "The patient reported {sym} and {sym} for three days.",
    "Her {ite} was abnormal and {dis} was diagnosed.",
    "She was started on {dru} for {dis}.",
    "He was referred to {dep} for {pro}.",
    "Cultures grew {mic}, so {dru} was given.",
    "After {pro} she went home with a {equ}.",
    "History of {dis}; now presents with {sym}.",
    "No {sym} today and the patient has no other complaints.",
]
N_SENTENCES = 60


def _render_sentence(i: int) -> dict:
    """Sentence `i` as a native CMeEE record (end_idx inclusive, as CMeEE v1 files have it)."""
    import re

    template = TEMPLATES[i % len(TEMPLATES)]
    text, entities, slot = "", [], 0
    for piece in re.split(r"(\{\w+\})", template):
        if not piece.startswith("{"):
            text += piece
            continue
        kind = piece[1:-1]
        options = LEXICON[kind]
        mention, nested = options[(i * 3 + slot * 5 + i // len(TEMPLATES)) % len(options)]
        slot += 1
        start = len(text)
        if mention.startswith("the "):  # the article is not part of the department's name
            text += "the "
            mention, start = mention[4:], start + 4
        text += mention
        entities.append({"start_idx": start, "end_idx": start + len(mention) - 1, "type": kind, "entity": mention})
        for inner, inner_kind in nested:
            at = start + mention.index(inner)
            entities.append({"start_idx": at, "end_idx": at + len(inner) - 1, "type": inner_kind, "entity": inner})
    return {"text": text, "entities": entities}


def ner_native_records() -> list[dict]:
    return [_render_sentence(i) for i in range(N_SENTENCES)]


def ner_records_from_documents(documents) -> list[Record]:
    """NER documents (any source) as Records: the text is the question, the formatted entities the answer."""

    return [
        Record(
            question=d.text,
            answer=format_entities(list(d.entities)),
            metadata={"entities": list(d.entities), "source": d.source, "category": "ner"},
        )
        for d in documents
    ]


def ner_splits() -> dict[str, list[Record]]:
    records = ner_records_from_documents(parse_records(ner_native_records(), "builtin:ner"))
    splits: dict[str, list[Record]] = {"train": [], "validation": [], "test": []}
    seen = set()
    for i, record in enumerate(records):
        if record.question in seen:  # the slot tables render a few sentences twice: one copy, one split
            continue
        seen.add(record.question)
        splits["test" if i % 5 == 4 else "validation" if i % 10 == 3 else "train"].append(record)
    return splits
