"""Answer a prompt, or chat, with a training run's model or a base model.

    python -m medft generate run_dir=outputs/builtin/<time> prompt="What is the first-line treatment for anaphylaxis?"
    python -m medft generate run_dir=outputs/builtin/<time> mode=chat     # /exit or end of input quits
    python -m medft generate model=smollm2-135m prompt="..."              # a base model, no run
    python -m medft generate run_dir=A adapters=[B,C] prompt="..."        # three runs' adapters on one base:
                                                                          # an answer each (adapter_mode=stack: one, summed)
    python -m medft generate run_dir=A load_in_8bit=true prompt="..."     # the base in bitsandbytes int8

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
from medft.run.saved_model import load_model_and_tokenizer, load_run, run_weights, stack_adapters, switch_adapter

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
    adapters: dict[str, str] | None = None  # adapter_mode=each: peft adapter name -> run folder, answered in turn


INT8 = {"method": "int8", "double_quant": False, "compute_dtype": "auto"}


def with_adapters(model, weights, cfg):
    """run_dir's PeftModel plus the adapters of cfg.adapters (same base), switched or stacked.

    Returns (model, {adapter name: run folder}) for adapter_mode=each, (model, None) for stack."""
    runs = {"default": str(weights.run_dir)}  # peft's name for the first adapter
    for index, folder in enumerate(cfg.adapters, start=1):
        other = run_weights(folder)
        if other.adapter is None or other.model_cfg.name != weights.model_cfg.name:
            raise UserError(
                f"adapters[{index - 1}]={folder}: "
                + (
                    "a full fine-tune has no adapter to add"
                    if other.adapter is None
                    else f"trained on model={other.model_cfg.name}, not run_dir's model={weights.model_cfg.name}"
                )
                + "; give run folders whose adapters share run_dir's base model"
            )
        model.load_adapter(str(other.adapter), adapter_name=f"adapter{index}")
        runs[f"adapter{index}"] = str(other.run_dir)
    if cfg.adapter_mode == "stack":
        names = list(runs)
        if cfg.adapter_weights is not None and len(cfg.adapter_weights) != len(names):
            raise UserError(
                f"adapter_weights has {len(cfg.adapter_weights)} values for {len(names)} adapters (run_dir's first): "
                f"give one each, e.g. adapter_weights=[{','.join(['1.0'] * len(names))}]"
            )
        log.info("stacking %d adapters (sum of their updates, peft add_weighted_adapter cat): %s", len(names), runs)
        return stack_adapters(model, names, cfg.adapter_weights), None
    return model.eval(), runs


def load_for_generation(cfg) -> Chatbot:
    """The run's model (run_dir=) or a base model (model=), with the system prompt to use."""

    quant = INT8 if cfg.get("load_in_8bit") else None
    if cfg.get("adapters") and not cfg.run_dir:
        raise UserError("adapters=[...] join the adapter of a run: add run_dir=<the first run folder>")
    if cfg.run_dir:
        several = bool(cfg.get("adapters"))
        model, tokenizer, weights = load_run(cfg.run_dir, cfg.hardware, cfg.cache_dir, not several, quant)
        model, runs = with_adapters(model, weights, cfg) if several else (model, None)
        train_cfg = weights.train_cfg
        system = cfg.system_prompt or train_cfg.model.system_prompt
        max_context = min(train_cfg.model.max_seq_len, max(train_cfg.training.max_seq_len, 1024))
        return Chatbot(model, tokenizer, system, max_context, weights.label, runs)
    model, tokenizer, _ = load_model_and_tokenizer(
        cfg.model, quant or cfg.quantization, cfg.hardware, cfg.cache_dir or "~/.cache/medft", cfg.seed
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


def answer_once(bot: Chatbot, prompt: str, sampling, stream: bool) -> str | dict[str, str]:
    """The answer; with adapter_mode=each, {run folder: answer}, one per adapter, printed under its folder."""
    print(NOTICE, flush=True)
    if bot.adapters:
        answers = {}
        for name, folder in bot.adapters.items():
            switch_adapter(bot.model, name)
            print(f"[{folder}]", flush=True)
            answers[folder] = reply(bot, [{"role": "user", "content": prompt}], sampling, stream)
            if not stream:
                print(answers[folder], flush=True)
        return answers
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
    if cfg.mode == "chat" and cfg.adapters and cfg.adapter_mode == "each":
        raise UserError(
            "mode=chat keeps one conversation, which one model answers: with adapters=[...] use "
            "adapter_mode=stack, or mode=once for an answer per adapter"
        )
    bot = load_for_generation(cfg)
    if cfg.mode == "once":
        return answer_once(bot, cfg.prompt, cfg.sampling, cfg.stream)
    return chat(bot, cfg.sampling, cfg.stream)
