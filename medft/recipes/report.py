"""`python -m medft report SWEEP_DIR... --out DIR [--html SITE]` (console script: `medft-report`).

Writes DIR/table.md, table.tex, table.csv, jobs.csv and plots/*.png; with --html, a static site
over the sweeps and runs (medft.site: sweep page, run pages, item browser, comparison). Safe to
run while the sweep is still going: unfinished jobs are counted, not hidden, and nothing is
written into the sweep folders.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from medft.runtime.files import atomic_write_text
from medft.site.build import build_site
from medft.tables.aggregate import build_table
from medft.tables.collect import collect
from medft.tables.plots import make_plots
from medft.tables.render import to_csv, to_latex, to_markdown


def jobs_csv(jobs) -> str:
    """One line per job: the raw material behind every cell, failures included."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["sweep", "job", "status", "folder", "error"])
    for job in jobs:
        error = job.error or {}
        writer.writerow(
            [
                job.sweep,
                job.name,
                job.status,
                job.folder,
                f"{error.get('type', '')}: {error.get('message', '')}" if error else "",
            ]
        )
    return out.getvalue()


def write_report(
    sweep_dirs: list[Path], out: Path, metric: str | None = None, caption: str = "", skipped: list[str] | None = None
) -> dict:
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


def write_site(folders: list[Path], out: Path, skipped: list[str] | None = None) -> dict[str, Path]:
    """The results site for sweep and run folders; its index.html opens from the folder or file://."""
    return build_site(folders, out, skipped)
