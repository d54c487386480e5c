"""The training-recipe choices the PubMedQA/MedMCQA presets rest on: class-balanced resampling of
the train split, LoRA on the last N layers only, and per-question predictions in the run folder."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from medft.config.errors import UserError
from medft.data.balance import balance_records, class_counts
from medft.data.records import Record
from medft.recipes.train import run

YES_NO_MAYBE = ("yes", "no", "maybe")


def skewed(counts=(11, 6, 3)) -> list[Record]:
    records = []
    for label, count in enumerate(counts):
        records += [
            Record(question=f"q{label}-{i}", answer=YES_NO_MAYBE[label], options=YES_NO_MAYBE, answer_index=label)
            for i in range(count)
        ]
    return records


def test_resample_keeps_the_total_and_equalises_the_classes():
    records = skewed()
    balanced = balance_records(records, "resample", seed=0)
    assert len(balanced) == len(records) == 20
    assert sorted(class_counts(balanced).values()) == [6, 7, 7]
    # the rare class (3 records) is repeated in whole rounds: each record 2 or 3 times, none left out
    rare = Counter(r.question for r in balanced if r.answer_index == 2)
    assert set(rare) == {"q2-0", "q2-1", "q2-2"} and set(rare.values()) <= {2, 3}
    # the common class is subsampled without repeats
    common = Counter(r.question for r in balanced if r.answer_index == 0)
    assert max(common.values()) == 1


def test_oversample_raises_every_class_to_the_largest_and_none_changes_nothing():
    records = skewed()
    assert class_counts(balance_records(records, "oversample", seed=0)) == {0: 11, 1: 11, 2: 11}
    assert balance_records(records, "none", seed=0) is records


def test_balance_is_seeded():
    records = skewed()
    assert balance_records(records, "resample", 1) == balance_records(records, "resample", 1)
    assert balance_records(records, "resample", 1) != balance_records(records, "resample", 2)


def test_balance_refuses_unknown_modes_and_free_text_answers():
    with pytest.raises(UserError, match="dataset.balance='upsample'"):
        balance_records(skewed(), "upsample", 0)
    free_text = [Record(question=f"q{i}", answer=f"answer {i}") for i in range(10)]
    with pytest.raises(UserError, match="dataset.balance=none"):
        balance_records(free_text, "resample", 0)


def write_pqal(path, counts=(30, 18, 6)):
    """A PQA-L file in the native format with a skewed label prior (yes > no > maybe)."""
    data, n = {}, 0
    for label, count in zip(YES_NO_MAYBE, counts):
        for i in range(count):
            n += 1
            data[str(1000 + n)] = {
                "QUESTION": f"Does treatment {n} change outcome {i}?",
                "CONTEXTS": [f"Background {n} of study {label}.", f"Results {n}: measured {i}."],
                "LABELS": ["BACKGROUND", "RESULTS"],
                "MESHES": [],
                "YEAR": "2000",
                "final_decision": label,
                "LONG_ANSWER": "not in any prompt",
            }
    path.write_text(json.dumps(data))
    return path


def test_a_balanced_run_trains_on_equal_classes_and_scores_the_natural_test_split(tiny_cfg, tmp_path):
    from medft.data.load import load_splits

    pool = write_pqal(tmp_path / "ori_pqal_trainpool.json")
    cfg = tiny_cfg(
        "dataset=pubmedqa",
        f"dataset.path={pool}",
        "dataset.source_split=all",
        "dataset.balance=resample",
        "dataset.test_fraction=0.2",
        "dataset.max_samples=null",
    )
    splits = load_splits(cfg.dataset)
    counts = class_counts(splits["train"])
    assert max(counts.values()) - min(counts.values()) <= 1  # the natural train part would be 21 yes / 12 no / 4 maybe
    assert class_counts(splits["test"]) == {0: 6, 1: 4, 2: 1}  # held-out shares untouched


def test_last_layers_adapts_only_the_top_decoder_layers(tiny_cfg, tmp_path):
    from medft import builders

    cfg = tiny_cfg("peft_method.last_layers=1")
    assert builders.peft_config(cfg.peft_method, cfg.model).layers_to_transform == [cfg.model.arch.n_layers - 1]
    run_dir = tmp_path / "run"
    run(cfg, run_dir)
    from safetensors import safe_open

    with safe_open(str(run_dir / "adapter" / "adapter_model.safetensors"), "pt") as weights:
        layers = {int(k.split(".layers.")[1].split(".")[0]) for k in weights.keys()}
    assert layers == {cfg.model.arch.n_layers - 1}


def test_last_layers_out_of_range_names_the_fix(tiny_cfg):
    from medft import builders

    cfg = tiny_cfg("peft_method.last_layers=99")
    with pytest.raises(UserError, match="peft_method.last_layers=null"):
        builders.peft_config(cfg.peft_method, cfg.model)


def test_a_run_saves_each_questions_prediction(tiny_cfg, tmp_path):
    from medft.evaluation.items import read_items

    run_dir = tmp_path / "run"
    metrics = run(tiny_cfg(), run_dir)
    for tag in ("before", "after"):
        rows = read_items(run_dir / "items" / f"{tag}_test.jsonl")
        assert len(rows) == metrics[f"eval_{tag}"]["test"]["n"] == 12
        accuracy = sum(r["correct"] for r in rows) / len(rows)
        assert accuracy == pytest.approx(metrics[f"eval_{tag}"]["test"]["acc"])
        for row in rows:
            assert row["correct"] == (row["predicted"] == row["gold"])
            assert row["predicted"] == max(range(row["n_options"]), key=row["logprobs"].__getitem__)
    assert (run_dir / "items" / "after_validation.jsonl").is_file()


def write_medmcqa_dev(path, n=40):
    """A MedMCQA dev file in the raw format (cop 1-based), answers skewed towards A like the real dev split."""
    rows = []
    for i in range(n):
        cop = 1 if i % 2 == 0 else 2 + i % 3
        rows.append(
            {
                "id": f"id{i}",
                "question": f"Which drug {i} treats condition {i * 7}?",
                "opa": f"alpha {i}",
                "opb": f"beta {i}",
                "opc": f"gamma {i}",
                "opd": f"delta {i}",
                "cop": cop,
                "exp": None,
                "subject_name": "Pharmacology",
                "topic_name": None,
                "choice_type": "single",
            }
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("preset", ["pubmedqa_lora", "medmcqa_lora"])
def test_each_preset_runs_in_one_command_on_a_pool_and_scores_its_held_out_fold(tiny_cfg, tmp_path, preset):
    """The preset itself, with only the model shrunk and the pool path pointed at a small file."""
    from medft.evaluation.items import read_items

    pool = (
        write_pqal(tmp_path / "ori_pqal_trainpool.json")
        if preset == "pubmedqa_lora"
        else write_medmcqa_dev(tmp_path / "dev_first3000.json")
    )
    cfg = tiny_cfg(
        f"experiment={preset}",
        f"dataset.path={pool}",
        "peft_method.last_layers=1",
        "dataset.max_samples=null",
        "dataset.eval_limit=null",
        "training.max_steps=2",
    )
    assert cfg.dataset.balance == "resample" and cfg.eval.formulation == cfg.training.mc_format and cfg.eval.before
    run_dir = tmp_path / "run"
    metrics = run(cfg, run_dir)
    held_out = read_items(run_dir / "items" / "after_test.jsonl")
    assert len(held_out) == metrics["eval_after"]["test"]["n"] > 0
    assert (run_dir / "items" / "before_test.jsonl").is_file()  # the zero-shot score of the same questions


def test_medmcqa_preset_refuses_to_be_scored_on_the_dev_records_it_trains_on(tiny_cfg, tmp_path):
    """Training on dev records and scoring the full dev split: the contamination check must stop it."""
    from medft.data.prepare import ContaminationError
    from medft.recipes.train import prepare

    pool = write_medmcqa_dev(tmp_path / "dev_first3000.json")
    full_dev = tmp_path / "full" / "dev.json"
    full_dev.parent.mkdir()
    full_dev.write_text(pool.read_text())
    cfg = tiny_cfg(
        "experiment=medmcqa_lora",
        f"dataset.path={pool}",
        "peft_method.last_layers=1",
        "benchmark=medmcqa",
        f"benchmark.path={full_dev}",
    )
    with pytest.raises(ContaminationError, match="benchmark"):
        prepare(cfg, tmp_path / "run")


def test_cloze_training_format_is_what_the_cloze_scorer_scores(tiny_cfg):
    """training.mc_format=cloze: the prompt the cloze scorer builds, the option's text as the target."""
    from conftest import tiny_llama

    from medft.objectives.sft import encode_records
    from medft.prompts import cloze_prompt_and_options

    _, tokenizer = tiny_llama()
    record = skewed((0, 1, 0))[0]
    letter = encode_records([record], tokenizer, tiny_cfg())[0]
    cloze = encode_records([record], tokenizer, tiny_cfg("training.mc_format=cloze"))[0]

    def target(encoded):
        return tokenizer.decode([t for t, m in zip(encoded.input_ids, encoded.completion_mask) if m])

    prompt, options = cloze_prompt_and_options(tokenizer, record, None)
    assert target(cloze).startswith(options[record.answer_index]) and target(letter).startswith("B. no")
    assert tokenizer.decode(cloze.input_ids).startswith(prompt) and "A. yes" not in tokenizer.decode(cloze.input_ids)


