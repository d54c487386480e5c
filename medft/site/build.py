"""Write the results site: `python -m medft report <sweep or run folder>... --html OUT`.

OUT/index.html      the sweep page: the paper table (sortable, filters by swept key, the base model's
                    row), the plots, a link per run; for run folders given alone, one row per run
OUT/runs/<id>.html  a run: config diff, curves, scores, per-subject accuracy, data checks, memory, manifest
OUT/items/<id>.html the item browser of a run (its rows in OUT/data/items_<id>.js)
OUT/compare.html    two runs: config diff and the items where they disagree
OUT/assets/         plotly.min.js (from plotly's wheel, once per site), site.js, site.css

Data travels as `<script>` files, not fetched JSON: browsers refuse fetch() from file:// pages.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from medft.runtime.files import atomic_write_text
from medft.site.charts import curve_figures, single_points, sweep_figures
from medft.site.item_rows import OUTCOMES, counts
from medft.site.run_data import RunData, config_diff, read_run
from medft.site.sources import Source, gather
from medft.tables.aggregate import Row, Table, build_table, make_cell
from medft.tables.collect import JobRecord
from medft.tables.render import cell_text, footnotes, seeds_text, setting_text, to_csv

ASSETS = Path(__file__).parent / "assets"


def slug(index: int, name: str) -> str:
    return f"{index:03d}-{re.sub(r'[^A-Za-z0-9._-]+', '_', name)[:60]}"


def _env():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("medft.site", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,  # a misspelt field fails the build, not the reader
    )
    env.filters["pct"] = lambda v: "—" if v is None else f"{100 * v:.1f}"
    env.filters["num"] = lambda v: "—" if v is None else (f"{v:,.0f}" if abs(v) >= 100 else f"{v:.4g}")
    env.filters["ci"] = lambda ci: "" if not ci or None in ci else f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"
    env.filters["tojson_compact"] = lambda v: json.dumps(v, separators=(",", ":"))
    return env


def _base_key(job: JobRecord) -> str:
    """Which base model a job scored before training: its score-cache key (the weights, quantization, items
    and scorer; medft/run/score_cache.py), or one shared base for runs that predate the key."""
    return str(((job.metrics or {}).get("eval_before_source") or {}).get("key", ""))


def base_rows(table: Table, jobs: list[JobRecord]) -> list[tuple[str, Row]]:
    """One row per distinct base model (a quantization ablation has one per data type), labelled with the
    swept settings that tell them apart; a sweep over one base gets one row."""
    finished = [j for j in jobs if j.status == "finished"]
    groups: dict[str, list[JobRecord]] = {}
    for job in finished:
        groups.setdefault(_base_key(job), []).append(job)
    rows = []
    for group in groups.values():
        shared = {k: group[0].setting(k) for k in table.setting_keys if len({j.setting(k) for j in group}) == 1}
        telling = {k: v for k, v in shared.items() if len({j.setting(k) for j in finished}) > 1}
        label = ", ".join(f"{k}={v}" for k, v in telling.items()) if len(groups) > 1 else ""
        row = base_row(table, group)
        if row is not None:
            rows.append((label, row))
    return rows


def base_row(table: Table, jobs: list[JobRecord]) -> Row | None:
    """The base model before training, from the runs' `*_before` scores: the row every setting is read against."""
    finished = [j for j in jobs if j.status == "finished"]
    row = Row({k: "" for k in table.setting_keys}, finished)
    for column in table.columns:
        if column.path[0] in ("eval_after", "benchmarks_after"):
            before = dataclasses.replace(column, path=(column.path[0].replace("_after", "_before"), *column.path[1:]))
            before = dataclasses.replace(
                before, ci_path=None if column.ci_path is None else (before.path[0], *column.ci_path[1:])
            )
            cell = make_cell(finished, before)
            if cell:
                row.cells[column.key] = cell
    return row if row.cells else None


