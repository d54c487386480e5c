"""Atomic file writes: write a temporary sibling, then rename into place.

A reader (a sweep, a report, a resumed run) sees either the old file or the whole new one,
never half of it; `metrics.json` appearing therefore means the run finished. A write that fails
(a full disk) removes its temporary and leaves the previous file as it was.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from medft.config.errors import UserError

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)  # no space left; disk quota exceeded (cluster home folders)
NEARLY_FULL_BYTES = 64 * 2**20  # less free than this: a failed write is taken to be for lack of space


class DiskFullError(UserError, OSError):
    """A save failed for lack of space; what was there before is intact."""


def disk_full_error(err: BaseException, target: Path, kept: str) -> DiskFullError:
    cause = os.strerror(err.errno) if isinstance(getattr(err, "errno", None), int) else str(err).splitlines()[0]
    return DiskFullError(
        f"No space left on the device while writing {target} ({cause}). "
        f"Nothing half-written was kept; {kept}. Free space (or point output_root= at a larger disk) "
        "and run again; add resume=true to continue from the last checkpoint."
    )


def is_disk_full(err: BaseException, folder: Path) -> bool:
    """ENOSPC/EDQUOT; an error that carries one only in its text (safetensors' SafetensorError: "I/O error:
    No space left on device (os error 28)"); or torch.save's RuntimeError (it reports a failed write
    without an errno) raised while the disk under `folder` is all but full."""
    if isinstance(err, OSError) and err.errno is not None:
        return err.errno in DISK_FULL
    text = str(err)
    if any(f"(os error {code})" in text or os.strerror(code) in text for code in DISK_FULL):
        return True
    if isinstance(err, RuntimeError):
        try:
            return shutil.disk_usage(folder).free < NEARLY_FULL_BYTES
        except OSError:
            return False
    return False


@contextmanager
def cleaned_on_failure(tmp: Path, target: Path):
    """Remove the temporary `tmp` if the block fails; a full disk becomes a DiskFullError on `target`."""
    try:
        yield
    except BaseException as err:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        if not isinstance(err, DiskFullError) and is_disk_full(err, target.parent):
            kept = f"the previous {target.name} is unchanged" if target.exists() else f"{target.name} was not created"
            raise disk_full_error(err, target, kept) from err
        raise


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_text(path: str | Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with cleaned_on_failure(tmp, path):
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    return path


def atomic_write_json(path: str | Path, obj) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def atomic_save_dir(final: str | Path, save) -> Path:
    """`save(tmp_dir)` writes a folder (an adapter); it replaces `final` only when complete."""
    final = Path(final)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    with cleaned_on_failure(tmp, final):
        save(tmp)
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def changed_file(folder: Path, recorded: dict, when: str) -> str | None:
    """The first file of `recorded` ({name: {"bytes", "sha256"}}) that is missing or differs from its record,
    said in words ("... when it was `when`"), or None when all match. Checkpoint seals, sealed adapters and the
    converted-model cache all check their files this way."""
    for name, expected in recorded.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != expected["bytes"]:
            return f"{name} has {path.stat().st_size} bytes, {expected['bytes']} when {when} (truncated?)"
        if sha256_file(path) != expected["sha256"]:
            return f"{name} does not match its sha256 from when it was {when} (corrupted)"
    return None
