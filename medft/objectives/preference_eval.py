"""Held-out preference metrics, the same for dpo, orpo and kto so their tables compare.

For each held-out pair the summed log-probability of the chosen and the rejected completion
after the prompt is computed with medft's continuation scorer (the multiple-choice engine),
before training (the reference: DPO's and KTO's reference *is* the starting model) and after.

- `logp_margin` / `logp_accuracy`: the model's own preference, log p(chosen) - log p(rejected)
  and how often it is > 0; meaningful before and after.
- `reward_margin` / `reward_accuracy`: DPO's implicit reward beta x (log pi/pi_ref), chosen minus
  rejected, and how often the chosen logp-ratio beats the rejected one. Before training the
  policy is the reference, so both are 0 by construction; after training they are TRL's
  `rewards/margins` and `rewards/accuracies` on held-out pairs (for ORPO, which has no
  reference, the same quantities relative to the starting model).
"""

from __future__ import annotations

from medft import prompts
from medft.evaluation.loglikelihood import Request, continuation_logprobs, truncate
from medft.evaluation.significance import accuracy_with_ci
from medft.objectives.preference_data import rendered


def pair_logprobs(model, tokenizer, pairs, cfg) -> list[tuple[float, float]]:
    requests = []
    for pair in pairs:
        prompt, chosen, rejected = rendered(tokenizer, pair, cfg.model.system_prompt)
        ids = [prompts.encode(tokenizer, "", text, cfg.training.max_seq_len).input_ids for text in (chosen, rejected)]
        context = prompts.encode(tokenizer, prompt, "", cfg.training.max_seq_len).input_ids
        requests.append(truncate(Request(context, ids), cfg.training.max_seq_len))
    was_training = model.training
    model.eval()
    scores = continuation_logprobs(model, requests, tokenizer.pad_token_id, cfg.training.eval_batch_size)
    if was_training:
        model.train()
    return [(c, r) for c, r in scores]


def summarize(before: list[tuple[float, float]], after: list[tuple[float, float]], beta: float) -> dict:
    logp_margins = [c - r for c, r in after]
    rewards = [beta * ((ca - cb) - (ra - rb)) for (ca, ra), (cb, rb) in zip(after, before)]
    reward_acc = accuracy_with_ci([m > 0 for m in rewards])
    logp_acc = accuracy_with_ci([m > 0 for m in logp_margins])
    return {
        "n": len(after),
        "reward_margin": sum(rewards) / len(rewards),
        "reward_accuracy": reward_acc["acc"],
        "reward_accuracy_ci95": reward_acc["acc_ci95"],
        "logp_margin": sum(logp_margins) / len(logp_margins),
        "logp_accuracy": logp_acc["acc"],
        "logp_accuracy_ci95": logp_acc["acc_ci95"],
        "beta": beta,
    }
