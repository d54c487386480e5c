"""A base for transformers TrainerCallbacks that does not import transformers.

transformers' CallbackHandler calls every event (on_step_end, on_save, on_evaluate, ...) on every
callback and checks no type; `transformers.TrainerCallback`'s own methods do nothing. Deriving from
it would import transformers and torch whenever a module that defines a callback is imported, which
the command line does before it knows whether a model will load at all. Every callback medft defines
runs inside real trainers in the tests (checkpoint seals, NaN guard, preemption, validation scoring).
"""

from __future__ import annotations


def _ignore(*args, **kwargs) -> None:
    return None


class TrainerCallback:
    """Events a subclass does not define are no-ops, as in transformers.TrainerCallback."""

    def __getattr__(self, name: str):
        if name.startswith("on_"):
            return _ignore
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
