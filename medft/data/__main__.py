"""`python -m medft.data scrub|check|stats`: the data checks without training.

    python -m medft.data scrub IN_FILE --out OUT_FILE      # PHI -> typed placeholders, counts by kind
    python -m medft.data check dataset=... benchmark=...   # contamination report (exit 1 when found)
    python -m medft.data stats dataset=... [model=...]     # the data report a run saves as data_stats.json

check and stats take the same overrides as train.py (composed with medft.config.compose), so
they see exactly the data a run with those overrides would train on.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from pathlib import Path

from medft.errors import UserError
from medft.secrets import install_log_redaction

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
    from medft.data import phi
    from medft.run.files import atomic_write_text

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
    notes_with_phi = sum(any(s <= n < (starts[i + 1] if i + 1 < len(starts) else 10**12) for n in lines_with_phi)
                         for i, s in enumerate(starts))
    return {"in": str(source), "out": str(target), "notes": len(notes), "notes_with_phi": notes_with_phi,
            "replaced_by_kind": dict(sorted(kinds.items())), "replaced_total": sum(kinds.values()),
            "lines": {str(k): v for k, v in sorted(lines_with_phi.items())}}


def _compose(overrides: list[str]):
    from medft.config.compose import compose_train

    return compose_train(overrides)


def _load(cfg):
    from medft.benchmarks.suite import check_benchmark_config
    from medft.config.validate import validate
    from medft.data.load import load_splits

    validate(cfg, check_environment=False)
    check_benchmark_config(cfg.benchmark)
    return load_splits(cfg.dataset)


def check(overrides: list[str]) -> int:
    from medft.data.checks import check_contamination
    from medft.data.phi_guard import scan_splits

    cfg = _compose(overrides)
    splits = _load(cfg)
    with_warn = cfg.copy()
    with_warn.dataset.contamination.action = "warn"  # report everything here; a run applies the action
    _, report = check_contamination(with_warn, splits)
    phi_report = scan_splits(splits, cfg.dataset.get("path"))
    print(json.dumps({"contamination": report, "phi": {k: phi_report[k] for k in ("total", "by_kind",
                                                                               "records_with_phi")}}, indent=2))
    over = report["fraction"] > cfg.dataset.contamination.max_fraction
    print(f"contaminated training records: {report['contaminated_train_records']} of {report['train_records']} "
          f"({100 * report['fraction']:.2f}%; max_fraction {cfg.dataset.contamination.max_fraction})", file=sys.stderr)
    return 1 if over else 0


def stats(overrides: list[str]) -> int:
    from medft import builders
    from medft.data.checks import prepare_data
    from medft.data.stats import data_stats, format_stats
    from medft.models.resolve import resolve_model

    cfg = _compose(overrides)
    splits, checks = prepare_data(cfg, _load(cfg))
    tokenizer = builders.load_tokenizer(cfg.model, resolve_model(cfg.model, cfg.cache_dir, cfg.seed))
    print(format_stats(data_stats(cfg, splits, tokenizer, checks)))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="[medft][%(levelname)s] %(message)s")
    install_log_redaction()
    if not argv or argv[0] not in ("scrub", "check", "stats"):
        print(USAGE, file=sys.stderr)
        return 2
    try:
        if argv[0] == "scrub":
            parser = argparse.ArgumentParser(prog="python -m medft.data scrub")
            parser.add_argument("in_file")
            parser.add_argument("--out", required=True, help="where the scrubbed text goes (never the input)")
            parser.add_argument("--force", action="store_true", help="replace --out if it exists")
            args = parser.parse_args(argv[1:])
            result = scrub_file(args.in_file, args.out, args.force)
            print(json.dumps({k: v for k, v in result.items() if k != "lines"}, indent=2))
            return 0
        return check(argv[1:]) if argv[0] == "check" else stats(argv[1:])
    except UserError as err:
        print(f"[medft][ERROR] {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    from medft.entry import guarded_main

    raise SystemExit(guarded_main(main))  # secrets masked; an unexpected error: one line (MEDFT_DEBUG=1: the trace)
