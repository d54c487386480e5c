"""Reading a user's text file as UTF-8, or failing with the file, line and byte offset and the fix.

Every loader reads through `read_utf8` (the whole file) or `open_utf8` (a stream, for files too
big to hold: MIMIC's NOTEEVENTS.csv is 4 GB) so a Latin-1 or UTF-16 export is refused the same
way everywhere instead of surfacing as a bare UnicodeDecodeError from deep inside a loader.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

BOM = b"\xef\xbb\xbf"


def _not_utf8(path: Path, error: type[Exception], line: int, offset: int, byte: int, first_bytes: bytes) -> Exception:
    hint = " (it starts with a UTF-16 byte-order mark)" if first_bytes[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
    return error(
        f"{path}:{line}: not UTF-8{hint}: byte {byte:#04x} at offset {offset}. Save the file as "
        f"UTF-8, e.g. iconv -f latin1 -t utf-8 {path.name} > {path.stem}.utf8{path.suffix}"
    )


def read_utf8(path: str | Path, error: type[Exception]) -> str:
    """The whole file as text (a UTF-8 BOM is dropped); `error` (a UserError) when it is not UTF-8."""
    path = Path(path)
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        offset = err.start + (3 if data.startswith(BOM) else 0)  # utf-8-sig counts after its BOM
        raise _not_utf8(path, error, data[:offset].count(b"\n") + 1, offset, data[offset], data[:2]) from None


def _first_bad_byte(path: Path, error: type[Exception]) -> Exception:
    """The error read_utf8 would raise, found line by line (memory stays one line); a UTF-8 line
    break is one byte that no multi-byte character contains, so each line decodes on its own."""
    offset = 0
    with path.open("rb") as handle:
        first = handle.read(2)
        handle.seek(0)
        for line_no, raw in enumerate(handle, start=1):
            body = raw[3:] if line_no == 1 and raw.startswith(BOM) else raw
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as err:
                at = offset + (len(raw) - len(body)) + err.start
                return _not_utf8(path, error, line_no, at, body[err.start], first)
            offset += len(raw)
    return error(f"{path}: not UTF-8. Save the file as UTF-8")


@contextmanager
def open_utf8(path: str | Path, error: type[Exception]) -> Iterator[TextIO]:
    """The file open as a UTF-8 text stream (newline="" for the csv module; a BOM is dropped),
    decoded as it is read; a byte that is not UTF-8 raises `error` naming its line and offset."""
    path = Path(path)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        try:
            yield handle
        except UnicodeDecodeError:
            raise _first_bad_byte(path, error) from None
