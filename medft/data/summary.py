"""The data report: counts per split and label, token lengths with the model's tokenizer,
truncation at training.max_seq_len, duplicates, and what the checks and transforms did.

Printed by `python -m medft data stats`, saved by every run as data_stats.json.
"""

from __future__ import annotations

import random
import re
from collections import Counter

from medft.data.contamination import normalise
from medft.data.labels import label_key, label_of
from medft.data.mixture import mixture_stats
from medft.prompts.task_prompts import encode_for_task

LENGTH_SAMPLE = 5000  # records tokenized per split at most (seeded sample): the shape, not every count
PERCENTILES = (50, 90, 95, 99)


def _percentile(sorted_values: list[int], q: float) -> int:
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[index]


def token_lengths(records, tokenizer, system_prompt, max_seq_len: int, seed: int = 0, task_cfg=None) -> dict:
    """Prompt + answer tokens as training sees them (the task's instruction included), before truncation."""

    sample = records if len(records) <= LENGTH_SAMPLE else random.Random(seed).sample(records, LENGTH_SAMPLE)
    lengths = sorted(len(encode_for_task(tokenizer, r, system_prompt, 10**9, task_cfg).input_ids) for r in sample)
    over = sum(n > max_seq_len for n in lengths)
    return {
        "tokenized": len(sample),
        **{f"p{q}": _percentile(lengths, q) for q in PERCENTILES},
        "max": lengths[-1],
        "mean": round(sum(lengths) / len(lengths), 1),
        "over_max_seq_len": over,
        "over_max_seq_len_fraction": round(over / len(lengths), 4),
    }


def duplicates(splits: dict) -> dict:
    """Repeated normalised questions (with the same answer) inside each split, and shared with train."""
    keys = {
        name: [(" ".join(normalise(r.context + " " + r.question)), r.answer) for r in records]
        for name, records in splits.items()
    }
    within = {name: len(k) - len(set(k)) for name, k in keys.items()}
    train = set(keys.get("train", ()))
    shared = {name: sum(k in train for k in set(v)) for name, v in keys.items() if name != "train"}
    return {"within_split": within, "shared_with_train": shared}


RECORD_PLACE = re.compile(r"(:\d+|\[\d+\]| row \d+| line \d+)$")  # a loader's per-record locator


def _source(record) -> str | None:
    """The file (or hub split) a record came from, without the line or index some loaders append."""
    place = record.metadata.get("file") or record.metadata.get("source")
    return RECORD_PLACE.sub("", str(place)) if place else None


def sources(splits: dict) -> list[dict]:
    """Which file (or hub split) gave each split how many records: the role each source played.
    `carved_from` marks records held out of a file given for another role (dataset.validation_fraction...)."""
    rows = []
    for name, records in splits.items():
        counts = Counter((_source(r), r.metadata.get("role", name)) for r in records if _source(r))
        for (source, role), n in counts.items():
            rows.append({"path": source, "role": name, "records": n, **({"carved_from": role} if role != name else {})})
    return rows


def truncation(token_stats: dict, counts: dict, max_seq_len: int) -> dict:
    """Per split: records longer than training.max_seq_len (training cuts the start of their prompt,
    scoring the start of their context); counted on the tokenized sample of each split."""
    return {
        name: {
            "records": t["tokenized"],
            "truncated": t["over_max_seq_len"],
            "fraction": t["over_max_seq_len_fraction"],
            "sampled": t["tokenized"] < counts[name],
            "max_seq_len": max_seq_len,
        }
        for name, t in token_stats.items()
    }


def data_stats(cfg, splits: dict, tokenizer=None, checks: dict | None = None) -> dict:
    key = label_key(splits["train"], "auto")
    stats = {
        "dataset": cfg.dataset.name,
        "kind": cfg.dataset.kind,
        "path": cfg.dataset.get("path"),
        "counts": {name: len(records) for name, records in splits.items()},
        "label_by": key,
        "labels": {
            name: dict(Counter(label_of(r, key) for r in records).most_common()) for name, records in splits.items()
        },
        "multiple_choice": {name: sum(r.is_multiple_choice for r in records) for name, records in splits.items()},
        "duplicates": duplicates(splits),
        "max_seq_len": cfg.training.max_seq_len,
        "sources": sources(splits),
    }
    if cfg.dataset.kind == "mixture":  # the realised mix: what each component gave to each split
        stats["mixture"] = mixture_stats(cfg.dataset, splits)
    if tokenizer is not None:
        stats["tokenizer"] = cfg.model.name
        stats["token_lengths"] = {
            name: token_lengths(
                records, tokenizer, cfg.model.system_prompt, cfg.training.max_seq_len, cfg.dataset.split_seed, cfg.task
            )
            for name, records in splits.items()
            if records
        }
        stats["truncation"] = truncation(stats["token_lengths"], stats["counts"], cfg.training.max_seq_len)
    stats.update(checks or {})
    return stats


