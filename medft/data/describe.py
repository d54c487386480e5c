"""What a record's value is, never what it says: for error messages about patient data.

A loader's error reaches the console, train.log and job.json, so it must not quote the record it
refuses: an answer, an option, a question or an id can hold a name, a date or a record number
(MRN). `describe(value)` gives the kind and size instead ("a string of 22 characters", "null"),
which is enough to find the line named next to it and see what is wrong.
"""

from __future__ import annotations


def describe(value) -> str:
    """The JSON kind and size of `value`, without its content."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return (
            "an empty string" if not value.strip() else f"a string of {len(value)} character{'s' * (len(value) != 1)}"
        )
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} items"
    if isinstance(value, dict):
        return f"an object with {len(value)} keys"
    return f"a {type(value).__name__}"
