"""Peak memory of the MIMIC notes loader: the whole file read into memory (before) vs streamed (now).

    python perf/bench_mimic_stream.py [--mb 300] [--notes 100] [--keep FILE]

Writes a NOTEEVENTS-style CSV of about --mb megabytes to a temporary folder (quoted notes of
~3 kB with commas, quotes and newlines, as MIMIC-III's), then reads its first --notes notes
twice, each in a fresh process, and prints each process's peak resident memory (ru_maxrss):

- `whole file`: the loader as it was before streaming (medft/data/mimic.py up to commit
  4c288d2): `read_utf8` decodes the file into one string, `io.StringIO` copies it, and
  csv.DictReader reads rows from that;
- `streamed`: `medft.data.mimic.read_notes` today, which reads rows from the open file and stops
  after the notes it needs.

The first line of each process is the same import of medft.data.mimic, so the difference is
the reading alone. The real NOTEEVENTS.csv is ~4 GB: the whole-file way would scale with it.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = [
    "ROW_ID",
    "SUBJECT_ID",
    "HADM_ID",
    "CHARTDATE",
    "CHARTTIME",
    "STORETIME",
    "CATEGORY",
    "DESCRIPTION",
    "CGID",
    "ISERROR",
    "TEXT",
]
WORDS = (
    "patient",
    "admitted",
    "with",
    "chest",
    "pain,",
    "denies",
    "fever.",
    "BP",
    "120/80",
    "[**2101-3-4**]",
    '"stable"',
    "cardiology",
    "consult",
    "echo",
    "EF",
    "55%",
    "discharged",
    "home",
    "on",
    "aspirin",
)

# Runs in a fresh interpreter: read the first N notes one way, print the peak RSS in MB as JSON.
WORKER = r"""
import csv, io, json, resource, sys
from pathlib import Path
from medft.data import mimic
from medft.data.jsonl import DataFormatError
from medft.data.utf8 import read_utf8
way, path, notes = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
if way == "whole":  # the pre-streaming loader's read path
    csv.field_size_limit(sys.maxsize)
    kept = []
    with io.StringIO(read_utf8(path, DataFormatError), newline="") as handle:
        for row in csv.DictReader(handle):
            kept.append(row["TEXT"].strip())
            if len(kept) >= notes:
                break
    count = len(kept)
else:
    count = len(mimic.read_notes(path, max_notes=notes))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"notes": count, "peak_mb": peak, "after_imports_mb": base}))
"""


def write_notes(path: Path, megabytes: float, seed: int = 0) -> int:
    rng = random.Random(seed)
    target, rows = megabytes * 1e6, 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_NONNUMERIC)
        writer.writerow(HEADER)
        while handle.tell() < target:
            paragraphs = ["\n".join(" ".join(rng.choices(WORDS, k=12)) for _ in range(5)) for _ in range(5)]
            writer.writerow(
                [
                    rows + 1,
                    1000 + rows % 4000,
                    100000 + rows,
                    "2101-03-04",
                    "",
                    "",
                    "Discharge summary",
                    "Report",
                    "",
                    "",
                    "\n\n".join(paragraphs),
                ]
            )
            rows += 1
    return rows


def measure(way: str, path: Path, notes: int) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", WORKER, way, str(path), str(notes)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    if result.returncode != 0:
        raise SystemExit(f"{way}: {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=300.0, help="size of the synthetic CSV in MB")
    parser.add_argument("--notes", type=int, default=100, help="notes read (dataset.max_samples)")
    parser.add_argument("--keep", type=Path, default=None, help="write the CSV here and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-mimic-") as tmp:
        path = args.keep or Path(tmp) / "NOTEEVENTS.csv"
        rows = write_notes(path, args.mb)
        print(f"{path.name}: {path.stat().st_size / 1e6:.0f} MB, {rows:,} notes; reading the first {args.notes}")
        results = {way: measure(way, path, args.notes) for way in ("whole", "stream")}
    print(f"{'way':<12} {'notes':>6} {'peak RSS (MB)':>14} {'after imports (MB)':>19}")
    for way, label in (("whole", "whole file"), ("stream", "streamed")):
        r = results[way]
        print(f"{label:<12} {r['notes']:>6} {r['peak_mb']:>14.0f} {r['after_imports_mb']:>19.0f}")
    ratio = results["whole"]["peak_mb"] / results["stream"]["peak_mb"]
    print(f"whole file / streamed peak: {ratio:.1f}x")


if __name__ == "__main__":
    main()
