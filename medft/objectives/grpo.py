"""objective=grpo: trl.GRPOTrainer (top level in TRL 1.16), on-policy RL rewarded by the task's scorer.

For each training question the policy samples `objective.num_generations` answers of at most
`objective.max_completion_length` tokens. Two rewards score each answer:
- correctness (weight 1): the option the answer chooses, read by `medft.prompts.parse_choice` (the
  inverse of the `B. <option>` targets SFT trains and the letter scorer reads), is the gold one;
- format (weight `objective.format_weight`): the answer opens exactly as those targets do.
GRPO's advantage is an answer's reward against the mean of its question's group, so no value
model and no learned reward model are needed. The prompts are `medft.prompts.render`'s, the same
chat-templated text SFT trains on and the scorer evaluates.

PPO is not offered: TRL 1.16 no longer ships a PPOTrainer (moved to trl.experimental.ppo in
TRL 1.10, huggingface/trl#4482, then removed, huggingface/trl#7020).
"""

from __future__ import annotations

import logging

from medft import builders, prompts
from medft.config.derived import grad_accumulation
from medft.config.errors import UserError

log = logging.getLogger(__name__)


def correctness_reward(completions, answer_index, n_options, **_) -> list[float]:
    """1.0 where the answer chooses the gold option, else 0.0 (a wrong or unreadable answer)."""
    return [float(prompts.parse_choice(text, n) == gold) for text, gold, n in zip(completions, answer_index, n_options)]


def format_reward(completions, n_options, **_) -> list[float]:
    """1.0 where the answer opens as the training targets do (`B. <option>`), else 0.0."""
    return [float(prompts.in_answer_format(text, n)) for text, n in zip(completions, n_options)]


def _fitted_prompt(tokenizer, prompt: str, budget: int) -> tuple[str, bool]:
    """The prompt, its start dropped so it leaves `budget` tokens (SFT's truncation rule)."""
    encoded = prompts.encode(tokenizer, prompt, "", budget)
    return (tokenizer.decode(encoded.input_ids), True) if encoded.truncated else (prompt, False)


def _adds_bos(tokenizer) -> bool:
    """Whether tokenizing text with the tokenizer's special tokens puts BOS first (Gemma, Llama 3 do)."""
    return tokenizer.bos_token_id is not None and tokenizer("x")["input_ids"][:1] == [tokenizer.bos_token_id]


def prompt_dataset(records, tokenizer, cfg):
    """The multiple-choice records as GRPO's prompts (templated text) with what the rewards read.

    TRL's GRPOTrainer tokenizes a text prompt with the tokenizer's special tokens
    (`processing_class(text=prompts)`), so where the tokenizer adds BOS itself the BOS a chat
    template writes (Gemma's does) is left out of the text: one BOS, as SFT and the scorer see it."""
    from datasets import Dataset

    template_bos = tokenizer.bos_token if _adds_bos(tokenizer) else None

    questions = [r for r in records if r.is_multiple_choice]
    budget = cfg.training.max_seq_len - cfg.objective.max_completion_length
    columns = {"prompt": [], "answer_index": [], "n_options": []}
    truncated = 0
    for record in questions:
        prompt, cut = _fitted_prompt(tokenizer, prompts.render(tokenizer, record, cfg.model.system_prompt)[0], budget)
        if template_bos and prompt.startswith(template_bos):
            prompt = prompt[len(template_bos) :]
        truncated += cut
        columns["prompt"].append(prompt)
        columns["answer_index"].append(record.answer_index)
        columns["n_options"].append(len(record.options))
    if truncated:
        log.warning(
            "%d of %d questions exceed training.max_seq_len=%d minus objective.max_completion_length=%d: "
            "prompt start dropped",
            truncated,
            len(questions),
            cfg.training.max_seq_len,
            cfg.objective.max_completion_length,
        )
    return Dataset.from_dict(columns), len(records) - len(questions), truncated


def grpo_config(cfg, output_dir):
    """TRL's GRPOConfig: the shared training fields (less max_length: GRPO caps prompt and answer
    separately) and the objective's own. A step's batch (training.batch_size answers) is also the
    generation batch: training.batch_size / num_generations questions."""
    from trl import GRPOConfig

    shared = builders.training_arguments(cfg, output_dir, grad_accumulation(cfg))
    shared.pop("max_length")
    objective = cfg.objective
    return GRPOConfig(
        **{
            **shared,
            "train_sampling_strategy": "random",  # GRPO samples whole question groups itself
            # GRPOTrainer adds each step's prompt + completion tokens to num_input_tokens_seen itself; the
            # Trainer's own count reads "input_ids", which GRPO's batches lack (a warning every step).
            "include_num_input_tokens_seen": "no",
            "num_generations": objective.num_generations,
            "max_completion_length": objective.max_completion_length,
            "temperature": objective.temperature,
            "beta": objective.beta,
            "loss_type": objective.loss_type,
            "reward_weights": [1.0, objective.format_weight],
        }
    )


def build(cfg, model, tokenizer, splits, validation, output_dir, callbacks):
    from trl import GRPOTrainer

    train_data, skipped, truncated = prompt_dataset(splits["train"], tokenizer, cfg)
    if not len(train_data):
        raise UserError(
            f"dataset={cfg.dataset.name}: objective=grpo rewards the option an answer chooses, and the train split "
            "has no multiple-choice questions; use a multiple-choice dataset (medmcqa, medqa, or builtin with "
            "dataset.train_formats=[mc])"
        )
    log.info(
        "GRPO: %d multiple-choice questions (%d free-text records skipped), %d answers sampled per question",
        len(train_data),
        skipped,
        cfg.objective.num_generations,
    )
    args = grpo_config(cfg, output_dir)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[correctness_reward, format_reward],
        args=args,
        train_dataset=train_data,
        processing_class=tokenizer,
        **builders.method_hooks(cfg, model, args, callbacks),
    )  # LoRA+, AdaLoRA as in SFT
    return trainer, truncated
