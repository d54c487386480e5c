"""objective=reward: TRL's RewardTrainer on tiny-random, pairwise accuracy from real scores, the
run's reward model loading back, and the combinations a scorer cannot take."""

from __future__ import annotations

import json

import pytest
from safetensors import safe_open

from medft.config.errors import ConfigError
from medft.config.validate import validate
from medft.objectives.reward import summarize


def test_pairwise_accuracy_and_margin_on_a_hand_built_case():
    scores = [(1.0, 0.0), (0.0, 1.0), (2.0, 2.0), (3.0, 1.0)]  # right, wrong, tie (counts as wrong), right
    result = summarize(scores)
    assert result["n"] == 4 and result["pairwise_accuracy"] == 0.5
    assert result["reward_margin"] == pytest.approx((1 - 1 + 0 + 2) / 4)
    assert result["mean_reward_chosen"] == pytest.approx(1.5) and result["mean_reward_rejected"] == pytest.approx(1.0)
    low, high = result["pairwise_accuracy_ci95"]
    assert 0 <= low < 0.5 < high <= 1


@pytest.fixture(scope="module")
def reward_run(tmp_path_factory):
    from omegaconf import OmegaConf

    from medft.config.compose import compose_train
    from medft.recipes.train import run
    from tests.conftest import TINY

    root = tmp_path_factory.mktemp("reward")
    cfg = compose_train(TINY + [f"cache_dir={root / 'cache'}", "objective=reward", "optimizer.lr=1e-2"])
    run_dir = root / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
    return cfg, run_dir, run(cfg, run_dir)


def test_reward_training_runs_two_steps_and_reports_pairwise_accuracy(reward_run):
    cfg, run_dir, metrics = reward_run
    assert metrics["train"]["steps"] == 2 and metrics["train"]["objective"] == "reward"
    assert metrics["train"]["tokens"] >= 2 * 4  # chosen + rejected sequences of 4 pairs a step, counted
    assert metrics["eval_before"] == {} and metrics["eval_after"] == {}  # no LM head: no answers to score
    block = metrics["reward_model"]
    for phase in ("before", "after"):
        assert block[phase]["n"] == 12  # dataset.eval_limit=12 held-out test pairs
        assert 0 <= block[phase]["pairwise_accuracy"] <= 1
        assert (block[phase]["pairwise_accuracy"] * 12) == pytest.approx(round(block[phase]["pairwise_accuracy"] * 12))
    assert block["before"]["reward_margin"] != block["after"]["reward_margin"]  # lr 1e-2: the scores moved
    assert json.loads((run_dir / "metrics.json").read_text())["reward_model"] == json.loads(json.dumps(block))


def test_the_adapter_is_a_seq_cls_lora_with_the_trained_score_head(reward_run):
    _, run_dir, _ = reward_run
    config = json.loads((run_dir / "adapter" / "adapter_config.json").read_text())
    assert config["task_type"] == "SEQ_CLS" and "score" in config["modules_to_save"]
    with safe_open(str(run_dir / "adapter" / "adapter_model.safetensors"), "pt") as weights:
        assert any(key.endswith("score.weight") for key in weights.keys())


def test_the_run_loads_back_as_the_reward_model_that_was_scored(reward_run):
    from medft.data.load import load_splits
    from medft.objectives.preference_data import split_pairs
    from medft.objectives.reward import pair_rewards
    from medft.run.saved_model import load_reward_model

    cfg, run_dir, metrics = reward_run
    model, tokenizer, weights = load_reward_model(run_dir)
    pairs = split_pairs(load_splits(cfg.dataset)["test"], cfg)[: cfg.dataset.eval_limit]
    again = summarize(pair_rewards(model, tokenizer, pairs, cfg))
    after = metrics["reward_model"]["after"]
    assert again["pairwise_accuracy"] == after["pairwise_accuracy"]
    assert again["reward_margin"] == pytest.approx(after["reward_margin"], abs=1e-4)


def test_a_reward_run_is_refused_where_a_language_model_is_needed(reward_run, trained_tiny_run):
    from medft.run.saved_model import RewardModelRunError, load_reward_model, load_run

    _, run_dir, _ = reward_run
    with pytest.raises(RewardModelRunError, match=r"is a reward model .* medft\.run\.saved_model\.load_reward_model"):
        load_run(run_dir)
    with pytest.raises(RewardModelRunError, match="not a reward model"):
        load_reward_model(trained_tiny_run)


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["peft_method=ia3"], "peft_method=ia3 cannot hold"),
        (["benchmark=pubmedqa"], "use benchmark=none retention=none"),
        (["retention=general_knowledge"], "use benchmark=none retention=none"),
        (["training.eval_metric=mc_acc"], "training.eval_metric=loss"),
    ],
)
def test_what_a_reward_model_cannot_take_fails_at_validation(compose, overrides, message):
    with pytest.raises(ConfigError, match=message):
        validate(compose(["objective=reward", *overrides]))


def test_preference_jsonl_trains_a_reward_model(compose, tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"prompt": "q", "chosen": "a", "rejected": "b"}\n')
    validate(compose(["objective=reward", "dataset=preference_jsonl", f"dataset.path={pairs}"]))
