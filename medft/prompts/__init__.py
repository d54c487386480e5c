"""The one place records become model text, for training and for evaluation alike.

Training learns `completion_text` after `prompt_text`; evaluation scores the same completion
start (the option letter) after the same prompt, so the two can never disagree about format.
Both strings come from the tokenizer's chat template, so every model family gets its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from medft.data.records import LETTERS, Record

# Short on purpose: every training and evaluation token of the system turn costs CPU time.
DEFAULT_SYSTEM_PROMPT = "You are a medical expert. Answer accurately and briefly."

MC_INSTRUCTION = "Answer with the letter of the correct option."

# ChatML as plain text, for models without a template of their own (base models, tiny-random).
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Gemma's turn format, for GGUF files that carry no template (the Gemma-3 package's does not).
# Gemma has no system role: the system text opens the first user turn, as Google's template does.
GEMMA_TEMPLATE = (
    "{{ bos_token }}"
    "{% if messages[0]['role'] == 'system' %}"
    "{% set prefix = messages[0]['content'] + '\n\n' %}{% set turns = messages[1:] %}"
    "{% else %}{% set prefix = '' %}{% set turns = messages %}{% endif %}"
    "{% for message in turns %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' + (prefix if loop.first else '') + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)
# Baichuan2-Chat's turn format: its repository builds it in Python (generation_utils.build_chat_input:
# system text first, then <reserved_106> before each user turn and <reserved_107> before each answer,
# which ends with eos); this is the same sequence as text.
BAICHUAN_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] }}"
    "{% elif message['role'] == 'user' %}{{ '<reserved_106>' + message['content'] }}"
    "{% else %}{{ '<reserved_107>' + message['content'] + eos_token }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<reserved_107>' }}{% endif %}"
)
# Flan's format: plain instruction text, turns separated by a blank line, no role markers (Flan-T5 was
# instruction-tuned on such text). The final answer is rendered bare, so for an encoder-decoder the
# prompt is the encoder's input and the answer exactly the decoder's target.
FLAN_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' and loop.last %}{{ message['content'] }}"
    "{% else %}{{ message['content'] + '\n\n' }}{% endif %}"
    "{% endfor %}"
)
# No roles at all: prompt + eos + response + eos, the format of the reference API's base-model examples.
# The system text is left out (a plain format has nowhere to put it); a prompt ends with eos, so the
# model learns that the answer follows eos, and the answer's own eos ends it.
PLAIN_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] != 'system' %}{{ message['content'] + eos_token }}{% endif %}"
    "{% endfor %}"
)
CHAT_TEMPLATES = {
    "plain": PLAIN_TEMPLATE,
    "chatml": CHATML_TEMPLATE,
    "gemma": GEMMA_TEMPLATE,
    "baichuan": BAICHUAN_TEMPLATE,
    "flan": FLAN_TEMPLATE,
}


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    completion_mask: list[int]  # 1 on tokens the loss (or the scorer) looks at
    truncated: bool


def user_text(record: Record) -> str:
    parts = []
    if record.context:
        parts.append(record.context.strip())
    parts.append(record.question.strip())
    if record.is_multiple_choice:
        parts.append("\n".join(f"{LETTERS[i]}. {opt}" for i, opt in enumerate(record.options)))
        parts.append(MC_INSTRUCTION)
    return "\n".join(parts)


def target_text(record: Record, option_index: int | None = None) -> str:
    """What the assistant says: `B. metformin` for multiple choice, the answer otherwise."""
    if not record.is_multiple_choice:
        return record.answer.strip()
    index = record.answer_index if option_index is None else option_index
    return f"{LETTERS[index]}. {record.options[index]}"


# A generated answer names an option by the letter it opens with: "B. metformin" (the form
# `target_text` trains), "B", "B)", "(B)" or "B:". A letter followed by a word ("A patient ...")
# is prose, not a choice.
_CHOICE_AT_START = re.compile(r"\s*\(?([A-J])(?:[.):]|\s*$|\s*\n)")
_TARGET_FORM = re.compile(r"([A-J])\. \S")  # exactly as target_text writes it: letter, ". ", the option


def parse_choice(completion: str, n_options: int) -> int | None:
    """The option index a generated answer chooses, read the way `target_text` writes it (the letter
    the letter scorer scores as the answer's first token); None when no option letter opens it."""
    match = _CHOICE_AT_START.match(completion)
    if not match:
        return None
    index = LETTERS.index(match.group(1))
    return index if index < n_options else None


def in_answer_format(completion: str, n_options: int) -> bool:
    """True when the answer opens exactly as training targets do (`B. <option>`), a valid letter first."""
    match = _TARGET_FORM.match(completion)
    return bool(match) and LETTERS.index(match.group(1)) < n_options


def prompt_messages(record: Record, system_prompt: str | None) -> list[dict[str, str]]:
    # A system turn carried by the data itself wins over the model's or the default one.
    system = record.metadata.get("system") or system_prompt or DEFAULT_SYSTEM_PROMPT
    messages = [{"role": "system", "content": system}]
    messages += [{"role": role, "content": content} for role, content in record.history]
    messages.append({"role": "user", "content": user_text(record)})
    return messages


def _fold_system_into_user(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """For templates that reject a system role (Mistral): prepend it to the first user turn."""
    system, rest = messages[0]["content"], [dict(m) for m in messages[1:]]
    rest[0]["content"] = f"{system}\n\n{rest[0]['content']}"
    return rest


def _apply_template(tokenizer, messages, add_generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def chat_prompt(tokenizer, turns: list[dict[str, str]], system_prompt: str | None) -> str:
    """The generation prompt of a conversation (`turns`: user/assistant messages, oldest first),
    with the system turn training used, through the model's chat template."""
    from jinja2.exceptions import TemplateError

    messages = [{"role": "system", "content": system_prompt or DEFAULT_SYSTEM_PROMPT}, *turns]
    try:
        return _apply_template(tokenizer, messages, add_generation_prompt=True)
    except TemplateError:
        return _apply_template(tokenizer, _fold_system_into_user(messages), add_generation_prompt=True)


def render(
    tokenizer,
    record: Record,
    system_prompt: str | None,
    option_index: int | None = None,
    answer_text: str | None = None,
):
    """Return (prompt_text, completion_text) for a record, through the model's chat template.

    `answer_text` replaces the record's own answer (a preference pair's chosen or rejected text).
    """
    from jinja2.exceptions import TemplateError

    messages = prompt_messages(record, system_prompt)
    content = target_text(record, option_index) if answer_text is None else answer_text
    answer = {"role": "assistant", "content": content}
    try:
        prompt = _apply_template(tokenizer, messages, add_generation_prompt=True)
        full = _apply_template(tokenizer, messages + [answer], add_generation_prompt=False)
    except TemplateError:
        messages = _fold_system_into_user(messages)
        prompt = _apply_template(tokenizer, messages, add_generation_prompt=True)
        full = _apply_template(tokenizer, messages + [answer], add_generation_prompt=False)
    if not full.startswith(prompt):
        raise ValueError(
            "The chat template renders the prompt differently with and without the answer, so "
            "the answer cannot be masked; use model.chat_template=chatml for this model."
        )
    return prompt, full[len(prompt) :]


def _ids(tokenizer, text: str) -> list[int]:
    # Templates already write BOS where the model wants it, so add no special tokens here.
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def encode(tokenizer, prompt: str, completion: str, max_len: int) -> Encoded:
    """Tokenize prompt and completion separately (the same split training and scoring see).

    Over-long examples lose tokens from the start of the prompt, never from the answer.
    """
    prompt_ids, completion_ids = _ids(tokenizer, prompt), _ids(tokenizer, completion)
    ids = prompt_ids + completion_ids
    mask = [0] * len(prompt_ids) + [1] * len(completion_ids)
    truncated = len(ids) > max_len
    if truncated:
        ids, mask = ids[-max_len:], mask[-max_len:]
    return Encoded(ids, mask, truncated)


def encode_record(tokenizer, record: Record, system_prompt: str | None, max_len: int) -> Encoded:
    prompt, completion = render(tokenizer, record, system_prompt)
    return encode(tokenizer, prompt, completion, max_len)


def cloze_prompt_and_options(tokenizer, record: Record, system_prompt: str | None):
    """Cloze formulation: the question alone as the prompt, each option's text as a candidate
    answer start; the same prompt and answer format as the free-text training pairs."""
    from dataclasses import replace

    question_only = replace(record, options=(), answer_index=None)
    prompt, _ = render(tokenizer, question_only, system_prompt)
    return prompt, [option.strip() for option in record.options]


def option_letter_ids(tokenizer, record: Record, system_prompt: str | None) -> list[int] | None:
    """Token id of each option's letter as the first completion token, or None when a letter
    is not a single token at that position (then scoring falls back to whole completions)."""
    ids = []
    for index in range(len(record.options)):
        _, completion = render(tokenizer, record, system_prompt, option_index=index)
        first = _ids(tokenizer, completion)[:1]
        letter = _ids(tokenizer, LETTERS[index])
        if len(letter) != 1 or first != letter:
            return None
        ids.append(letter[0])
    return ids if len(set(ids)) == len(ids) else None
