"""PHI guard: every kind of placeholder, a 60-note synthetic corpus with planted identifiers
(recall reported), a run refused on that corpus by default, and no identifier in any log or error."""

from __future__ import annotations

import json
import logging
import random

import pytest

from medft.data import phi

SENTENCES = {  # (text, kinds expected) written for the test
    "Seen by Dr. Okafor in clinic.": {"NAME"},
    "Mrs. Lindqvist reports chest pain.": {"NAME"},
    "Admitted 03/14/2021 with sepsis.": {"DATE"},
    "Follow up on March 3rd.": {"DATE"},
    "Call the ward at (617) 555-0142.": {"PHONE"},
    "Fax: 617-555-0199 for records.": {"FAX"},
    "Email results to k.moreau@example.org today.": {"EMAIL"},
    "Portal at https://portal.example.org/pt/77 has the scans.": {"URL"},
    "MRN: 40021877 on the wristband.": {"MRN"},
    "Account # AC44512 billed.": {"ACCOUNT"},
    "SSN 123-45-6789 on file.": {"ID"},
    "A 94 year old woman with hip fracture.": {"AGE"},
    "Patient [**Known lastname 2213**] arrived [**2151-7-16**].": {"MIMIC"},
}


@pytest.mark.parametrize("text,kinds", SENTENCES.items())
def test_each_kind_gets_its_placeholder(text, kinds):
    spans = phi.scan(text)
    assert {s.kind for s in spans} == kinds
    scrubbed = phi.scrub(text)
    for span in spans:
        assert text[span.start : span.end] not in scrubbed
        assert span.placeholder in scrubbed


def test_mimic_marks_say_what_they_hide_and_clinical_numbers_stay():
    assert (
        phi.scrub("[**Known lastname 2213**] seen [**2151-7-16**] at [**Hospital1 18**]")
        == "[NAME] seen [DATE] at [LOCATION]"
    )
    clean = "pH 7.35-7.45, 40 mg twice daily, BP 120/80, aged 64, in 2019 a 72 year old man, 3 of 4 tablets."
    assert phi.scan(clean) == []


FIRST = ["Amara", "Tomasz", "Keiko", "Rafael", "Ingrid", "Dmitri", "Leilani", "Oluwaseun", "Priya", "Henrik"]
LAST = ["Okafor", "Lindqvist", "Moreau", "Castellanos", "Nakamura", "Abernathy", "Kowalczyk", "Haddad"]
TEMPLATES = [  # each placeholder plants one identifier of its kind
    ("{title} {last} saw the patient on {date} for chest pain.", ("NAME", "DATE")),
    ("Call back at {phone} or fax {fax_label}{fax} with the troponin results.", ("PHONE", "FAX")),
    ("Discharge summary sent to {email}; images at {url}.", ("EMAIL", "URL")),
    ("MRN: {mrn}. Account # {account}. SSN {ssn}.", ("MRN", "ACCOUNT", "ID")),
    ("A {age} year old with CHF, admitted {date2}.", ("AGE", "DATE")),
    ("Prior note [**Known lastname {n}**] dated [**{mdate}**] reviewed.", ("MIMIC", "MIMIC")),
]


def synthetic_notes(n: int = 60, seed: int = 0) -> tuple[list[str], list[list[tuple[str, str]]]]:
    """Notes of 3 templates each, and per note every planted (kind, identifier)."""
    rng = random.Random(seed)
    notes, planted = [], []
    for i in range(n):
        values = {
            "title": rng.choice(["Dr.", "Mr.", "Mrs.", "Ms."]),
            "last": rng.choice(LAST),
            "date": f"{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}/{rng.randint(1990, 2024)}",
            "date2": rng.choice(["January", "March", "October"]) + f" {rng.randint(1, 28)}, {rng.randint(2000, 2024)}",
            "phone": f"({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
            "fax_label": rng.choice(["", "no. ", "#"]),
            "fax": f"{rng.randint(201, 989)}-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
            "email": f"{rng.choice(FIRST).lower()}.{rng.choice(LAST).lower()}{i}@example.org",
            "url": f"https://records.example.net/p/{rng.randint(1000, 99999)}",
            "mrn": str(rng.randint(10**6, 10**8)),
            "account": f"A{rng.randint(10**4, 10**7)}",
            "ssn": f"{rng.randint(100, 899)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
            "age": rng.randint(90, 104),
            "n": rng.randint(100, 9999),
            "mdate": f"{rng.randint(2100, 2190)}-{rng.randint(1, 12)}-{rng.randint(1, 28)}",
        }
        chosen = rng.sample(TEMPLATES, 3)
        notes.append(" ".join(t.format(**values) for t, _ in chosen))
        planted.append([])
        values["age"] = f"{values['age']} year old"  # the planted text, found by its position
        for template, kinds in chosen:
            keys = [
                k
                for k in ("last", "date", "phone", "fax", "email", "url", "mrn", "account", "ssn", "age", "date2")
                if "{" + k + "}" in template
            ]
            if template.startswith("Prior note"):
                planted[-1] += [("MIMIC", f"[**Known lastname {values['n']}**]"), ("MIMIC", f"[**{values['mdate']}**]")]
            else:
                planted[-1] += [(kind, str(values[key])) for kind, key in zip(kinds, keys, strict=True)]
    return notes, planted


