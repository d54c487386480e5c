"""What every benchmark loader returns, and the helpers they share."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from medft.data.records import Record
from medft.errors import UserError

# `split=auto`: the benchmark's official test split when its files are there, otherwise every
# record in the file given (recorded as split "all" with a notice, never silently).
SPLITS = ("auto", "test", "validation", "train", "dev", "all")


class BenchmarkFormatError(UserError, ValueError):
    """A benchmark file that cannot be read; the message names the file, line or key."""


class BenchmarkSourceError(UserError, FileNotFoundError):
    """A benchmark's files are missing (path or data_dir) or its hub copy cannot be reached."""


@dataclass
class BenchmarkData:
    name: str  # registry name, e.g. pubmedqa
    records: list[Record]  # the evaluated items, in source order
    split: str  # the split actually used: test | validation | train | dev | all
    source: str  # a file or folder path, or hub id (with config)
    fewshot_pool: list[Record] = field(default_factory=list)  # the benchmark's few-shot split
    fewshot_sampler: str = "random"  # random (seeded, as the harness) | first_n (MMLU's dev)
    notes: list[str] = field(default_factory=list)  # what a reader of results.json must know


def require_file(path: Path, what: str, fix: str) -> Path:
    if not path.is_file():
        raise BenchmarkSourceError(f"{what}: no such file {path} (resolved {path.resolve()}). {fix}")
    return path
