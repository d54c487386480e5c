"""One process per run folder: an OS lock on `<run>/.medft.lock`, held while a process uses the folder.

The lock is `fcntl.flock` (via `filelock`), so the operating system drops it when the holder dies,
SIGKILL included: a stale lock cannot outlive its process. Who holds it (pid, host, since when) is
written next to it in `.medft.lock.json`, only to name the holder when a second process is refused.

`claim` holds the lock until the process exits (train.py takes it when Hydra picks the folder, before
Hydra writes anything there); `holding` holds it for a block (the recipe, so a run called from Python
or a test releases it on return). Both are reentrant within one process.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from medft.config.errors import UserError
from medft.runtime.files import atomic_write_json

LOCK_FILE = ".medft.lock"
OWNER_FILE = ".medft.lock.json"

_held: dict[str, object] = {}  # resolved folder -> its FileLock, shared by claim() and holding()


class RunFolderBusy(UserError):
    """Another process is using this run folder."""


def _key(run_dir: Path) -> str:
    return str(Path(run_dir).expanduser().resolve())


def holder(run_dir: Path) -> str:
    """'pid 123 on host h since <time>', from the owner file (or what is known without it)."""
    try:
        owner = json.loads((Path(run_dir) / OWNER_FILE).read_text(encoding="utf-8"))
        return f"pid {owner['pid']} on host {owner['host']} since {owner['since']}"
    except (OSError, ValueError, KeyError):
        return "another process (it has not recorded its pid yet)"


def busy_error(run_dir: Path, doing: str) -> RunFolderBusy:
    return RunFolderBusy(
        f"{run_dir} is in use by {holder(run_dir)}: {doing} would write into a run that is still running "
        "(two processes in one folder mix their checkpoints, logs and metrics). Wait for it to finish, stop it "
        "(SIGTERM saves a checkpoint; then resume=true continues), or start a separate run with resume=false"
    )


def _acquire(run_dir: Path, doing: str):
    from filelock import FileLock, Timeout

    key = _key(run_dir)
    lock = _held.get(key) or FileLock(str(Path(key) / LOCK_FILE))
    try:
        lock.acquire(blocking=False)
    except Timeout:
        raise busy_error(run_dir, doing) from None
    if lock.lock_counter == 1:  # first hold in this process: say who holds it
        _held[key] = lock
        atomic_write_json(
            Path(key) / OWNER_FILE,
            {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")},
        )
    return lock


def claim(run_dir: Path, doing: str = "this run") -> None:
    """Hold the run folder's lock until this process exits; RunFolderBusy if another process holds it."""
    first = _key(run_dir) not in _held
    _acquire(run_dir, doing)
    if first:  # a normal exit takes the owner file along; the OS releases the lock itself, whatever the exit
        atexit.register(lambda: (Path(_key(run_dir)) / OWNER_FILE).unlink(missing_ok=True))


@contextmanager
def holding(run_dir: Path, doing: str = "this run"):
    """Hold the run folder's lock for the block (reentrant with `claim`)."""
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    lock = _acquire(run_dir, doing)
    try:
        yield
    finally:
        if lock.lock_counter == 1:  # the last hold in this process: nobody to name any more
            (Path(_key(run_dir)) / OWNER_FILE).unlink(missing_ok=True)
            _held.pop(_key(run_dir), None)
        lock.release()


def in_use(run_dir: Path) -> bool:
    """True when another process holds the folder's lock (this process holding it is not 'in use')."""
    from filelock import FileLock, Timeout

    if not (Path(run_dir) / LOCK_FILE).exists() or _key(run_dir) in _held:
        return False
    probe = FileLock(str(Path(run_dir) / LOCK_FILE))
    try:
        probe.acquire(blocking=False)
    except Timeout:
        return True
    probe.release()
    return False
