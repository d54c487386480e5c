"""Every objective trains 2 steps on tiny-random and evaluates; preference data from JSONL and from
multiple-choice records; the config rules that refuse impossible objective/data combinations."""

from __future__ import annotations

import json
import math

import pytest

from medft.config.errors import ConfigError
from medft.config.validate import validate
from medft.data.jsonl import DataFormatError
from medft.data.preference import load_preference_jsonl, pair_from_record, pairs
from medft.data.records import Record
from medft.recipes.train import run

LONG = "training.max_seq_len=512"  # byte tokenizer: a lettered question is ~300 tokens


def spy_on_orpo_batches(monkeypatch) -> list[int]:
    """Record, per training micro-batch ORPO runs, its non-padding tokens (prompt + chosen and prompt +
    rejected, the two sequences its forward pass reads), counted from the batch's attention masks."""
    from trl.experimental.orpo import ORPOTrainer

    seen, original = [], ORPOTrainer.training_step

    def training_step(self, model, inputs, *args, **kwargs):
        seen.append(int(inputs["chosen_attention_mask"].sum() + inputs["rejected_attention_mask"].sum()))
        return original(self, model, inputs, *args, **kwargs)

    monkeypatch.setattr(ORPOTrainer, "training_step", training_step)
    return seen


@pytest.mark.parametrize("objective", ["dpo", "orpo", "kto"])
def test_preference_objective_trains_and_reports_held_out_pairs(tiny_cfg, tmp_path, monkeypatch, objective):
    orpo_batches = spy_on_orpo_batches(monkeypatch) if objective == "orpo" else []
    metrics = run(tiny_cfg(f"objective={objective}", LONG), tmp_path / "run")
    assert metrics["train"]["steps"] == 2 and metrics["train"]["objective"] == objective
    assert math.isfinite(metrics["train"]["train_loss"])
    # Tokens trained on, counted for every objective (ORPO's batches have no `input_ids` for the
    # Trainer's own count, so medft counts them): prompt + answer per sequence, not padding.
    assert metrics["train"]["tokens"] >= 2 * 4 and metrics["train"]["tokens_per_s"] > 0  # 2 steps x 4 examples
    if objective == "orpo":
        assert len(orpo_batches) == 2 and metrics["train"]["tokens"] == sum(orpo_batches)
    # The multiple-choice evaluation runs for every objective, so method tables compare.
    for phase in ("eval_before", "eval_after"):
        assert metrics[phase]["test"]["n"] == 12
    preference = metrics["preference"]
    assert preference["split"] == "test"
    before, after = preference["before"], preference["after"]
    assert before["n"] == after["n"] == 12
    # Before training the policy is the reference: zero margin by construction.
    assert before["reward_margin"] == 0 and before["reward_accuracy"] == 0
    assert after["reward_margin"] != 0 and 0 <= after["reward_accuracy"] <= 1
    assert math.isfinite(after["logp_margin"])
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["preference"]["after"]["reward_margin"] == after["reward_margin"]
    # The frozen reference adapter TRL adds is not part of the saved result.
    assert not (tmp_path / "run" / "adapter" / "ref").exists()
    assert (tmp_path / "run" / "adapter" / "adapter_model.safetensors").is_file()


