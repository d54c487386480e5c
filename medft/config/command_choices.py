"""Choices of the commands other than training (generate, export, hub) and of benchmark splits.

Kept apart from medft/config/choices.py only to keep both modules short; same rules (see there).
"""

from __future__ import annotations

from medft.config.choices import Choice


# --- commands ------------------------------------------------------------------------------------
class HubWhat(Choice):
    adapter = "adapter"
    merged = "merged"


class GenerateMode(Choice):
    once = "once"
    chat = "chat"


class AdapterMode(Choice):
    each = "each"  # one answer per adapter, labelled (peft's set_adapter between them)
    stack = "stack"  # one answer from the sum of the adapters' updates (add_weighted_adapter, cat)


class ExportFormat(Choice):
    merged = "merged"
    gguf = "gguf"
    onnx = "onnx"


class GgufType(Choice):
    f32 = "f32"
    f16 = "f16"
    bf16 = "bf16"
    q8_0 = "q8_0"


class BenchmarkSplit(Choice):
    auto = "auto"  # the official test split if its files are there, else all records
    test = "test"
    validation = "validation"
    train = "train"
    dev = "dev"
    all = "all"


class RetentionSplit(Choice):
    test = "test"
    validation = "validation"
    dev = "dev"
