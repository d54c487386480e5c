"""`job.json`: what one sweep job records in its folder (overrides, status, attempts, host, pid).

Read by the job itself (medft.sweep.jobs) and by the sweep index that is rebuilt from the job folders.
"""

from __future__ import annotations

import json
from pathlib import Path

JOB_FILE = "job.json"


def read_job(run_dir: Path) -> dict | None:
    path = Path(run_dir) / JOB_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None  # written atomically, so this is a foreign file: treat as unknown