def test_an_unknown_mc_format_is_refused(tiny_cfg):
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match="training.mc_format"):
        tiny_cfg("training.mc_format=letters")


def test_the_documented_official_pubmedqa_command_trains_on_train_and_scores_the_official_test(tiny_cfg, tmp_path):
    """experiment=pubmedqa_lora with ori_pqal.json + test_ground_truth.json, as the preset's header writes it."""
    from pathlib import Path

    from medft.evaluation.items import read_items

    folder = Path(__file__).parent / "fixtures" / "benchmarks" / "pubmedqa"
    cfg = tiny_cfg(
        "experiment=pubmedqa_lora",
        f"dataset.path={folder}",
        "dataset.source_split=train",
        "dataset.test_fraction=0",
        "benchmark=pubmedqa",
        f"benchmark.path={folder}",
        "peft_method.last_layers=1",
        "dataset.max_samples=null",
    )
    run_dir = tmp_path / "run"
    metrics = run(cfg, run_dir)
    official = metrics["benchmarks_after"]["pubmedqa"]
    assert official["split"] == "test" and official["n"] == 3 and official["prompt_style"] == "chat"
    assert cfg.benchmark.chat_formulation == cfg.training.mc_format == "cloze"  # scored as it trained
    assert "macro_f1" in official and len(read_items(run_dir / "benchmarks" / "after_pubmedqa.jsonl")) == 3


