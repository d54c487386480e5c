"""Each task (diagnosis, clinical_note, ner) trains 2 steps and evaluates on tiny-random with its
builtin data; the task's prompt is the same in training and scoring; cross-group rules hold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medft.config.errors import ConfigError
from medft.config.validate import validate
from medft.recipes.train import run

FIXTURES = Path(__file__).parent / "fixtures"
GEN = ["task.max_new_tokens=8"]  # tiny-random writes noise: a few tokens exercise the scorer
# tiny-random's byte tokenizer makes the task examples 3-4x longer than a real tokenizer does (the
# dataset options' max_seq_len defaults are measured for SmolLM2): the longest are 308, 495 and 664 bytes.
BYTES = {
    "diagnosis": "training.max_seq_len=320",
    "ner": "training.max_seq_len=512",
    "clinical_note": "training.max_seq_len=704",
}


def test_diagnosis_trains_and_scores_exact_match_and_options(tiny_cfg, tmp_path):
    metrics = run(tiny_cfg("task=diagnosis", BYTES["diagnosis"], *GEN), tmp_path / "run")
    for phase in ("eval_before", "eval_after"):
        test = metrics[phase]["test"]
        assert test["n"] == 12 and test["n_with_options"] == 12
        assert 0 <= test["exact_match"] <= 1 and 0 <= test["acc"] <= 1 and len(test["examples"]) == 3
    assert set(metrics["paired"]) == {"test:exact_match", "test:options"}
    assert metrics["train"]["steps"] == 2
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["eval_after"]["test"]["n"] == 12


def test_clinical_note_summaries_get_perplexity_and_rouge(tiny_cfg, tmp_path):
    metrics = run(tiny_cfg("task=clinical_note", BYTES["clinical_note"], *GEN), tmp_path / "run")
    before, after = metrics["eval_before"]["test"], metrics["eval_after"]["test"]
    assert (
        before["perplexity"] > 1 and after["perplexity"] > 1 and before["target_tokens"] == after["target_tokens"] > 0
    )
    assert 0 <= after["rouge_l"] <= 1 and after["n_summaries"] == 12
    assert metrics["train"]["steps"] == 2 and metrics["paired"] == {}


def test_clinical_note_on_mimic_notes_is_continued_pretraining(tiny_cfg, tmp_path):
    cfg = tiny_cfg(
        "task=clinical_note",
        "dataset=mimic_notes",
        f"dataset.path={FIXTURES / 'mimic' / 'NOTEEVENTS.csv'}",
        "dataset.note_categories=[]",
        "dataset.test_fraction=0.5",
        "dataset.validation_fraction=0.0",
        "dataset.split_seed=3",
        "training.max_seq_len=512",
        *GEN,
    )
    from medft.data.load import load_splits
    from medft.data.phi_guard import PhiFoundError

    splits = load_splits(cfg.dataset)
    assert splits["train"] and splits["test"]  # seed 3 puts one of the two patients in each
    with pytest.raises(PhiFoundError):  # MIMIC's [** **] marks: notes are refused unless scrubbed (issue 9)
        run(cfg, tmp_path / "refused")
    cfg.dataset.transforms = ["scrub_phi"]
    metrics = run(cfg, tmp_path / "run")
    test = metrics["eval_after"]["test"]
    assert test["perplexity"] > 1 and "rouge_l" not in test  # plain notes: perplexity only


def test_ner_trains_and_scores_entities(tiny_cfg, tmp_path):
    metrics = run(tiny_cfg("task=ner", BYTES["ner"], *GEN), tmp_path / "run")
    for phase in ("eval_before", "eval_after"):
        test = metrics[phase]["test"]
        assert test["n"] == 11 and test["n_gold"] > 11  # 57 sentences: 41 train, 5 validation, 11 test
        for kind in ("strict", "partial_match"):
            assert 0 <= test[kind]["f1"] <= 1
        assert test["partial_match"]["recall"] >= test["strict"]["recall"]
    assert "validation" in metrics["eval_after"] and "test:all_entities_right" in metrics["paired"]


def test_training_and_scoring_share_the_task_prompt(tiny_cfg, tmp_path):
    from medft.builders import load_tokenizer
    from medft.data.load import load_splits
    from medft.models.resolve import resolve_model
    from medft.prompts.task_prompts import encode_for_task, generation_prompt

    cfg = tiny_cfg("task=ner")
    tokenizer = load_tokenizer(cfg.model, resolve_model(cfg.model, cfg.cache_dir))
    record = load_splits(cfg.dataset)["train"][0]
    encoded = encode_for_task(tokenizer, record, None, 512, cfg.task)
    prompt_ids = [t for t, m in zip(encoded.input_ids, encoded.completion_mask) if not m]
    prompt = generation_prompt(tokenizer, record, None, cfg.task)
    assert tokenizer.decode(prompt_ids) == prompt and cfg.task.instruction.split(",")[0] in prompt
    target = tokenizer.decode([t for t, m in zip(encoded.input_ids, encoded.completion_mask) if m])
    assert target.startswith(record.answer) and record.question in prompt


def test_targets_all_trains_every_token(tiny_cfg, tmp_path):
    from medft.builders import load_tokenizer
    from medft.data.load import load_splits
    from medft.models.resolve import resolve_model
    from medft.prompts.task_prompts import encode_for_task

    cfg = tiny_cfg("task=diagnosis", "task.targets=all")
    tokenizer = load_tokenizer(cfg.model, resolve_model(cfg.model, cfg.cache_dir))
    encoded = encode_for_task(tokenizer, load_splits(cfg.dataset)["train"][0], None, 512, cfg.task)
    assert all(encoded.completion_mask) and len(encoded.input_ids) > 40


def test_ner_task_and_entity_data_need_each_other(compose):
    with pytest.raises(ConfigError, match="task=ner scores gold entities.*dataset=ner_builtin"):
        validate(compose(["task=ner", "dataset=builtin"]))
    with pytest.raises(ConfigError, match="entity-annotated text: add task=ner"):
        validate(compose(["dataset=ner_builtin"]))
    with pytest.raises(ConfigError, match="dataset=cmeee needs its files"):
        validate(compose(["task=ner", "dataset=cmeee"]))


def test_cmeee_through_the_dataset_group(compose, caplog):
    import logging

    from medft.data.load import load_splits

    with caplog.at_level(logging.INFO):
        splits = load_splits(compose(["task=ner", "dataset=cmeee", f"dataset.path={FIXTURES / 'cmeee'}"]).dataset)
    assert len(splits["test"]) == 2 and splits["test"][0].answer.startswith("sym: 腹泻")
    assert len(splits["train"]) + len(splits["validation"]) == 5 and "end_idx is inclusive" in caplog.text


def test_huatuo_through_the_dataset_group(compose):
    from medft.data.load import load_splits

    cfg = compose(
        [
            "dataset=huatuo",
            f"dataset.path={FIXTURES / 'huatuo' / 'encyclopedia.json'}",
            "dataset.validation_fraction=0.0",
            "dataset.test_fraction=0.34",
        ]
    )
    validate(cfg)
    splits = load_splits(cfg.dataset)
    assert len(splits["train"]) + len(splits["test"]) == 3 and len(splits["test"]) == 1
