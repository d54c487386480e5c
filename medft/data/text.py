"""Plain text for continued pretraining -> Records whose answer is the document (loss on every token).

A `.txt` file holds one document per blank-line-separated block; a folder holds one document per
`.txt` file (searched recursively, in sorted order so the split is reproducible).
"""

from __future__ import annotations

import re
from pathlib import Path

from medft.data.jsonl import DataFormatError
from medft.data.records import Record
from medft.data.utf8 import read_utf8

BLANK_LINES = re.compile(r"\n\s*\n")


def _read(path: Path) -> str:
    return read_utf8(path, DataFormatError)


def load_text(path: str | Path) -> list[Record]:
    path = Path(path).expanduser()
    if path.is_dir():
        files = sorted(path.rglob("*.txt"))
        if not files:
            raise DataFormatError(f"dataset.path={path}: the folder has no .txt files")
        records = [
            Record(question="", answer=text.strip(), metadata={"file": str(f)})
            for f in files
            if (text := _read(f)).strip()
        ]
    elif path.is_file():
        blocks = [b.strip() for b in BLANK_LINES.split(_read(path))]
        records = [
            Record(question="", answer=b, metadata={"file": str(path), "block": i})
            for i, b in enumerate(blocks, start=1)
            if b
        ]
    else:
        raise DataFormatError(
            f"dataset.path: no such file or folder: {path} (resolved to {path.resolve()}). "
            "Give a .txt file or a folder of them: dataset.path=/path/to/notes.txt"
        )
    if not records:
        raise DataFormatError(f"{path}: no text found")
    return records
