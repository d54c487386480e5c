"""lm-evaluation-harness 0.4 prompt strings, so medft's benchmark numbers mean what papers mean.

The Open Medical-LLM Leaderboard and most papers report zero-shot log-likelihood accuracy
with these exact strings (tasks `pubmedqa`, `medqa_4options`, `medmcqa`, `mmlu_*`; copied
from the harness's task files, version 0.4.13). A question becomes a context ending in
"Answer:"; each choice is scored as the continuation " <choice>" (target delimiter " ");
few-shot examples are "<context> <answer>" blocks joined by a blank line after the task's
description. Changing any character here changes the numbers: the tests pin them.

The other prompt style, `chat`, renders the question through the model's chat template the
way training does (`medft.prompts.render`); it is what a tuned chat model was trained on, but
it is not comparable with published tables.
"""

from __future__ import annotations

from medft.data.records import LETTERS, Record

FORMATS = ("pubmedqa", "medqa", "medmcqa", "mmlu")
TARGET_DELIMITER = " "
FEWSHOT_DELIMITER = "\n\n"


def _letters_block(record: Record) -> str:
    return "".join(f"{LETTERS[i]}. {option}\n" for i, option in enumerate(record.options))


def question_text(record: Record, fmt: str) -> str:
    """The harness's doc_to_text for one record (the context the choices continue)."""
    if fmt == "pubmedqa":  # preprocess_pubmedqa.doc_to_text; context = "\n".join(CONTEXTS)
        return f"Abstract: {record.context}\nQuestion: {record.question}\nAnswer:"
    if fmt == "medqa":  # preprocess_medqa.doc_to_text
        return f"Question: {record.question}\n{_letters_block(record)}Answer:"
    if fmt == "medmcqa":  # utils_medmcqa.doc_to_text
        return f"Question: {record.question}\nChoices:\n{_letters_block(record)}Answer:"
    if fmt == "mmlu":  # mmlu/default/_default_template_yaml
        return f"{record.question.strip()}\n{_letters_block(record).rstrip(chr(10))}\nAnswer:"
    raise ValueError(f"unknown harness prompt format {fmt!r}; use one of {FORMATS}")


def choices(record: Record, fmt: str) -> list[str]:
    """doc_to_choice: the label words for PubMedQA, the option letters for the others."""
    if fmt == "pubmedqa":
        return list(record.options)
    return list(LETTERS[: len(record.options)])


def description(record: Record, fmt: str) -> str:
    """The task description that opens the prompt (MMLU only: it names the subject)."""
    if fmt == "mmlu":
        subject = str(record.metadata.get("subject", "")).replace("_", " ")
        return f"The following are multiple choice questions (with answers) about {subject}.\n\n"
    return ""


def context(record: Record, fmt: str, shots: list[Record] = ()) -> str:
    """description + solved examples + the question, as the harness's fewshot_context builds it."""
    solved = "".join(
        question_text(shot, fmt) + TARGET_DELIMITER + choices(shot, fmt)[shot.answer_index] + FEWSHOT_DELIMITER
        for shot in shots
    )
    return description(record, fmt) + solved + question_text(record, fmt)


def plain_qa_prompt(record: Record) -> str:
    """Free-text QA without a chat template (MedQuAD, prompt_style=plain): the same
    "Question: ...\\nAnswer:" frame the harness's multiple-choice tasks use."""
    return f"Question: {record.question.strip()}\nAnswer:"
