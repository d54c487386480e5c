"""`python -m medft data scrub|check|stats`: the data checks without training.

    python -m medft data scrub IN_FILE --out OUT_FILE      # PHI -> typed placeholders, counts by kind
    python -m medft data check dataset=... benchmark=...   # contamination report (exit 1 when found)
    python -m medft data stats dataset=... [model=...]     # the data report a run saves as data_stats.json

check and stats take the same overrides as train.py (composed with medft.config.compose), so
they see exactly the data a run with those overrides would train on.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from medft import builders
from medft.config.compose import compose_train
from medft.config.errors import UserError
from medft.config.validate import validate
from medft.data import phi
from medft.data.load import load_splits
from medft.data.phi_guard import scan_splits
from medft.data.prepare import check_contamination, prepare_data
from medft.data.summary import data_stats, format_stats
from medft.evaluation.benchmark_suite import check_benchmark_config
from medft.models.resolve import resolve_model
from medft.runtime.files import atomic_write_text

USAGE = __doc__.split("\n\n")[1]


def split_notes(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each note: blank-line separated blocks, or every line when no
    blank line separates anything. Scrubbing works line by line either way; this only counts."""
    lines = text.splitlines()
    blocks, start, current = [], None, []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            start = number if start is None else start
            current.append(line)
        elif current:
            blocks.append((start, "\n".join(current)))
            start, current = None, []
    if current:
        blocks.append((start, "\n".join(current)))
    if len(blocks) == 1:  # no blank line anywhere between notes: one note per line
        return [(n, line) for n, line in enumerate(lines, start=1) if line.strip()]
    return blocks


def scrub_file(in_file: str, out_file: str, force: bool = False) -> dict:
    """Scrub IN_FILE line by line into OUT_FILE (layout kept); never writes anywhere else."""

    source, target = Path(in_file), Path(out_file)
    if not source.is_file():
        raise UserError(f"scrub: no such file {source}")
    if target.resolve() == source.resolve():
        raise UserError(f"scrub: --out {target} is the input file; give another path (the input is never overwritten)")
    if target.exists() and not force:
        raise UserError(f"scrub: {target} exists; pass --force to replace it, or choose another --out")
    text = source.read_text(encoding="utf-8")
    kinds: Counter = Counter()
    lines_with_phi: dict[int, dict] = {}
    out_lines = []
    for number, line in enumerate(text.split("\n"), start=1):
        spans = phi.scan(line)
        if spans:
            found = phi.count_kinds(spans)
            kinds.update(found)
            lines_with_phi[number] = found
        out_lines.append(phi.scrub(line, spans))
    atomic_write_text(target, "\n".join(out_lines))
    notes = split_notes(text)
    starts = [start for start, _ in notes]
    notes_with_phi = sum(
        any(s <= n < (starts[i + 1] if i + 1 < len(starts) else 10**12) for n in lines_with_phi)
        for i, s in enumerate(starts)
    )
    return {
        "in": str(source),
        "out": str(target),
        "notes": len(notes),
        "notes_with_phi": notes_with_phi,
        "replaced_by_kind": dict(sorted(kinds.items())),
        "replaced_total": sum(kinds.values()),
        "lines": {str(k): v for k, v in sorted(lines_with_phi.items())},
    }


def _compose(overrides: list[str]):
    return compose_train(overrides)


def _load(cfg):
    validate(cfg, dry_run=True)  # a data report loads no model: the machine is not checked
    check_benchmark_config(cfg.benchmark)
    return load_splits(cfg.dataset)


def check(overrides: list[str]) -> int:
    cfg = _compose(overrides)
    splits = _load(cfg)
    with_warn = cfg.copy()
    with_warn.dataset.contamination.action = "warn"  # report everything here; a run applies the action
    _, report = check_contamination(with_warn, splits)
    phi_report = scan_splits(splits, cfg.dataset.get("path"))
    print(
        json.dumps(
            {"contamination": report, "phi": {k: phi_report[k] for k in ("total", "by_kind", "records_with_phi")}},
            indent=2,
        )
    )
    over = report["fraction"] > cfg.dataset.contamination.max_fraction
    print(
        f"contaminated training records: {report['contaminated_train_records']} of {report['train_records']} "
        f"({100 * report['fraction']:.2f}%; max_fraction {cfg.dataset.contamination.max_fraction})",
        file=sys.stderr,
    )
    return 1 if over else 0


def stats(overrides: list[str]) -> int:
    cfg = _compose(overrides)
    splits, checks = prepare_data(cfg, _load(cfg))
    tokenizer = builders.load_tokenizer(cfg.model, resolve_model(cfg.model, cfg.cache_dir, cfg.seed))
    print(format_stats(data_stats(cfg, splits, tokenizer, checks)))
    return 0
