"""`json.loads` for files a user hands over, with every way it can fail turned into one problem text.

Python's parser fails three ways besides JSONDecodeError, each as a bare traceback from deep in a
loader: a value nested past the interpreter's recursion limit (`[[[[...` 200,000 deep) raises
RecursionError; an integer of more than `sys.get_int_max_str_digits()` digits (4,300) raises
ValueError; and an escape `\\ud800` without its pair parses into a string that is not text (no
UTF-8 encoding exists for it), which fails later in the tokenizer or a file write. `parse_json`
raises `JsonProblem` for all of them, with the place when the parser knows it; the caller adds
the file and line. The problem never quotes the text (it may be patient data).
"""

from __future__ import annotations

import json
import re
import sys

# A lone surrogate can only come from a \uD800-\uDFFF escape (raw surrogate bytes are not UTF-8
# and fail decoding first), so only text holding such an escape is walked.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonProblem(ValueError):
    """Why a text is not usable JSON; `line` is the text's own line where known (whole files)."""

    def __init__(self, problem: str, line: int | None = None):
        super().__init__(problem)
        self.problem, self.line = problem, line


def _has_lone_surrogate(obj) -> bool:
    """Any key or string in `obj` holding a surrogate code point (iterative: obj may be deep)."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def parse_json(text: str, **loads_kwargs):
    """`json.loads(text)`, or JsonProblem saying what is wrong (JSONDecodeError included)."""
    try:
        obj = json.loads(text, **loads_kwargs)
    except json.JSONDecodeError as err:
        raise JsonProblem(f"invalid JSON ({err.msg} at column {err.colno})", err.lineno) from None
    except RecursionError:
        raise JsonProblem(
            f"JSON nested deeper than Python's parser allows (about {sys.getrecursionlimit():,} "
            "levels of [ or {); no record nests that deep, so the line is damaged: fix or drop it"
        ) from None
    except ValueError as err:
        if "integer string conversion" not in str(err):  # a loads_kwargs hook's own error: the caller's
            raise
        raise JsonProblem(
            f"a number with more than {sys.get_int_max_str_digits():,} digits, which Python "
            "refuses to convert; no field holds such a number, so the line is damaged: fix or drop it"
        ) from None
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(obj):
        raise JsonProblem(
            "a \\uD800-\\uDFFF escape without its pair (a lone UTF-16 surrogate), which is not "
            "text and cannot be tokenized or saved; fix or drop that escape"
        )
    return obj
