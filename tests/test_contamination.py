"""Contamination check: planted duplicates (exact and lightly reworded) between a training file
and a benchmark file are found, clean data reports zero, and a run fails or drops by config."""

from __future__ import annotations

import json

import pytest

BENCH = [  # (question, options, correct index): a MedMCQA-format file written for the test
    (
        "Which nerve is most commonly injured in a fracture of the surgical neck of the humerus?",
        ["Axillary nerve", "Radial nerve", "Ulnar nerve", "Median nerve"],
        0,
    ),
    (
        "What is the drug of choice for the treatment of absence seizures in a school age child?",
        ["Phenytoin", "Ethosuximide", "Carbamazepine", "Phenobarbitone"],
        1,
    ),
    (
        "Deficiency of which vitamin causes a prolonged prothrombin time in a neonate after birth?",
        ["Vitamin A", "Vitamin C", "Vitamin K", "Vitamin D"],
        2,
    ),
    (
        "Which organism is the most common cause of community acquired pneumonia in adults?",
        ["Klebsiella", "Staphylococcus aureus", "Mycoplasma", "Streptococcus pneumoniae"],
        3,
    ),
    (
        "The first line treatment of anaphylactic shock in the emergency department is which drug?",
        ["Intramuscular adrenaline", "Oral antihistamine", "Intravenous hydrocortisone", "Nebulised salbutamol"],
        0,
    ),
    (
        "Which hormone is secreted by the parafollicular C cells of the thyroid gland?",
        ["Thyroxine", "Calcitonin", "Parathormone", "Thyrotropin"],
        1,
    ),
]
CLEAN = [
    (
        "Which enzyme is deficient in classic phenylketonuria presenting in infancy?",
        ["Phenylalanine hydroxylase", "Tyrosinase", "Homogentisate oxidase", "Fumarylacetoacetase"],
        0,
    ),
    (
        "What is the antidote for an overdose of acetaminophen taken within eight hours?",
        ["Naloxone", "Flumazenil", "N-acetylcysteine", "Atropine"],
        2,
    ),
    (
        "Which artery is occluded in a lateral medullary (Wallenberg) syndrome most often?",
        ["Anterior cerebral", "Posterior inferior cerebellar", "Middle cerebral", "Basilar"],
        1,
    ),
    (
        "Koplik spots on the buccal mucosa are a classic sign of which viral infection?",
        ["Mumps", "Rubella", "Measles", "Varicella"],
        2,
    ),
] * 5  # 20 clean training items


def _bench_file(tmp_path):
    path = tmp_path / "bench" / "dev.json"
    path.parent.mkdir()
    path.write_text(
        "".join(
            json.dumps(
                {
                    "question": q,
                    "opa": o[0],
                    "opb": o[1],
                    "opc": o[2],
                    "opd": o[3],
                    "cop": a + 1,
                    "id": f"b{i}",
                    "subject_name": "x",
                    "exp": None,
                }
            )
            + "\n"
            for i, (q, o, a) in enumerate(BENCH)
        )
    )
    return path


def _train_file(tmp_path, items):
    path = tmp_path / "train.jsonl"
    # Distinct answers per line: the clean items repeat, and the split must not merge them.
    path.write_text(
        "".join(
            json.dumps({"question": f"{q} (item {i})" if i >= 4 else q, "options": o, "answer": a}) + "\n"
            for i, (q, o, a) in enumerate(items)
        )
    )
    return path


PLANTED = [
    BENCH[0],  # exact
    (BENCH[1][0].upper().replace("?", " ?"), BENCH[1][1], BENCH[1][2]),  # exact after normalisation
    (
        "Which nerve is most often injured in a fracture of the surgical neck of the humerus bone?",
        BENCH[0][1],
        0,
    ),  # reworded: one word swapped, one added
    ("What is the drug of choice for treating absence seizures in a school age child?", BENCH[1][1], 1),
]


def _overrides(tmp_path, train, *extra):
    return [
        "model=tiny-random",
        "dataset=jsonl",
        f"dataset.path={train}",
        "dataset.stratify_by=null",
        "dataset.validation_fraction=0.0",
        "dataset.test_fraction=0.0",
        "benchmark=medmcqa",
        f"benchmark.path={_bench_file(tmp_path)}",
        "benchmark.split=all",
        *extra,
    ]


def test_planted_duplicates_found_exact_and_reworded(tmp_path):
    from medft.config.compose import compose_train
    from medft.data.load import load_splits
    from medft.data.prepare import check_contamination

    cfg = compose_train(
        _overrides(tmp_path, _train_file(tmp_path, PLANTED + CLEAN), "dataset.contamination.action=warn")
    )
    _, report = check_contamination(cfg, load_splits(cfg.dataset), tmp_path)
    bench = report["against"]["benchmark:medmcqa"]
    assert (bench["exact"], bench["near"], report["contaminated_train_records"]) == (2, 2, 4)
    assert {e["eval_id"] for e in bench["examples"]} == {"b0", "b1"}
    assert json.loads((tmp_path / "contamination.json").read_text())["contaminated_train_records"] == 4


def test_clean_training_data_reports_zero(tmp_path):
    from medft.config.compose import compose_train
    from medft.data.load import load_splits
    from medft.data.prepare import check_contamination

    cfg = compose_train(_overrides(tmp_path, _train_file(tmp_path, CLEAN)))
    _, report = check_contamination(cfg, load_splits(cfg.dataset))
    assert report["contaminated_train_records"] == 0 and report["against"]["benchmark:medmcqa"]["contaminated"] == 0


def test_run_fails_by_default_and_drops_by_config(tmp_path):
    from medft.config.compose import compose_train
    from medft.data.prepare import ContaminationError
    from medft.recipes.train import prepare

    train = _train_file(tmp_path, PLANTED + CLEAN)
    with pytest.raises(ContaminationError, match="dataset.contamination.action=drop"):
        prepare(compose_train(_overrides(tmp_path, train, "dry_run=true")), tmp_path / "run1")
    assert (tmp_path / "run1" / "contamination.json").is_file()  # the evidence is written before the refusal
    (tmp_path / "b").mkdir()
    splits, _, _ = prepare(
        compose_train([*_overrides(tmp_path / "b", train, "dry_run=true"), "dataset.contamination.action=drop"]),
        tmp_path / "run2",
    )
    assert len(splits["train"]) == len(CLEAN)
    assert json.loads((tmp_path / "run2" / "data_stats.json").read_text())["contamination"]["dropped"] == 4


def test_check_cli_exit_code(tmp_path, capsys):
    from medft.cli import data_main as main

    assert main(["check", *_overrides(tmp_path, _train_file(tmp_path, PLANTED + CLEAN))]) == 1
    assert json.loads(capsys.readouterr().out)["contamination"]["contaminated_train_records"] == 4
    (tmp_path / "c").mkdir()
    assert main(["check", *_overrides(tmp_path / "c", _train_file(tmp_path / "c", CLEAN))]) == 0
