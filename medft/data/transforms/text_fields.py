"""Rewrite every text field of a Record with one function, keeping multiple choice consistent."""

from __future__ import annotations

from dataclasses import replace

from medft.data.records import Record


def record_text(record: Record) -> str:
    """All the text of a record, for decisions taken once per record (an abbreviation's sense)."""
    parts = [record.context, record.question, record.answer, *record.options]
    parts += [content for _, content in record.history]
    return "\n".join(p for p in parts if p)


def rewrite(record: Record, fn, prompt_only: bool = False, allow_merged_options: bool = False) -> Record | None:
    """`fn` applied to the question, context and history (and, unless `prompt_only`, to the answer
    and options). None when rewriting would make two options equal: the item is then ambiguous,
    so the caller keeps the original (unless `allow_merged_options`: scrubbing must not keep PHI)."""
    changes = {"question": fn(record.question), "context": fn(record.context) if record.context else "",
               "history": tuple((role, fn(content)) for role, content in record.history)}
    if not prompt_only:
        options = tuple(fn(o) for o in record.options)
        if not allow_merged_options and len(set(options)) < len(set(record.options)):
            return None
        changes["options"] = options
        changes["answer"] = options[record.answer_index] if options else fn(record.answer)
    return replace(record, **changes)
