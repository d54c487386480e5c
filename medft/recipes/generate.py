"""Answer a prompt, or chat, with a training run's model or a base model.

    python -m medft generate run_dir=outputs/builtin/<time> prompt="What is the first-line treatment for anaphylaxis?"
    python -m medft generate run_dir=outputs/builtin/<time> mode=chat     # /exit or end of input quits
    python -m medft generate model=smollm2-135m prompt="..."              # a base model, no run

Prompts go through the prompt module with the system turn the run trained with, so the model
sees the format it learned. The functions here (`load_for_generation`, `reply`) are what the
Python API calls too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from medft.config.errors import UserError
from medft.config.validate import check_values
from medft.models.seq2seq import generated_ids, prompt_ids
from medft.prompts import chat_prompt
from medft.run.saved_model import load_model_and_tokenizer, load_run

log = logging.getLogger(__name__)

NOTICE = (
    "NOTICE: research output of a fine-tuned language model, not medical advice. It can be wrong, "
    "incomplete or out of date. Do not use it to diagnose or treat anyone; ask a qualified clinician."
)
EXIT_COMMANDS = {"/exit", "/quit"}
RESET_COMMAND = "/reset"


@dataclass
class Chatbot:
    """A loaded model with what it needs to answer: its tokenizer, system prompt and context size."""

    model: object
    tokenizer: object
    system_prompt: str | None
    max_context: int  # tokens the prompt plus the answer may use
    label: str


def load_for_generation(cfg) -> Chatbot:
    """The run's model (run_dir=) or a base model (model=), with the system prompt to use."""

    if cfg.run_dir:
        model, tokenizer, weights = load_run(cfg.run_dir, cfg.hardware, cfg.cache_dir)
        train_cfg = weights.train_cfg
        system = cfg.system_prompt or train_cfg.model.system_prompt
        max_context = min(train_cfg.model.max_seq_len, max(train_cfg.training.max_seq_len, 1024))
        return Chatbot(model, tokenizer, system, max_context, weights.label)
    model, tokenizer, _ = load_model_and_tokenizer(
        cfg.model, cfg.quantization, cfg.hardware, cfg.cache_dir or "~/.cache/medft", cfg.seed
    )
    return Chatbot(
        model, tokenizer, cfg.system_prompt or cfg.model.system_prompt, cfg.model.max_seq_len, cfg.model.name
    )


def _fit_history(bot: Chatbot, turns: list[dict], max_new_tokens: int) -> tuple[str, list[dict]]:
    """The prompt text, dropping the oldest exchanges until it leaves room for the answer."""

    while True:
        text = chat_prompt(bot.tokenizer, turns, bot.system_prompt)
        length = len(bot.tokenizer(text, add_special_tokens=False)["input_ids"])
        if length + max_new_tokens <= bot.max_context or len(turns) <= 1:
            return text, turns
        turns = turns[2:]  # one user/assistant exchange
        log.info("conversation longer than %d tokens: dropped the oldest exchange", bot.max_context)


def reply(bot: Chatbot, turns: list[dict], sampling, stream: bool = False) -> str:
    """The assistant's next message after `turns` (user/assistant messages, the last one the user's)."""
    import torch
    from transformers import TextStreamer

    text, _ = _fit_history(bot, turns, sampling.max_new_tokens)
    ids = prompt_ids(bot.model, bot.tokenizer(text, add_special_tokens=False)["input_ids"], bot.tokenizer.eos_token_id)
    input_ids = torch.tensor([ids], device=bot.model.device)
    inputs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
    torch.manual_seed(sampling.seed)
    options = {
        "max_new_tokens": sampling.max_new_tokens,
        "do_sample": sampling.do_sample,
        "repetition_penalty": sampling.repetition_penalty,
        "pad_token_id": bot.tokenizer.pad_token_id,
        "eos_token_id": bot.tokenizer.eos_token_id,
    }
    if sampling.do_sample:
        options.update(temperature=sampling.temperature, top_p=sampling.top_p)
    else:  # the model's generation_config may carry sampling values; greedy ignores them anyway
        options.update(temperature=None, top_p=None, top_k=None)
    if stream:
        options["streamer"] = TextStreamer(bot.tokenizer, skip_prompt=True, skip_special_tokens=True)
    with torch.no_grad():
        output = bot.model.generate(**inputs, **options)
    return bot.tokenizer.decode(generated_ids(bot.model, output, len(ids))[0], skip_special_tokens=True).strip()


def answer_once(bot: Chatbot, prompt: str, sampling, stream: bool) -> str:
    print(NOTICE, flush=True)
    text = reply(bot, [{"role": "user", "content": prompt}], sampling, stream)
    if not stream:
        print(text)
    return text


def chat(bot: Chatbot, sampling, stream: bool, read=input) -> list[dict]:
    """A multi-turn conversation on stdin/stdout; returns it. Ends on /exit, /quit or end of input."""
    print(NOTICE)
    print(f"Chatting with {bot.label}. {RESET_COMMAND} forgets the conversation; /exit or Ctrl-D quits.", flush=True)
    turns: list[dict] = []
    while True:
        try:
            line = read("you> ").strip()
        except EOFError:
            print()
            break
        if line in EXIT_COMMANDS:
            break
        if line == RESET_COMMAND:
            turns = []
            continue
        if not line:
            continue
        turns.append({"role": "user", "content": line})
        print("assistant> ", end="", flush=True)
        text = reply(bot, turns, sampling, stream)
        if not stream:
            print(text, flush=True)
        turns.append({"role": "assistant", "content": text})
    return turns


def run(cfg) -> str | list[dict]:
    check_values(cfg)  # unknown keys, numbers out of range: before anything loads
    if cfg.mode not in ("once", "chat"):
        raise UserError(f"mode={cfg.mode}: use mode=once (with prompt=...) or mode=chat")
    if cfg.mode == "once" and not cfg.prompt:
        raise UserError('mode=once needs a question: add prompt="..." (or mode=chat to talk)')
    import torch

    if cfg.hardware.num_threads:
        torch.set_num_threads(cfg.hardware.num_threads)
    bot = load_for_generation(cfg)
    if cfg.mode == "once":
        return answer_once(bot, cfg.prompt, cfg.sampling, cfg.stream)
    return chat(bot, cfg.sampling, cfg.stream)
