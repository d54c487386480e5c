"""Python values in Hydra's override grammar: what every API keyword becomes."""

from __future__ import annotations

import re

from medft.sweep.naming import quote_override_value


def override_value(value) -> str:
    """A Python value (scalar, list, flat dict) as Hydra's override parser reads it back."""

    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(override_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{override_value(v)}" for k, v in value.items()) + "}"
    text = str(value)
    return text if re.fullmatch(r"[\w./:+-]+", text) else quote_override_value(text)
