"""Where medft may write: checks for the names and paths a user gives.

A run's folder is `<output_root>/<name>/<time>`; `name` comes from the command line, an
experiment or a model config, so `name=../../etc` would otherwise place the run (and every file
it writes) outside `output_root`. `folder_name` accepts one plain path component only;
`inside` checks that a path, with every link resolved, stays under the folder it belongs to;
`can_make_folder` that the folder can be made at all (no file in the way, writable), because
Hydra makes the run folder before any job code runs and fails with an OSError traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

from medft.config.errors import UserError

NAME_MAX_BYTES = 255  # one folder name on ext4, XFS, btrfs, APFS and NTFS (in UTF-8 bytes on Linux)


class UnsafePathError(UserError, ValueError):
    """A name or path would send output outside the folder the user chose."""


class OutputFolderError(UserError, OSError):
    """The run folder cannot be made where the config puts it."""


def folder_name(key: str, value) -> str:
    """`value` as one folder name: not empty, no `/` or `\\`, not `.` or `..`, no control characters."""
    text = str(value)
    if not text.strip() or text in (".", "..") or any(c in text for c in "/\\") or any(ord(c) < 32 for c in text):
        raise UnsafePathError(
            f"{key}={text!r}: must be one folder name (no '/', '\\\\', '..' or control characters), because the "
            f"run folder is <output_root>/<{key}>/<time>. Use e.g. {key}=rank_ablation, and "
            "output_root=<folder> to place runs elsewhere"
        )
    if len(text.encode("utf-8")) > NAME_MAX_BYTES:
        raise OutputFolderError(
            f"{key}: {len(text.encode('utf-8'))} bytes ({len(text)} characters) is longer than a folder name may be "
            f"({NAME_MAX_BYTES} bytes in UTF-8), and the run folder is <output_root>/<{key}>/<time>. Give a "
            f"shorter one, e.g. {key}=rank_ablation"
        )
    return text


def can_make_folder(path: str | Path, key: str) -> None:
    """`path` can be made as a folder: its nearest existing ancestor is a folder this user may write."""
    path = Path(path).expanduser()
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputFolderError(
            f"{key}: {existing} is a file, not a folder, so no run folder can be made at {path}. Give a folder, "
            f"e.g. {key}={existing.parent / 'outputs'}"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputFolderError(
            f"{key}: {existing} is not writable by this user, so no run folder can be made at {path}. Give a "
            f"folder you can write, e.g. {key}=outputs"
        )


def inside(base: str | Path, path: str | Path, key: str) -> Path:
    """`path` resolved (links followed); refused when that leaves `base` (also resolved)."""
    base_real, real = Path(base).expanduser().resolve(), Path(path).expanduser().resolve()
    if real != base_real and base_real not in real.parents:
        raise UnsafePathError(
            f"{key}: {path} resolves to {real}, outside {base_real} (through '..' or a symbolic link). "
            f"medft writes only inside {base_real} here; remove the link or give an explicit output path"
        )
    return real


def not_a_link(path: str | Path, key: str) -> Path:
    """An explicit output folder that is itself a symbolic link is refused: replacing its contents
    would write (and delete) wherever the link points."""
    path = Path(path).expanduser()
    if path.is_symlink():
        raise UnsafePathError(
            f"{key}={path}: is a symbolic link to {path.resolve()}; give the real folder "
            f"({key}={path.resolve()}) so it is clear where files are written and replaced"
        )
    return path.resolve()