def test_pretrain_on_a_text_folder_trains_every_token(tiny_cfg, tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    for i in range(12):
        (notes / f"note{i:02d}.txt").write_text(f"Patient {i} presented with chest pain. Troponin was raised.\n")
    metrics = run(tiny_cfg("objective=pretrain", "dataset=text", f"dataset.path={notes}"), tmp_path / "run")
    assert metrics["train"]["steps"] == 2 and metrics["train"]["tokens"] > 0
    assert metrics["eval_before"] == {} and "preference" not in metrics  # no questions in plain text


def test_pretrain_on_the_builtin_data_still_scores_multiple_choice(tiny_cfg, tmp_path):
    metrics = run(tiny_cfg("objective=pretrain"), tmp_path / "run")
    assert metrics["eval_after"]["test"]["n"] == 12 and metrics["train"]["objective"] == "pretrain"


def test_dpo_on_a_preference_jsonl_file(tiny_cfg, tmp_path):
    data = tmp_path / "pairs.jsonl"
    lines = [{"prompt": f"Dose of drug {i}?", "chosen": f"{i} mg daily", "rejected": "no idea"} for i in range(30)]
    data.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    metrics = run(tiny_cfg("objective=dpo", "dataset=preference_jsonl", f"dataset.path={data}"), tmp_path / "run")
    assert metrics["preference"]["after"]["n"] == 3  # the 10% test split
    assert metrics["eval_after"] == {}  # free-text pairs: nothing multiple-choice to score


def write_lines(tmp_path, *lines):
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_preference_jsonl_reads_pairs(tmp_path):
    path = write_lines(
        tmp_path,
        '{"prompt": "q1", "chosen": "good", "rejected": "bad"}',
        "",
        '{"prompt": "q2", "chosen": "yes", "rejected": "no"}',
    )
    records = load_preference_jsonl(path)
    assert [r.metadata["line"] for r in records] == [1, 3]
    pair = pair_from_record(records[1], seed=0)
    assert (pair.record.question, pair.chosen, pair.rejected) == ("q2", "yes", "no")


@pytest.mark.parametrize(
    "line,problem",
    [
        ('{"prompt": "q", "chosen": "a"}', "missing, empty or non-string ['rejected']"),
        ('{"prompt": "q", "chosen": "", "rejected": "b"}', "['chosen']"),
        ('{"prompt": "q", "chosen": 3, "rejected": "b"}', "['chosen']"),
        ('{"prompt": "q", "chosen": "same", "rejected": "same"}', "are the same text"),
        ('["q", "a", "b"]', "expected a JSON object, got list"),
        ('{"prompt": "q", "chosen": "a", "rejected": "b"', "invalid JSON"),
    ],
)
def test_preference_jsonl_names_file_line_and_problem(tmp_path, line, problem):
    path = write_lines(tmp_path, '{"prompt": "q", "chosen": "a", "rejected": "b"}', line)
    with pytest.raises(DataFormatError) as err:
        load_preference_jsonl(path)
    assert f"{path}:2: " in str(err.value) and problem in str(err.value)


def mc(question, answer_index, explanation=None):
    options = ("aspirin", "metformin", "insulin", "warfarin")
    meta = {"explanation": explanation} if explanation else {}
    return Record(
        question=question, answer=options[answer_index], options=options, answer_index=answer_index, metadata=meta
    )


def test_pairs_from_multiple_choice_prefer_the_correct_option():
    records = [mc(f"Question {i}?", i % 4) for i in range(40)]
    built = pairs(records, seed=3)
    assert len(built) == 40
    for record, pair in zip(records, built):
        assert pair.chosen == f"{record.answer_letter}. {record.answer}"
        rejected_letter = pair.rejected.split(".")[0]
        assert rejected_letter != record.answer_letter
        assert pair.rejected == f"{rejected_letter}. {record.options['ABCD'.index(rejected_letter)]}"
    # Deterministic with a seed, and the seed matters.
    assert [p.rejected for p in pairs(records, seed=3)] == [p.rejected for p in built]
    assert [p.rejected for p in pairs(records, seed=4)] != [p.rejected for p in built]
    # Every distractor is used somewhere: the draw is not stuck on one position.
    assert len({(p.rejected.split(".")[0]) for p in built}) == 4


def test_pairs_carry_the_explanation_where_the_dataset_has_one():
    record = mc("First-line drug for type 2 diabetes?", 1, explanation="Metformin lowers hepatic glucose output.")
    assert pair_from_record(record, 0).chosen == "B. metformin\nMetformin lowers hepatic glucose output."
    assert pair_from_record(record, 0, with_explanation=False).chosen == "B. metformin"
    assert pair_from_record(Record(question="free text", answer="x"), 0) is None


def test_builtin_pairs_come_from_its_multiple_choice_rendering(compose):
    from medft.data.load import load_splits
    from medft.data.preference import training_records

    cfg = compose(["objective=dpo"])
    splits = load_splits(cfg.dataset)
    assert not any(r.is_multiple_choice for r in splits["train"])  # SFT trains free-text pairs
    train = training_records(splits, cfg.dataset)
    assert train and all(r.is_multiple_choice for r in train)
    trained_facts = {r.metadata["subject"] for r in splits["train"]}
    assert {r.metadata["subject"] for r in train} == trained_facts  # the same facts, never control ones


def test_pair_prompt_is_the_sft_prompt(compose):
    """Training (SFT and DPO) and evaluation render through the one prompt module."""
    from medft import prompts
    from medft.models.tiny import build_tiny_random
    from medft.objectives.preference_data import rendered

    cfg = compose(["model=tiny-random"])
    _, tokenizer = build_tiny_random(cfg.model.arch, seed=0)
    from medft.prompts import CHAT_TEMPLATES

    tokenizer.chat_template = CHAT_TEMPLATES["chatml"]
    record = mc("Which drug?", 2)
    prompt, chosen, rejected = rendered(tokenizer, pair_from_record(record, 0), None)
    sft_prompt, sft_completion = prompts.render(tokenizer, record, None)
    assert (prompt, chosen) == (sft_prompt, sft_completion)
    assert rejected != chosen and rejected.endswith(sft_completion[len("C. insulin") :])


def test_an_unknown_eval_metric_fails_at_compose(compose):
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match="training.eval_metric"):
        compose(["training.eval_metric=f1"])


@pytest.mark.parametrize(
    "overrides,needle",
    [
        (["dataset=text", "dataset.path=/tmp"], "objective=pretrain"),
        (["objective=sft", "dataset=preference_jsonl", "dataset.path=/tmp"], "objective=dpo"),
        (["objective=dpo", "dataset=preference_jsonl", "dataset.path=/nonexistent.jsonl"], "dataset.path"),
        (["training.early_stopping_patience=2"], "training.eval_every_steps"),
        (
            ["training.load_best=true", "training.eval_every_steps=3", "training.save_every_steps=50"],
            "training.save_every_steps=3",
        ),
        (["objective=dpo", "training.label_smoothing_factor=0.1"], "loss_type=robust"),
    ],
)
def test_objective_rules_name_the_fix(compose, overrides, needle):
    with pytest.raises(ConfigError) as err:
        validate(compose(overrides))
    assert needle in str(err.value)
