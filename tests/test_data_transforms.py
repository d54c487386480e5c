"""Dataset transforms on project-written clinical sentences: abbreviations (ambiguous ones left
alone), terminology, rare-class augmentation (train only), composed from config; the data report."""

from __future__ import annotations

import json

import pytest

from medft.data.records import Record
from medft.data.transforms.abbreviations import expand_text, expansions_for
from medft.data.transforms.schwartz_hearst import find_definitions


def expand(text: str) -> tuple[str, list[str]]:
    chosen, ambiguous, _ = expansions_for(text)
    return expand_text(text, chosen)[0], ambiguous


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Troponin rose after chest pain and the ECG confirmed an MI.", "an myocardial infarction"),
        ("A holosystolic murmur at the apex on echo suggests MI.", "suggests mitral insufficiency"),
        ("CT angiography showed a PE; heparin was started.", "showed a pulmonary embolism"),
        ("PE: lungs clear on auscultation, exam otherwise unremarkable.", "physical examination: lungs"),
        ("MS with optic neuritis and white matter lesions on MRI.", "multiple sclerosis with"),
        ("Diastolic rumble with an opening snap: rheumatic MS.", "rheumatic mitral stenosis"),
        ("Given MS 4 mg IV for pain.", "Given morphine sulfate 4 mg"),
        ("Saturation 97% on RA.", "on room air"),
        ("Known COPD and HTN.", "Known chronic obstructive pulmonary disease and hypertension."),
    ],
)
def test_abbreviation_sense_from_context(text, expected):
    expanded, ambiguous = expand(text)
    assert expected in expanded and not ambiguous


@pytest.mark.parametrize(
    "text,abbreviation",
    [
        ("History of MI.", "MI"),  # no context word: left alone
        ("PE noted; D-dimer pending, exam planned.", "PE"),  # one context word for each sense: a tie
        ("MS, see above.", "MS"),
    ],
)
def test_ambiguous_abbreviation_left_alone(text, abbreviation):
    expanded, ambiguous = expand(text)
    assert expanded == text and ambiguous == [abbreviation]


def test_in_text_definition_wins_and_is_kept():
    text = "Prolonged immobility raised the risk of pulmonary embolism (PE). PE was excluded on exam."
    assert [(d.short, d.long) for d in find_definitions(text)] == [("PE", "pulmonary embolism")]
    assert expand(text)[0] == (
        "Prolonged immobility raised the risk of pulmonary embolism (PE). pulmonary embolism was excluded on exam."
    )


def test_schwartz_hearst_matches_scispacy_where_installed():
    """Optional (scispacy is not a dependency): the same definitions as its AbbreviationDetector."""
    pytest.importorskip("scispacy.abbreviation")
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("abbreviation_detector")
    for text in [
        "Levels of heat shock protein (HSP) and tumor necrosis factor (TNF) rose; HSP fell.",
        "Chronic obstructive pulmonary disease (COPD) and the odds ratio (OR) were reported.",
    ]:
        theirs = {(a.text, a._.long_form.text) for a in nlp(text)._.abbreviations}
        assert {(d.short, d.long) for d in find_definitions(text)} == theirs


def _mc(question, options, answer_index, **metadata):
    return Record(
        question=question,
        answer=options[answer_index],
        options=tuple(options),
        answer_index=answer_index,
        metadata=metadata,
    )


def test_terminology_normalises_and_keeps_options_consistent():
    from medft.data.transforms import terminology

    record = _mc("Which drug treats fever: Tylenol or Advil after a heart attack?", ["Tylenol", "aspirin"], 0)
    merged = _mc("Which is the same drug?", ["Tylenol", "acetaminophen"], 0)  # would become two equal options
    out, counts = terminology.apply({"train": [record, merged]}, None, 0)
    new = out["train"][0]
    assert new.question == "Which drug treats fever: acetaminophen or ibuprofen after a myocardial infarction?"
    assert new.answer == "acetaminophen" == new.options[new.answer_index]
    assert out["train"][1] == merged and counts["records_kept_because_options_would_merge"] == 1
    assert counts["replaced"]["tylenol -> acetaminophen"] == 2 and counts["replaced_total"] == 4


