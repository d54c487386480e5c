"""The options and the answer of a user's multiple-choice line, checked before they become a Record.

Options are a list (shown as A, B, C... in order) or an object keyed by label, as MedQA writes
them. An object's keys are the user's labels: single letters are shown in letter order, so the
key "A" is the option shown as A; other keys ("1", "10", "x") keep the file's order. The answer
is an index (0-based, into that order), a label (a letter or the object's own key) or an option's
exact text. Every reading that applies must name the same option: options ["B", "A"] with answer
"A" is refused (letter A is the first option, text "A" the second), and so are two options with
the same text, since an answer that is also a distractor can never be scored right.

Messages describe values (medft.data.describe), never quote them: an option or answer may be
patient text.
"""

from __future__ import annotations

from medft.data.describe import describe
from medft.data.records import LETTERS


class RecordProblem(ValueError):
    """What is wrong with one field of a line; the caller adds the file and line."""


def _option_text(value, where: str) -> str:
    if isinstance(value, str):
        if not value.strip():
            raise RecordProblem(f"'{where}' is an empty string; every option needs its text")
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # a numeric option (a dose, a count) is text as written
    raise RecordProblem(f"'{where}' is {describe(value)}; every option must be a non-empty string")


def ordered_options(raw) -> tuple[list[str], list[str]]:
    """(option texts in display order, the labels the user gave them: keys of an object, else letters)."""
    if isinstance(raw, dict):
        keys = list(raw)
        if all(len(k) == 1 and k.upper() in LETTERS for k in keys) and len({k.upper() for k in keys}) == len(keys):
            keys.sort(key=str.upper)  # letter labels: the option keyed "A" is the one shown as A
        labels, texts = keys, [_option_text(raw[k], f"options.{k}" if len(k) <= 3 else "options") for k in keys]
    elif isinstance(raw, list):
        texts = [_option_text(v, f"options[{i}]") for i, v in enumerate(raw)]
        labels = list(LETTERS[: len(texts)])
    else:
        raise RecordProblem(
            f'\'options\' is {describe(raw)}; give a list of option strings or an object {{"A": str, "B": str, ...}}'
        )
    if not 2 <= len(texts) <= len(LETTERS):
        raise RecordProblem(f"'options' holds {len(texts)} option{'s' * (len(texts) != 1)}; give 2 to {len(LETTERS)}")
    normal = [" ".join(t.split()).casefold() for t in texts]
    for i, text in enumerate(normal):
        if normal.index(text) != i:
            raise RecordProblem(
                f"options {normal.index(text) + 1} and {i + 1} (of {len(texts)}) are the same text; "
                "each option must differ, or the answer is also a distractor"
            )
    return texts, labels


def answer_index(raw, texts: list[str], labels: list[str]) -> int:
    """The index `raw` names in `texts`; RecordProblem when it names none or several."""
    n = len(texts)
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise RecordProblem(
            f"'answer' is {describe(raw)}; give an index 0-{n - 1}, a letter A-{LETTERS[n - 1]} "
            "or an option's exact text"
        )
    readings: dict[str, int] = {}
    if isinstance(raw, int):
        if str(raw) in labels:
            readings["label"] = labels.index(str(raw))
        elif 0 <= raw < n:
            readings["index"] = raw
    else:
        if raw in labels:
            readings["letter" if len(raw) == 1 and raw.upper() in LETTERS else "label"] = labels.index(raw)
        elif len(raw) == 1 and raw.upper() in LETTERS[:n]:
            readings["letter"] = LETTERS.index(raw.upper())
        matches = [i for i, text in enumerate(texts) if text.strip() == raw.strip()]
        if matches:
            readings["text"] = matches[0]  # options are distinct, so at most one matches
    if not readings:
        shown = ", ".join(labels) if all(len(k) <= 3 for k in labels) else "a key of 'options'"
        raise RecordProblem(
            f"'answer' ({describe(raw)}) is not one of the record's options ({n} options): give an "
            f"index 0-{n - 1}, a label ({shown}) or an option's exact text"
        )
    if len(set(readings.values())) > 1:
        named = ", ".join(f"as {how} the option shown as {LETTERS[i]}" for how, i in readings.items())
        raise RecordProblem(f"'answer' names different options ({named}); give the index instead")
    return next(iter(readings.values()))
