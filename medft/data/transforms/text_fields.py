"""Rewrite every text field of a Record with one function, keeping multiple choice consistent; and
list the text of a record that reaches the model (what the PHI guard scans and scrub_phi rewrites)."""

from __future__ import annotations

from dataclasses import replace

from medft.data.records import Record

# Metadata that becomes model text: a messages file's own system turn (medft.prompts.prompt_messages),
# a preference pair's rejected answer and an explanation added to a DPO chosen answer
# (medft.data.preference), a subject named in the MMLU harness prompt (medft.prompts.harness_strings).
RENDERED_METADATA = ("system", "rejected", "explanation", "subject")


def model_texts(record: Record) -> list[tuple[str, str]]:
    """(field, text) of every non-empty text of `record` that is rendered into a prompt or a target.
    The PHI guard scans exactly these and `rewrite(..., with_metadata=True)` rewrites exactly these."""
    fields = [("context", record.context), ("question", record.question)]
    # A multiple-choice answer is its option's text: listed once, as rewrite() rewrites it once.
    fields += [(f"options[{i}]", option) for i, option in enumerate(record.options)] or [("answer", record.answer)]
    fields += [(f"history[{i}]", content) for i, (_, content) in enumerate(record.history)]
    fields += [
        (f"metadata.{key}", record.metadata[key])
        for key in RENDERED_METADATA
        if isinstance(record.metadata.get(key), str)
    ]
    return [(name, text) for name, text in fields if text]


def record_text(record: Record) -> str:
    """All the text of a record, for decisions taken once per record (an abbreviation's sense)."""
    parts = [record.context, record.question, record.answer, *record.options]
    parts += [content for _, content in record.history]
    return "\n".join(p for p in parts if p)


def rewrite(
    record: Record, fn, prompt_only: bool = False, allow_merged_options: bool = False, with_metadata: bool = False
) -> Record | None:
    """`fn` applied to the question, context and history (and, unless `prompt_only`, to the answer
    and options; with `with_metadata`, to the RENDERED_METADATA texts too). None when rewriting would
    make two options equal: the item is then ambiguous, so the caller keeps the original (unless
    `allow_merged_options`: scrubbing must not keep PHI)."""
    changes = {
        "question": fn(record.question),
        "context": fn(record.context) if record.context else "",
        "history": tuple((role, fn(content)) for role, content in record.history),
    }
    if with_metadata:
        rendered = {
            key: fn(value)
            for key, value in record.metadata.items()
            if key in RENDERED_METADATA and isinstance(value, str) and value
        }
        changes["metadata"] = {**record.metadata, **rendered}
    if not prompt_only:
        options = tuple(fn(o) for o in record.options)
        if not allow_merged_options and len(set(options)) < len(set(record.options)):
            return None
        changes["options"] = options
        changes["answer"] = options[record.answer_index] if options else fn(record.answer)
    return replace(record, **changes)