def test_synthetic_corpus_every_planted_identifier_found():
    notes, planted = synthetic_notes()
    assert len(notes) >= 50 and len({k for p in planted for k, _ in p}) == 11  # every kind planted
    found = missed = 0
    by_kind_missed = {}
    for note, plants in zip(notes, planted, strict=True):
        spans = phi.scan(note)
        scrubbed = phi.scrub(note, spans)
        for kind, value in plants:
            where = note.index(value)
            covered = any(s.kind == kind and s.start <= where < s.end for s in spans) and value not in scrubbed
            found += covered
            if not covered:
                missed += 1
                by_kind_missed[kind] = by_kind_missed.get(kind, 0) + 1
    recall = found / (found + missed)
    print(f"PHI recall on {len(notes)} synthetic notes: {found}/{found + missed} = {recall:.3f}")
    assert recall == 1.0, by_kind_missed


def _notes_file(tmp_path):
    """The corpus as a JSONL prompt/response file, one note per record."""
    notes, planted = synthetic_notes()
    planted = [p for per_note in planted for p in per_note]
    path = tmp_path / "notes.jsonl"
    path.write_text(
        "".join(json.dumps({"prompt": f"Summarise: {n}", "response": "Stable, discharged."}) + "\n" for n in notes)
    )
    return path, planted


def test_run_refuses_notes_with_phi_and_names_no_identifier(tiny_cfg, tmp_path, caplog):
    from medft.data.phi_guard import PhiFoundError
    from medft.recipes.train import prepare

    path, planted = _notes_file(tmp_path)
    cfg = tiny_cfg("dataset=jsonl", f"dataset.path={path}", "dataset.contains_notes=true", "dataset.stratify_by=null")
    with caplog.at_level(logging.INFO), pytest.raises(PhiFoundError) as err:
        prepare(cfg, tmp_path / "run")
    message = str(err.value)
    assert "dataset.transforms=[scrub_phi]" in message and f"{path}:1" in message
    for _, value in planted:  # neither the error nor any log line repeats an identifier
        assert value not in message and value not in caplog.text


def test_scrub_transform_or_allow_lets_notes_train(tiny_cfg, tmp_path):
    from medft.recipes.train import prepare

    path, planted = _notes_file(tmp_path)
    base = ["dataset=jsonl", f"dataset.path={path}", "dataset.contains_notes=true", "dataset.stratify_by=null"]
    splits, _, _ = prepare(tiny_cfg(*base, "dataset.transforms=[scrub_phi]"), tmp_path / "run1")
    text = " ".join(r.question for part in splits.values() for r in part)
    assert "[NAME]" in text and "[MRN]" in text
    assert not any(value in text for _, value in planted)
    stats = json.loads((tmp_path / "run1" / "data_stats.json").read_text())
    assert stats["phi"]["total"] > 0 and stats["transforms"]["scrub_phi"]["replaced_total"] == stats["phi"]["total"]
    assert not any(value in json.dumps(stats) for _, value in planted)
    prepare(tiny_cfg(*base, "dataset.phi=allow"), tmp_path / "run2")  # explicit override: no refusal


def test_qa_data_is_reported_not_refused(tiny_cfg, tmp_path):
    from medft.recipes.train import prepare

    path, _ = _notes_file(tmp_path)
    prepare(tiny_cfg("dataset=jsonl", f"dataset.path={path}", "dataset.stratify_by=null"), tmp_path / "run")
    assert json.loads((tmp_path / "run" / "data_stats.json").read_text())["phi"]["total"] > 0


def test_scrub_cli_writes_only_out_and_never_the_input(tmp_path, capsys):
    from medft.cli import data_main as main

    notes, planted = synthetic_notes(8)
    planted = [p for per_note in planted for p in per_note]
    source = tmp_path / "notes.txt"
    source.write_text("\n\n".join(notes) + "\n")
    before = source.read_text()
    assert main(["scrub", str(source), "--out", str(source)]) == 2  # refuses its own input
    assert main(["scrub", str(source), "--out", str(tmp_path / "clean.txt")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["notes"] == 8 and report["notes_with_phi"] == 8 and report["replaced_total"] >= 3 * 8
    assert source.read_text() == before and sorted(p.name for p in tmp_path.iterdir()) == ["clean.txt", "notes.txt"]
    cleaned = (tmp_path / "clean.txt").read_text()
    assert cleaned.count("\n\n") == 7 and not any(v in cleaned for _, v in planted)
    assert main(["scrub", str(source), "--out", str(tmp_path / "clean.txt")]) == 2  # exists: needs --force


def test_notes_are_lines_or_blank_line_blocks():
    from medft.recipes.data_report import split_notes

    assert [n for n, _ in split_notes("first note\nsecond note\nthird note\n")] == [1, 2, 3]
    assert [n for n, _ in split_notes("note one\ncontinued\n\nnote two\n")] == [1, 4]
