"""objective=reward: a reward model trained with trl.RewardTrainer (top level in TRL 1.16) on preference pairs.

The model is the base loaded as `AutoModelForSequenceClassification` with `num_labels=1` (a random
linear `score` head on the last hidden state; builders.load_model), so each sequence gets one
scalar. TRL's loss is -log sigmoid(r(chosen) - r(rejected)) (Bradley-Terry). With LoRA the adapter
is a peft SEQ_CLS adapter and the head trains whole (`modules_to_save=["score"]`, builders.peft_config).

The pairs are the DPO ones (medft.objectives.preference_data: multiple-choice records or
preference_jsonl), rendered by the same chat template. They are tokenized here, once, into the
`chosen_ids` / `rejected_ids` columns TRL accepts as already processed: the same ids train the model
and score the held-out pairs before and after (metrics.json `reward_model`), so the evaluation reads
the reward exactly where training put it. As TRL does for text, each sequence ends with the EOS token.
"""

from __future__ import annotations

import logging

from medft import builders
from medft.config.derived import grad_accumulation
from medft.evaluation.significance import accuracy_with_ci
from medft.objectives import preference_data as data
from medft.objectives.preference_data import rendered

log = logging.getLogger(__name__)


def with_pad_token(model, tokenizer):
    """Sequence classification reads the reward at the last token that is not padding, so the model must know it."""
    model.config.pad_token_id = tokenizer.pad_token_id
    return model


def _ids(tokenizer, text: str, max_len: int) -> tuple[list[int], bool]:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    if len(ids) <= max_len:
        return ids, False
    return ids[-max_len:], True  # the prompt's start goes, the answer stays (SFT's rule)


def pair_ids(pairs, tokenizer, cfg) -> tuple[dict[str, list[list[int]]], int]:
    """{"chosen_ids", "rejected_ids"}: prompt + answer + EOS per pair, and how many pairs were cut to fit."""

    columns, too_long = {"chosen_ids": [], "rejected_ids": []}, 0
    for pair in pairs:
        prompt, chosen, rejected = rendered(tokenizer, pair, cfg.model.system_prompt)
        chosen_ids, cut_chosen = _ids(tokenizer, prompt + chosen, cfg.training.max_seq_len)
        rejected_ids, cut_rejected = _ids(tokenizer, prompt + rejected, cfg.training.max_seq_len)
        columns["chosen_ids"].append(chosen_ids)
        columns["rejected_ids"].append(rejected_ids)
        too_long += cut_chosen or cut_rejected
    if too_long:
        log.warning(
            "%d of %d preference pairs exceed training.max_seq_len=%d: prompt start dropped, answers kept",
            too_long,
            len(pairs),
            cfg.training.max_seq_len,
        )
    return columns, too_long


def pair_rewards(model, tokenizer, pairs, cfg) -> list[tuple[float, float]]:
    """(reward of chosen, reward of rejected) per pair, batched by TRL's own preference collator."""
    import torch
    from trl.trainer.reward_trainer import DataCollatorForPreference

    columns, _ = pair_ids(pairs, tokenizer, cfg)
    examples = [{"chosen_ids": c, "rejected_ids": r} for c, r in zip(columns["chosen_ids"], columns["rejected_ids"])]
    collate = DataCollatorForPreference(pad_token_id=tokenizer.pad_token_id)
    with_pad_token(model, tokenizer)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    scores = []
    with torch.no_grad():
        for start in range(0, len(examples), cfg.training.eval_batch_size):
            batch = collate(examples[start : start + cfg.training.eval_batch_size])
            logits = (
                model(
                    input_ids=batch["input_ids"].to(device),
                    attention_mask=batch["attention_mask"].to(device),
                    use_cache=False,
                )
                .logits.squeeze(-1)
                .float()
            )
            chosen, rejected = torch.chunk(logits, chunks=2)
            scores += list(zip(chosen.tolist(), rejected.tolist()))
    if was_training:
        model.train()
    return scores


def summarize(scores: list[tuple[float, float]]) -> dict:
    """Pairwise accuracy (chosen reward strictly above rejected; a tie counts as wrong) and the mean margin."""

    margins = [c - r for c, r in scores]
    accuracy = accuracy_with_ci([m > 0 for m in margins])
    return {
        "n": len(scores),
        "pairwise_accuracy": accuracy["acc"],
        "pairwise_accuracy_ci95": accuracy["acc_ci95"],
        "reward_margin": sum(margins) / len(margins),
        "mean_reward_chosen": sum(c for c, _ in scores) / len(scores),
        "mean_reward_rejected": sum(r for _, r in scores) / len(scores),
    }


def build(cfg, model, tokenizer, splits, validation, output_dir, callbacks):
    from datasets import Dataset
    from trl import RewardConfig, RewardTrainer

    train_pairs, eval_pairs = data.train_and_eval_pairs(cfg, splits, validation)
    columns, too_long = pair_ids(train_pairs, tokenizer, cfg)
    train_data = Dataset.from_dict(columns)
    eval_data = Dataset.from_dict(pair_ids(eval_pairs, tokenizer, cfg)[0]) if eval_pairs else None
    args = builders.trainer_config(
        RewardConfig,
        cfg,
        output_dir,
        grad_accumulation(cfg),
        train_sampling_strategy="random",  # length grouping reads an input_ids column that pairs do not have
        center_rewards_coefficient=cfg.objective.center_rewards_coefficient,
    )
    trainer = RewardTrainer(
        model=with_pad_token(model, tokenizer),
        args=args,
        train_dataset=train_data,
        eval_dataset=eval_data,
        processing_class=tokenizer,
        **builders.method_hooks(cfg, model, args, callbacks),
    )  # LoRA+ as in SFT
    return trainer, too_long