def table_rows(table: Table, runs_by_job: dict[str, RunData]) -> list[dict]:
    rows = []
    for row in table.rows:
        cells = []
        for column in table.columns:
            cell = row.cells.get(column.key)
            cells.append(
                {
                    "key": column.key,
                    "text": cell_text(cell, column, row),
                    "value": "" if cell is None else repr(cell.mean),
                    "best": column.key in row.best,
                }
            )
        runs = [runs_by_job[f"{j.sweep}/{j.name}"] for j in row.jobs if f"{j.sweep}/{j.name}" in runs_by_job]
        rows.append(
            {
                "settings": {k: setting_text(v) for k, v in row.settings.items()},
                "raw": row.settings,
                "seeds": seeds_text(row),
                "cells": cells,
                "runs": runs,
            }
        )
    return rows


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, text)


def _assets(out: Path) -> None:
    from plotly.offline import get_plotlyjs

    _write(out / "assets" / "plotly.min.js", get_plotlyjs())
    for name in ("site.js", "site.css"):
        _write(out / "assets" / name, (ASSETS / name).read_text(encoding="utf-8"))


def _baseline(runs: list[RunData], source: Source) -> tuple[dict[str, str], str]:
    """The first finished run of the plan is the sweep's baseline; a lone run is read against the defaults."""
    if len(runs) > 1:
        first = next((r for r in runs if r.status == "finished"), runs[0])
        return first.config, f"the sweep's first run ({first.name})"
    return source.defaults(), "the defaults (python train.py with no overrides)"


def build_site(paths: list[Path], out: Path, skipped: list[str] | None = None) -> dict[str, Path]:
    """Write the site for sweep and run folders; returns {"index": path, "compare": path, ...}."""
    source = gather(paths, skipped)
    table = build_table(source.swept, source.jobs)
    runs = [
        read_run(j.folder, j.name, slug(i, j.name), j.status, {k: j.setting(k) for k in table.setting_keys})
        for i, j in enumerate(source.jobs)
        if j.folder.is_dir()
    ]
    runs_by_job = {f"{j.sweep}/{j.name}": r for j, r in zip([j for j in source.jobs if j.folder.is_dir()], runs)}
    baseline, baseline_name = _baseline(runs, source)
    env = _env()
    _assets(out)
    bases = [
        {"label": label, **table_rows(Table(table.setting_keys, table.columns, [row], []), {})[0]}
        for label, row in base_rows(table, source.jobs)
    ]
    written = {
        "csv": _write(out / "table.csv", to_csv(table)),
        "index": _write(
            out / "index.html",
            env.get_template("sweep.html").render(
                title=source.title,
                root=".",
                table=table,
                rows=table_rows(table, runs_by_job),
                bases=bases,
                filters={k: sorted({r.settings[k] for r in table.rows}) for k in table.setting_keys},
                figures=sweep_figures(table),
                notes=footnotes(table),
                runs=runs,
            ),
        ),
    }
    run_template, items_template = env.get_template("run.html"), env.get_template("items.html")
    for run in runs:
        written[f"run:{run.slug}"] = _write(
            out / "runs" / f"{run.slug}.html",
            run_template.render(
                title=run.name,
                root="..",
                run=run,
                diff=config_diff(run.config, baseline),
                baseline_name=baseline_name,
                curves=curve_figures(run.curves),
                points=single_points(run.curves),
                counts=counts(run.items),
                baseline_slug=runs[0].slug if len(runs) > 1 else "",
            ),
        )
        _write(out / "data" / f"items_{run.slug}.js", _items_script(run))
        written[f"items:{run.slug}"] = _write(
            out / "items" / f"{run.slug}.html",
            items_template.render(
                title=f"Items: {run.name}", root="..", run=run, outcomes=OUTCOMES, counts=counts(run.items)
            ),
        )
    _write(out / "data" / "runs.js", _runs_script(runs))
    written["compare"] = _write(
        out / "compare.html", env.get_template("compare.html").render(title="Compare two runs", root=".", runs=runs)
    )
    return written


def _items_script(run: RunData) -> str:
    payload = json.dumps({"items": run.items, "notes": run.item_notes}, separators=(",", ":"), ensure_ascii=False)
    return f"window.MEDFT_ITEMS=window.MEDFT_ITEMS||{{}};window.MEDFT_ITEMS[{json.dumps(run.slug)}]={payload};\n"


def _runs_script(runs: list[RunData]) -> str:
    payload = {r.slug: {"name": r.name, "config": r.config, "status": r.status} for r in runs}
    return f"window.MEDFT_RUNS={json.dumps(payload, separators=(',', ':'), ensure_ascii=False)};\n"
