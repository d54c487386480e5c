"""Reading a user's text file as UTF-8, or failing with the file, line and byte offset and the fix.

Every loader reads through `read_utf8` so a Latin-1 or UTF-16 export is refused the same way
everywhere instead of surfacing as a bare UnicodeDecodeError from deep inside a loader.
"""

from __future__ import annotations

from pathlib import Path


def read_utf8(path: str | Path, error: type[Exception]) -> str:
    """The whole file as text (a UTF-8 BOM is dropped); `error` (a UserError) when it is not UTF-8."""
    path = Path(path)
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        offset = err.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)  # utf-8-sig counts after its BOM
        line = data[:offset].count(b"\n") + 1
        hint = " (it starts with a UTF-16 byte-order mark)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise error(f"{path}:{line}: not UTF-8{hint}: byte {data[offset]:#04x} at offset {offset}. Save the file as "
                    f"UTF-8, e.g. iconv -f latin1 -t utf-8 {path.name} > {path.stem}.utf8{path.suffix}") from None
