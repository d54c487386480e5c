"""The data side of a run before any model loads: PHI guard, contamination check, transforms.

`prepare_data(cfg, splits, run_dir)` is the one call recipe.prepare() makes; `python -m
medft.data check|stats` call the same functions. Order matters: the guard sees the text as it
came; contaminated training records are dropped before augmentation could copy them; the
transforms run last, on what will be trained.
"""

from __future__ import annotations

import logging
from pathlib import Path

from medft.benchmarks.registry import load_configured
from medft.config.errors import UserError
from medft.data.contamination import answer_text, overlap_report
from medft.data.phi_guard import guard
from medft.data.summary import data_stats
from medft.data.transforms import apply_transforms, check_transforms
from medft.runtime.distributed import is_main_process
from medft.runtime.files import atomic_write_json

log = logging.getLogger(__name__)

CONTAMINATION_FILE = "contamination.json"
OWN_EVAL_SPLITS = ("validation", "test", "control")


class ContaminationError(UserError, ValueError):
    """Training questions that are also evaluated, above dataset.contamination.max_fraction."""


def evaluated_sets(cfg, splits: dict) -> dict:
    """What the run scores: its own held-out splits and every benchmark of `benchmark=`."""

    sets = {name: splits[name] for name in OWN_EVAL_SPLITS if splits.get(name)}
    for member in cfg.benchmark.members:
        sets[f"benchmark:{member}"] = load_configured(member, cfg.benchmark).records
    return sets


def check_contamination(cfg, splits: dict, run_dir: Path | None = None) -> tuple[dict, dict]:
    """Compare; write the report to `run_dir` (rank 0); then fail, drop or warn by
    dataset.contamination.action. Returns (splits, report)."""

    options = cfg.dataset.contamination
    train = splits["train"]
    evaluated = evaluated_sets(cfg, splits)
    against, contaminated = overlap_report(train, evaluated, options.ngram, options.item_threshold)
    if cfg.task.answer_contamination:  # free-text targets: a copied summary is memory even under a new note
        by_answer, copied = overlap_report(train, evaluated, options.ngram, options.item_threshold, text=answer_text)
        against.update({f"{name}:answers": r for name, r in by_answer.items()})
        contaminated |= copied
    fraction = len(contaminated) / len(train) if train else 0.0
    report = {
        "ngram": options.ngram,
        "item_threshold": options.item_threshold,
        "max_fraction": options.max_fraction,
        "action": options.action,
        "train_records": len(train),
        "contaminated_train_records": len(contaminated),
        "fraction": fraction,
        "dropped": 0,
        "against": against,
    }
    if options.action in ("drop", "drop_own") and contaminated and fraction > options.max_fraction:
        report["dropped"] = len(contaminated)
    if run_dir is not None and is_main_process():  # written before a refusal, so the evidence is there
        atomic_write_json(Path(run_dir) / CONTAMINATION_FILE, report)
    found = ", ".join(
        f"{name}: {r['exact']} exact + {r['near']} near" for name, r in against.items() if r["contaminated"]
    )
    if not contaminated:
        log.info("Contamination check: no training question found in %s", ", ".join(against) or "no evaluated set")
        return splits, report
    message = (
        f"Contamination check: {len(contaminated)} of {len(train)} training records ({fraction:.1%}) match "
        f"evaluated questions ({found}; n-gram {options.ngram}, item threshold {options.item_threshold})"
    )
    benchmark_hits = sum(r["contaminated"] for name, r in against.items() if name.startswith("benchmark:"))
    if options.action == "drop_own" and benchmark_hits > options.max_fraction * len(train):
        # A pool's repeated questions may be dropped; training on a benchmark's own items may not.
        raise ContaminationError(
            f"{message}. dataset.contamination.action=drop_own drops repeats of the dataset's "
            "own held-out questions but refuses a benchmark's: score a benchmark file that "
            "holds none of the training records (e.g. only MedMCQA's held-out dev records)"
        )
    if fraction <= options.max_fraction or options.action == "warn":
        log.warning(
            "%s; kept (dataset.contamination.action=%s, max_fraction=%s)", message, options.action, options.max_fraction
        )
    elif options.action in ("drop", "drop_own"):
        splits = {**splits, "train": [r for i, r in enumerate(train) if i not in contaminated]}
        log.warning("%s; dropped from training (dataset.contamination.action=drop)", message)
    else:
        raise ContaminationError(
            f"{message}. Scores on those sets would measure memory, not skill: pass "
            "dataset.contamination.action=drop to train without them, or raise "
            "dataset.contamination.max_fraction / use dataset.contamination.action=warn to accept them"
        )
    return splits, report


def prepare_data(cfg, splits: dict, run_dir: Path | None = None) -> tuple[dict, dict]:
    """Guard, check, transform. Writes contamination.json into `run_dir` when given."""

    check_transforms(list(cfg.dataset.transforms))  # an unknown name fails before any scanning
    phi_report = guard(cfg, splits)
    contamination = None
    if cfg.dataset.contamination.enabled:
        splits, contamination = check_contamination(cfg, splits, run_dir)
    splits, transforms = apply_transforms(splits, cfg.dataset, cfg.seed)
    summary = None if contamination is None else {k: v for k, v in contamination.items() if k != "against"}
    return splits, {"phi": phi_report, "contamination": summary, "transforms": transforms}


DATA_STATS_FILE = "data_stats.json"
_CHECK_KEYS = ("phi", "contamination", "transforms")


def save_data_stats(cfg, run_dir: Path, splits: dict, checks: dict | None = None, tokenizer=None) -> dict:
    """Write data_stats.json (rank 0). Called in prepare() with the checks and again once the
    tokenizer is loaded, which adds token lengths and keeps the checks already written."""
    import json

    path = Path(run_dir) / DATA_STATS_FILE
    if checks is None and path.is_file():
        saved = json.loads(path.read_text())
        checks = {k: saved[k] for k in _CHECK_KEYS if k in saved}
    stats = data_stats(cfg, splits, tokenizer, checks)
    if is_main_process():
        atomic_write_json(path, stats)
    return stats
