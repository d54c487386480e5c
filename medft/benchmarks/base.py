"""What every benchmark loader returns, and the helpers they share."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from medft.config.errors import UserError
from medft.data.records import Record
from medft.data.safe_json import JsonProblem, parse_json
from medft.data.utf8 import read_utf8

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


# --- Helpers shared by the loaders (appended; the names above are the interface) -------------

HUB_FIX = "pass a local copy instead: benchmark.path=<file or folder> (dataset.path=<file or folder> when training)"


def format_error(where: str, problem: str, expected: str) -> BenchmarkFormatError:
    """`where` is `file:line`, `file: key 123` or `hub_id split row 7`; `expected` says what fits."""
    return BenchmarkFormatError(f"{where}: {problem}; expected {expected}")


def read_json_lines(path: Path, benchmark: str) -> list[tuple[int, str, object]]:
    """(line number, "file:line", parsed object) for every non-blank line of a JSON-lines file."""

    rows = []
    for line_no, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{line_no}"
        try:
            rows.append((line_no, where, parse_json(line)))
        except JsonProblem as err:
            raise format_error(where, err.problem, "one JSON object per line") from None
    if not rows:
        raise format_error(str(path), "no records", f"{benchmark} JSON lines")
    return rows


def require_fields(obj, required: tuple[str, ...], where: str, benchmark: str) -> None:
    """One JSON line must be an object holding every `required` key."""
    if not isinstance(obj, dict):
        raise format_error(where, f"a JSON {type(obj).__name__}", "a JSON object per line")
    missing = [k for k in required if k not in obj]
    if missing:
        raise format_error(
            where, f"missing {missing} (keys found: {sorted(obj)})", f"{benchmark} fields " + ", ".join(required)
        )


def check_split(name: str, split: str, allowed: tuple[str, ...]) -> str:
    """Reject a split name the benchmark does not have, before any file or hub is touched."""
    if split not in SPLITS:
        raise UserError(f"{name}: split={split!r} is not one of {list(SPLITS)}")
    if split not in allowed:
        raise BenchmarkSourceError(f"{name}: has no {split!r} split; use one of {list(allowed)}")
    return split


def read_text(path: Path) -> str:
    """A whole native file as text: UTF-8 (a BOM is dropped), and never empty."""

    text = read_utf8(path, BenchmarkFormatError)  # benchmark files are published in UTF-8
    if not text.strip():
        raise BenchmarkFormatError(f"{path}: the file is empty; expected the benchmark's records")
    return text


def find_files(root: Path, patterns: tuple[str, ...]) -> list[Path]:
    """Files under `root` (recursively) whose names match any glob pattern, sorted by path."""
    found = {p for pattern in patterns for p in root.rglob(pattern) if p.is_file()}
    return sorted(found)


def require_folder_or_file(path: str | Path, name: str) -> Path:
    resolved = Path(path).expanduser()
    if not resolved.exists():
        raise BenchmarkSourceError(
            f"{name}: no such file or folder {resolved} (resolved {resolved.resolve()}); "
            "give the benchmark's native file or the folder holding it"
        )
    return resolved


def hub_rows(name: str, hub_id: str, hub_config: str | None, split: str):
    """`datasets.load_dataset(hub_id, hub_config, split=split)`; any failure -> BenchmarkSourceError."""
    import datasets

    try:
        return datasets.load_dataset(hub_id, hub_config, split=split)
    except Exception as err:  # offline, unknown repo/config/split, auth: all fixed the same way
        config = f" (config {hub_config})" if hub_config else ""
        raise BenchmarkSourceError(
            f"{name}: cannot load split {split!r} of {hub_id}{config} from the hub "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); {HUB_FIX}"
        ) from None


def hub_source(hub_id: str, hub_config: str | None, split: str) -> str:
    return f"{hub_id}" + (f" ({hub_config})" if hub_config else "") + f" split {split}"