def test_recipe_table_flags_a_collapsed_run_and_passes_one_that_beats_the_majority():
    """perf/recipe_table.py's acceptance test on hand-made predictions (55 yes / 34 no / 11 maybe)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "perf" / "recipe_table.py"
    spec = importlib.util.spec_from_file_location("recipe_table", path)
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    gold = [0] * 55 + [1] * 34 + [2] * 11
    base = table.majority(gold, 3)
    assert base["label"] == 0 and base["acc"] == 0.55 and base["macro_f1"] == pytest.approx(0.7097 / 3, abs=1e-3)
    always_yes_but_one = [0] * 99 + [1]
    collapsed = table.label_metrics(gold, always_yes_but_one, 3)
    assert collapsed["collapsed"] and table.verdict(collapsed, base).startswith("fail")
    good = gold[:]  # right on 80 of 100, with every label predicted
    for i in list(range(0, 10)) + list(range(55, 65)):
        good[i] = 1 if gold[i] == 0 else 0
    learned = table.label_metrics(gold, good, 3)
    assert learned["acc"] == 0.8 and not learned["collapsed"] and table.verdict(learned, base) == "pass"


def test_chat_benchmark_scoring_in_cloze_scores_the_option_texts(tiny_cfg, tmp_path):
    """benchmark.chat_formulation=cloze: the answer words after the chat prompt (what training.mc_format=cloze
    trains), not the letters; a typo is refused."""
    from pathlib import Path

    from medft.benchmarks.registry import load_benchmark
    from medft.builders import load_model, load_tokenizer
    from medft.evaluation.benchmark_suite import evaluate_benchmarks
    from medft.evaluation.items import read_items
    from medft.evaluation.multiple_choice import score_multiple_choice
    from medft.models.resolve import resolve_model

    folder = Path(__file__).parent / "fixtures" / "benchmarks" / "pubmedqa"
    cfg = tiny_cfg(
        "benchmark=pubmedqa",
        f"benchmark.path={folder}",
        "benchmark.prompt_style=chat",
        "benchmark.chat_formulation=cloze",
    )
    resolved = resolve_model(cfg.model, cfg.cache_dir, cfg.seed)
    model, tokenizer = load_model(cfg, resolved), load_tokenizer(cfg.model, resolved)
    evaluate_benchmarks(model, tokenizer, cfg.benchmark, None, items_dir=tmp_path)
    saved = [row["loglikelihoods"] for row in read_items(tmp_path / "pubmedqa.jsonl")]
    records = load_benchmark("pubmedqa", str(folder), "test").records
    for formulation in ("cloze", "letter"):
        direct = [
            list(s.logprobs) for s in score_multiple_choice(model, tokenizer, records, None, 2048, 8, formulation)
        ]
        same = all(a == pytest.approx(b, abs=1e-5) for row, ref in zip(saved, direct) for a, b in zip(row, ref))
        assert same is (formulation == "cloze")
    from omegaconf.errors import ValidationError

    with pytest.raises(ValidationError, match="chat_formulation"):  # an Enum in the schema
        cfg.benchmark.chat_formulation = "letters"