def _short(value, top: int = 8) -> str:
    """A count table in one line: its largest entries, then how many more."""
    if not isinstance(value, dict):
        return str(value)
    items = sorted(value.items(), key=lambda kv: -kv[1] if isinstance(kv[1], int) else 0)
    shown = ", ".join(f"{k}: {v}" for k, v in items[:top])
    return "{" + shown + (f", ... {len(items) - top} more" if len(items) > top else "") + "}"


def format_stats(stats: dict, max_labels: int = 12) -> str:
    """The report as text a person reads in a terminal."""
    lines = [
        f"dataset={stats['dataset']} (kind {stats['kind']}{', ' + str(stats['path']) if stats['path'] else ''})",
        "records: "
        + ", ".join(f"{k} {v}" for k, v in stats["counts"].items())
        + " (multiple choice: "
        + ", ".join(f"{k} {v}" for k, v in stats["multiple_choice"].items())
        + ")",
    ]
    for row in stats.get("sources") or []:
        carved = f", held out of its {row['carved_from']} file" if "carved_from" in row else ""
        lines.append(f"  {row['role']}: {row['records']} records from {row['path']}{carved}")
    lines.append(f"labels (by {stats['label_by']}):")
    for name, labels in stats["labels"].items():
        shown = ", ".join(f"{label} {n}" for label, n in list(labels.items())[:max_labels])
        more = len(labels) - max_labels
        lines.append(f"  {name}: {shown}" + (f", ... and {more} more" if more > 0 else ""))
    if "token_lengths" in stats:
        lines.append(
            f"tokens ({stats['tokenizer']} tokenizer, prompt + answer in the chat template; "
            f"truncation at training.max_seq_len={stats['max_seq_len']}):"
        )
        for name, t in stats["token_lengths"].items():
            lines.append(
                f"  {name}: p50 {t['p50']}, p90 {t['p90']}, p95 {t['p95']}, p99 {t['p99']}, max {t['max']}, "
                f"mean {t['mean']}; over the limit {t['over_max_seq_len']} of {t['tokenized']}"
                f" ({100 * t['over_max_seq_len_fraction']:.1f}%)"
            )
    if "truncation" in stats:
        lines.append(
            f"truncated at training.max_seq_len={stats['max_seq_len']}: "
            + ", ".join(
                f"{k} {t['truncated']} of {t['records']}{' sampled' if t['sampled'] else ''} ({100 * t['fraction']:.1f}%)"
                for k, t in stats["truncation"].items()
            )
        )
    dup = stats["duplicates"]
    lines.append("duplicate questions within a split: " + ", ".join(f"{k} {v}" for k, v in dup["within_split"].items()))
    lines.append(
        "held-out questions also in train (same answer): "
        + (", ".join(f"{k} {v}" for k, v in dup["shared_with_train"].items()) or "none")
    )
    if stats.get("phi") is not None:
        p = stats["phi"]
        kinds = ", ".join(f"{k} {v}" for k, v in p["by_kind"].items()) or "none"
        lines.append(
            f"PHI scan: {p['total']} spans in {p['records_with_phi']} records ({kinds}); "
            f"{'clinical notes' if p['notes'] else 'not notes: reported only'}"
        )
    if stats.get("contamination") is not None:
        c = stats["contamination"]
        lines.append(
            f"contamination: {c['contaminated_train_records']} of {c['train_records']} training records "
            f"({100 * c['fraction']:.2f}%) match evaluated questions; dropped {c['dropped']}"
        )
    for name, counts in (stats.get("transforms") or {}).items():
        lines.append(f"transform {name}: " + ", ".join(f"{k} {_short(v)}" for k, v in counts.items()))
    return "\n".join(lines)
