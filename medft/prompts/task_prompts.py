"""The task's side of rendering: its instruction, which tokens are targets, and plain-text notes.

Training (objectives.sft.tokenize_split) and every task scorer (medft/evaluation/task_scorers.py) call these
functions, so a prompt is the same string in both. With task=medical_qa (no instruction,
targets=answer) they return exactly what medft.prompts.encode_record / render do.
"""

from __future__ import annotations

from dataclasses import replace

from medft import prompts
from medft.data.records import Record


def is_plain_text(record: Record) -> bool:
    """A note to continue (MIMIC): no question, no chat turns; every token is a target."""
    return bool(record.metadata.get("plain_text"))


def with_instruction(record: Record, task_cfg) -> Record:
    """The record as the task asks it: the task's instruction opens the user turn."""
    instruction = task_cfg.get("instruction") if task_cfg is not None else None
    if not instruction or is_plain_text(record):
        return record
    return replace(record, question=f"{instruction.strip()}\n\n{record.question}")


def _plain(tokenizer, text: str, max_len: int) -> prompts.Encoded:
    ids = list(tokenizer(text).input_ids)  # the tokenizer's own bos, as in pretraining
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    truncated = len(ids) > max_len
    ids = ids[:max_len]  # a note keeps its start: the end of a long note is cut, not the header
    return prompts.Encoded(ids, [1] * len(ids), truncated)


def encode_for_task(tokenizer, record: Record, system_prompt: str | None, max_len: int, task_cfg) -> prompts.Encoded:
    """Token ids and the target mask of one training (or perplexity) example under the task."""
    if is_plain_text(record):
        return _plain(tokenizer, record.answer, max_len)
    encoded = prompts.encode_record(tokenizer, with_instruction(record, task_cfg), system_prompt, max_len)
    if task_cfg is not None and task_cfg.get("targets") == "all":  # continued pretraining on the whole text
        return prompts.Encoded(encoded.input_ids, [1] * len(encoded.input_ids), encoded.truncated)
    return encoded


def generation_prompt(tokenizer, record: Record, system_prompt: str | None, task_cfg) -> str:
    """The prompt a generative scorer continues: the training prompt without options or answer."""
    free_text = replace(with_instruction(record, task_cfg), options=(), answer_index=None)
    prompt, _ = prompts.render(tokenizer, free_text, system_prompt)
    return prompt
