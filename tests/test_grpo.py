"""objective=grpo: the rewards read answers as the scorer does, a 2-step run on tiny-random samples,
rewards and evaluates before and after, and the config rules refuse what GRPO cannot train."""

from __future__ import annotations

import json
import math

import pytest

from medft.config.errors import ConfigError
from medft.config.validate import validate
from medft.objectives.grpo import correctness_reward, format_reward
from medft.prompts import parse_choice
from medft.recipes.train import run

GRPO = [
    "objective=grpo",
    "dataset.train_formats=[mc]",
    "dataset.contamination.action=warn",  # 64 of the builtin questions: 2 near-repeats of control ones
    "training.max_seq_len=512",  # byte tokenizer: a lettered question is ~300 tokens
    "objective.max_completion_length=4",
]


def test_rewards_read_the_letter_as_training_writes_it():
    # Gold is C (index 2) of 4 options for every answer.
    answers = ["C. Metformin", "C", "(C)", "A. Insulin", "E. not an option", "A patient with diabetes", "", "metformin"]
    gold, n = [2] * len(answers), [4] * len(answers)
    assert correctness_reward(answers, answer_index=gold, n_options=n) == [1, 1, 1, 0, 0, 0, 0, 0]
    # Only the trained form `C. <option>` earns the format reward, whichever letter it names.
    assert format_reward(answers, n_options=n) == [1, 0, 0, 1, 0, 0, 0, 0]
    # The letter a 4-option question cannot have is unreadable, not a wrong option.
    assert parse_choice("E. x", 4) is None and parse_choice("E. x", 5) == 4


def test_grpo_trains_two_steps_and_scores_before_and_after(tiny_cfg, tmp_path, monkeypatch):
    from trl import GRPOTrainer

    rewarded = []
    original = GRPOTrainer._calculate_rewards

    def spy(self, inputs, prompts, completions, completion_ids_list):
        rewards = original(self, inputs, prompts, completions, completion_ids_list)
        rewarded.append((list(completions), [x["answer_index"] for x in inputs], rewards.tolist()))
        return rewards

    monkeypatch.setattr(GRPOTrainer, "_calculate_rewards", spy)
    metrics = run(tiny_cfg(*GRPO), tmp_path / "run")
    assert metrics["train"]["steps"] == 2 and metrics["train"]["objective"] == "grpo"
    assert math.isfinite(metrics["train"]["train_loss"])
    assert metrics["train"]["tokens"] > 0  # GRPO's own count: prompt + sampled answer tokens
    # Each step sampled 4 answers (training.batch_size) for one question (num_generations=4), and each
    # answer's rewards are the scorer's reading of that very text.
    assert len(rewarded) == 2
    for completions, gold, rewards in rewarded:
        assert len(completions) == 4 and len(set(gold)) == 1
        for text, answer, (correct, formatted) in zip(completions, gold, rewards):
            assert correct == float(parse_choice(text, 4) == answer)
            assert formatted == format_reward([text], n_options=[4])[0]
    for phase in ("eval_before", "eval_after"):
        assert metrics[phase]["test"]["n"] == 12 and 0 <= metrics[phase]["test"]["acc"] <= 1
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["train"]["objective"] == "grpo"
    assert (tmp_path / "run" / "adapter" / "adapter_model.safetensors").is_file()


@pytest.mark.parametrize(
    "overrides,fix",
    [
        (["objective=grpo"], "dataset.train_formats=[mc]"),
        ([*GRPO, "training.batch_size=6", "hardware.micro_batch_size=2"], "training.batch_size=4"),
        ([*GRPO, "objective.num_generations=1"], "objective.num_generations=4"),
        ([*GRPO, "task=diagnosis"], "task=medical_qa"),
        ([*GRPO, "training.eval_every_steps=1"], "drop training.eval_every_steps"),
        (["objective=dpo", "objective.beta=0"], "objective.beta=0.1"),  # 0 is GRPO's default, never DPO's
    ],
)
def test_grpo_config_rules_name_the_fix(tiny_cfg, overrides, fix):
    with pytest.raises(ConfigError, match=fix.replace("[", r"\[").replace("]", r"\]")):
        validate(tiny_cfg(*overrides), dry_run=True)


def test_prompts_carry_one_bos_when_the_tokenizer_adds_its_own(tiny_cfg):
    """Gemma-style: the chat template writes BOS and the tokenizer adds BOS too. TRL tokenizes GRPO's text
    prompts with special tokens (`processing_class(text=prompts)`), so the text must not hold a second."""
    from tokenizers.processors import TemplateProcessing

    from medft.data.builtin import build_builtin_splits
    from medft.models.tiny import build_byte_tokenizer
    from medft.objectives.grpo import prompt_dataset
    from medft.prompts import GEMMA_TEMPLATE

    tokenizer = build_byte_tokenizer()
    tokenizer.chat_template = GEMMA_TEMPLATE
    bos = tokenizer.bos_token_id
    tokenizer._tokenizer.post_processor = TemplateProcessing(
        single=f"{tokenizer.bos_token} $A", special_tokens=[(tokenizer.bos_token, bos)]
    )
    assert tokenizer("x")["input_ids"][0] == bos  # this tokenizer adds BOS, as Gemma's does
    records = build_builtin_splits()["test"][:3]
    data, _, _ = prompt_dataset(records, tokenizer, tiny_cfg(*GRPO))
    for ids in tokenizer(text=list(data["prompt"]))["input_ids"]:  # what GRPOTrainer feeds the model
        assert ids[0] == bos and ids[1] != bos
