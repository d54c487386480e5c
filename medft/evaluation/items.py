"""Each scored question of a run's own evaluation sets, one JSON line each, so the label-level
metrics (macro-F1, the predicted-label distribution, a majority-class baseline) can be computed
from the run folder afterwards, as benchmark scoring already allows (`<run>/benchmarks/*.jsonl`).

Only ids, labels and scores are written, never the question or context text (records may hold
patient text, and the data file has it anyway).
"""

from __future__ import annotations

import json
from pathlib import Path

from medft.runtime.files import atomic_write_text
from medft.runtime.paths import folder_name, inside


def item_rows(records, scored) -> list[dict]:
    return [
        {
            "id": r.metadata.get("id"),
            "gold": r.answer_index,
            "predicted": s.predicted,
            "correct": s.correct,
            "n_options": len(r.options),
            "logprobs": [round(x, 6) for x in s.logprobs],
        }
        for r, s in zip(records, scored)
    ]


def write_set_items(items_dir: Path, tag: str, set_name: str, records, scored) -> Path:
    """`<items_dir>/<tag>_<set>.jsonl` (a mixture's `test:pubmedqa` becomes `test-pubmedqa`)."""
    name = folder_name("evaluation set", f"{tag}_{set_name}".replace(":", "-"))
    path = inside(items_dir, items_dir / f"{name}.jsonl", "evaluation items")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in item_rows(records, scored)))
    return path


def read_items(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