def _splits():
    common = [
        _mc(f"Which test confirms myocardial infarction in case {i}?", ["troponin", "lipase"], 0, category="common")
        for i in range(12)
    ]
    rare = [
        _mc(
            "Which drug is first line for type 2 diabetes: metformin or insulin glargine?",
            ["metformin", "insulin glargine"],
            0,
            category="rare",
        ),
        _mc("What does Tylenol overdose damage first?", ["liver", "kidney"], 0, category="rare"),
    ]
    held_out = [_mc("Which drug reverses warfarin?", ["vitamin K", "protamine"], 0, category="rare")]
    return {"train": common + rare, "validation": list(held_out), "test": list(held_out)}


def test_augment_raises_rare_labels_on_train_only(compose):
    from medft.data.transforms import apply_transforms

    cfg = compose(["dataset.transforms=[augment]", "dataset.augment.target_count=8"])
    splits = _splits()
    out, report = apply_transforms(splits, cfg.dataset, seed=0)
    counts = report["augment"]
    assert out["validation"] is splits["validation"] and out["test"] is splits["test"]  # never touched
    rare = [r for r in out["train"] if r.metadata["category"] == "rare"]
    assert len(rare) == 8 and counts["added_by_label"] == {"rare": 6} and counts["label_by"] == "category"
    added = [r for r in rare if r.metadata.get("augmented")]
    assert {r.metadata["augmented"] for r in added} == {"synonym", "mask"}
    assert any("[DRUG]" in r.question for r in added) and any(
        "acetaminophen" in r.question or "Glucophage" in r.question or "Lantus" in r.question for r in added
    )
    assert all(r.answer == r.options[r.answer_index] for r in added)  # targets unchanged
    assert len({r.question for r in added}) == len(added)


def test_transforms_compose_in_config_order_and_unknown_fails(compose):
    from hydra.errors import ConfigCompositionException

    from medft.data.transforms import apply_transforms

    cfg = compose(["dataset.transforms=[abbreviations,terminology]"])
    splits = {"train": [Record(question="Troponin up with chest pain: MI? Took Tylenol.", answer="Yes")]}
    out, report = apply_transforms(splits, cfg.dataset, 0)
    assert out["train"][0].question == "Troponin up with chest pain: myocardial infarction? Took acetaminophen."
    assert report["abbreviations"]["expanded"] == {"MI": 1} and report["terminology"]["replaced_total"] == 1
    with pytest.raises(ConfigCompositionException, match="dataset.transforms"):  # an Enum in the schema
        compose(["dataset.transforms=[spellcheck]"])


def test_data_report_in_run_folder_and_stats_cli(tiny_cfg, tmp_path, capsys):
    from medft.cli import data_main as main
    from medft.recipes.train import run

    run(
        tiny_cfg("dataset.transforms=[abbreviations,terminology]", "eval.before=false", "eval.after=false"),
        tmp_path / "run",
    )
    stats = json.loads((tmp_path / "run" / "data_stats.json").read_text())
    assert stats["counts"]["train"] == 64 and set(stats["token_lengths"]) == {"train", "validation", "test", "control"}
    assert stats["token_lengths"]["train"]["p50"] > 0 and "abbreviations" in stats["transforms"]
    assert json.loads((tmp_path / "run" / "contamination.json").read_text())["train_records"] == 64
    assert main(["stats", "model=tiny-random", f"cache_dir={tmp_path / 'cache'}"]) == 0
    out = capsys.readouterr().out
    assert (
        "records: train 930" in out
        and "labels (by category)" in out
        and "truncation at training.max_seq_len=256" in out
    )
