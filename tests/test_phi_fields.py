"""Every text that reaches the model is scanned by the PHI guard and rewritten by scrub_phi: a
messages file's system turn and a preference pair's rejected answer included (issue point 13).
Errors and logs name the file, line and field, never the identifier."""

from __future__ import annotations

import json
import logging
import re

import pytest

from medft.data import phi
from medft.data.phi_guard import PhiFoundError, scan_splits
from medft.data.records import Record
from medft.data.transforms import scrub_phi

# One identifier per line: a name, an MRN, a date of birth, a phone and an e-mail, as in the issue.
PLANTED = [
    ("Dr. Okafor", "Okafor"),
    ("MRN: 40021877", "40021877"),
    ("DOB 03/14/1951", "03/14/1951"),
    ("call (617) 555-0142", "(617) 555-0142"),
    ("write to k.moreau@example.org", "k.moreau@example.org"),
]
VALUES = [value for _, value in PLANTED]


def _system_turn_file(tmp_path, n=40):
    """A messages file whose user and assistant turns are clean and whose system turn carries PHI."""
    lines = []
    for i in range(n):
        phrase, _ = PLANTED[i % len(PLANTED)]
        lines.append(
            {
                "messages": [
                    {"role": "system", "content": f"You summarise notes for the care team; {phrase}."},
                    {"role": "user", "content": f"Summarise case {i}: stable angina, on aspirin."},
                    {"role": "assistant", "content": "Stable angina, continue aspirin."},
                ]
            }
        )
    path = tmp_path / "chat.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _rejected_file(tmp_path, n=40):
    """Preference pairs whose prompt and chosen answer are clean and whose rejected answer carries PHI."""
    lines = [
        {
            "prompt": f"Summarise case {i}: stable angina, on aspirin.",
            "chosen": "Stable angina, continue aspirin.",
            "rejected": f"Stable angina; {PLANTED[i % len(PLANTED)][0]}.",
        }
        for i in range(n)
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


CASES = {  # overrides, file maker, the field the guard must name
    "system turn": (["dataset=jsonl", "dataset.stratify_by=null"], _system_turn_file, "metadata.system"),
    "rejected answer (dpo)": (["dataset=preference_jsonl", "objective=dpo"], _rejected_file, "metadata.rejected"),
    "rejected answer (kto)": (["dataset=preference_jsonl", "objective=kto"], _rejected_file, "metadata.rejected"),
}


@pytest.mark.parametrize("case", CASES)
def test_guard_refuses_phi_only_in_a_rendered_metadata_field(case, tiny_cfg, tmp_path, caplog):
    from medft.recipes.train import prepare

    overrides, make, field = CASES[case]
    path = make(tmp_path)
    cfg = tiny_cfg(*overrides, f"dataset.path={path}", "dataset.contains_notes=true")
    with caplog.at_level(logging.INFO), pytest.raises(PhiFoundError) as err:
        prepare(cfg, tmp_path / "run")
    message = str(err.value)
    assert "in 40 records" in message and re.search(rf"{re.escape(str(path))}:\d+ \({re.escape(field)}\)", message)
    assert "nothing found" not in caplog.text
    for value in VALUES:  # neither the error nor any log line repeats an identifier
        assert value not in message and value not in caplog.text


def test_scrub_phi_clears_the_system_turn_the_prompt_is_built_from(tiny_cfg, tmp_path):
    from medft import prompts
    from medft.recipes.train import prepare

    path = _system_turn_file(tmp_path)
    cfg = tiny_cfg(
        "dataset=jsonl",
        f"dataset.path={path}",
        "dataset.contains_notes=true",
        "dataset.stratify_by=null",
        "dataset.transforms=[scrub_phi]",
    )
    splits, _, _ = prepare(cfg, tmp_path / "run")
    records = [r for part in splits.values() for r in part]
    systems = [prompts.prompt_messages(r, None)[0]["content"] for r in records]
    assert len(records) == 40 and all(s.startswith("You summarise notes") for s in systems)
    assert not any(value in s for s in systems for value in VALUES)
    assert (
        sum("[NAME]" in s or "[MRN]" in s or "[DATE]" in s or "[PHONE]" in s or "[EMAIL]" in s for s in systems) == 40
    )
    stats = json.loads((tmp_path / "run" / "data_stats.json").read_text())
    assert stats["phi"]["total"] == stats["transforms"]["scrub_phi"]["replaced_total"] >= 40


def test_scrub_phi_clears_the_rejected_answer_dpo_and_kto_train_on(tiny_cfg, tmp_path):
    from medft.data.preference import pair_from_record
    from medft.recipes.train import prepare

    path = _rejected_file(tmp_path)
    cfg = tiny_cfg(
        "dataset=preference_jsonl",
        "objective=dpo",
        f"dataset.path={path}",
        "dataset.contains_notes=true",
        "dataset.transforms=[scrub_phi]",
    )
    splits, _, _ = prepare(cfg, tmp_path / "run")
    pairs = [pair_from_record(r, seed=0) for part in splits.values() for r in part]
    assert len(pairs) == 40 and all(p.rejected.startswith("Stable angina; ") for p in pairs)
    assert not any(value in p.rejected for p in pairs for value in VALUES)
    assert all(p.chosen == "Stable angina, continue aspirin." for p in pairs)  # clean text is left alone


def _record_with_phi_everywhere() -> Record:
    name = "Dr. Okafor"
    return Record(
        question=f"Q {name}",
        answer=f"A {name}",
        options=("x", f"A {name}"),
        answer_index=1,
        context=f"C {name}",
        history=(("user", f"H {name}"), ("assistant", f"H2 {name}")),
        metadata={
            "system": f"S {name}",
            "rejected": f"R {name}",
            "explanation": f"E {name}",
            "subject": f"Sub {name}",
            "line": 7,
            "id": "Okafor-1",
        },
    )


def test_guard_and_scrubber_cover_the_same_fields():
    """The guard's fields and the scrubber's are one list (text_fields.model_texts): after scrubbing,
    nothing the guard would scan holds PHI, and everything it named was rewritten."""
    from medft.data.transforms.text_fields import model_texts

    record = _record_with_phi_everywhere()
    fields = {name for name, _ in model_texts(record)}
    assert fields == {
        "context",
        "question",
        "options[0]",
        "options[1]",
        "history[0]",
        "history[1]",
        "metadata.system",
        "metadata.rejected",
        "metadata.explanation",
        "metadata.subject",
    }
    report = scan_splits({"train": [record]}, "notes.jsonl")
    assert set(report["locations"][0]["fields"]) == fields - {"options[0]"}  # "x" holds nothing
    splits, counts = scrub_phi.apply({"train": [record]}, None, 0)
    (scrubbed,) = splits["train"]
    assert counts["replaced_total"] == report["total"] == len(fields) - 1
    assert all(phi.scan(text) == [] for _, text in model_texts(scrubbed))
    assert scrubbed.answer == scrubbed.options[1] == "A Dr. [NAME]"
    assert scrubbed.metadata["system"] == "S Dr. [NAME]" and scrubbed.metadata["rejected"] == "R Dr. [NAME]"
    assert scrubbed.metadata["line"] == 7 and scrubbed.metadata["id"] == "Okafor-1"  # provenance is not model text
    assert scan_splits({"train": [scrubbed]}, "notes.jsonl")["total"] == 0
