"""`python -m medft.report SWEEP_DIR... --out DIR` (console script: `medft-report`).

Writes DIR/table.md, table.tex, table.csv, jobs.csv and plots/*.png. Safe to run while the
sweep is still going: unfinished jobs are counted, not hidden, and nothing is written into
the sweep folders.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

from medft.report.collect import ReportInputError, collect
from medft.report.plots import make_plots
from medft.report.render import to_csv, to_latex, to_markdown
from medft.report.table import build_table
from medft.run.files import atomic_write_text


def jobs_csv(jobs) -> str:
    """One line per job: the raw material behind every cell, failures included."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["sweep", "job", "status", "folder", "error"])
    for job in jobs:
        error = job.error or {}
        writer.writerow([job.sweep, job.name, job.status, job.folder,
                         f"{error.get('type', '')}: {error.get('message', '')}" if error else ""])
    return out.getvalue()


def write_report(sweep_dirs: list[Path], out: Path, metric: str | None = None, caption: str = "",
                 skipped: list[str] | None = None) -> dict:
    """Write the four outputs; files that could not be read are appended to `skipped`."""
    swept, jobs = collect(sweep_dirs, skipped)
    table = build_table(swept, jobs)
    out.mkdir(parents=True, exist_ok=True)
    written = {
        "markdown": atomic_write_text(out / "table.md", to_markdown(table)),
        "latex": atomic_write_text(out / "table.tex", to_latex(table, caption)),
        "csv": atomic_write_text(out / "table.csv", to_csv(table)),
        "jobs": atomic_write_text(out / "jobs.csv", jobs_csv(jobs)),
    }
    written["plots"] = make_plots(table, out / "plots", metric)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="medft-report", description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dirs", nargs="+", type=Path, help="sweep folders (outputs/<name>/multirun/<sweep>)")
    parser.add_argument("--out", type=Path, required=True, help="folder for table.md/.tex/.csv and plots/")
    parser.add_argument("--metric", default=None, help="accuracy column plotted, e.g. test_acc (default: the first)")
    parser.add_argument("--caption", default="", help="LaTeX caption text")
    args = parser.parse_args(argv)
    skipped: list[str] = []
    try:
        written = write_report(args.sweep_dirs, args.out, args.metric, args.caption, skipped)
    except ReportInputError as err:
        print(f"medft-report: {err}", file=sys.stderr)
        return 2
    for problem in skipped:  # the table is made from the rest
        print(f"medft-report: skipped {problem}", file=sys.stderr)
    print((args.out / "table.md").read_text(encoding="utf-8"))
    for kind, path in written.items():
        for p in path if isinstance(path, list) else [path]:
            print(f"{kind}: {p}")
    return 0


if __name__ == "__main__":
    from medft.entry import guarded_main

    raise SystemExit(guarded_main(main))  # secrets masked; an unexpected error: one line (MEDFT_DEBUG=1: the trace)
