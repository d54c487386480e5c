"""Every question a run scored, base and tuned side by side, for the item browser.

A run keeps only ids, labels and scores per question (`<run>/items/<before|after>_<set>.jsonl`,
`<run>/benchmarks/<before|after>_<name>.jsonl`; medft.evaluation.items), never the question text.
The text comes back from the run's own data, loaded again from its saved config the way the run
loaded it, and matched by position (the run scored its sets in order). Clinical notes show no
record text unless the run scrubbed them (`dataset.transforms=[scrub_phi]`, the PHI guard's rule,
medft.data.phi_guard); where the data cannot be loaded here, items keep their labels and scores.
Generated answers (MedQuAD) carry their own question, reference and prediction and get ROUGE-L.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from medft.benchmarks.registry import load_configured
from medft.config.errors import UserError
from medft.data.load import evaluation_sets, load_splits
from medft.data.phi import scrub
from medft.data.phi_guard import holds_notes
from medft.data.records import LETTERS
from medft.data.transforms import apply_transforms

log = logging.getLogger(__name__)

OWN_DIR, BENCH_DIR = "items", "benchmarks"
TAGS = ("before", "after")
SUBJECT_KEYS = ("category", "subject", "qtype")  # the builtin set's category is its subject; MedMCQA's subject_name
OUTCOMES = ("fixed", "broken", "both right", "both wrong", "right", "wrong")


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def item_files(run_dir: Path) -> dict[tuple[str, str], dict[str, Path]]:
    """{(kind, set or benchmark): {"before": path, "after": path}}; kind is "own" or "benchmark"."""
    found: dict[tuple[str, str], dict[str, Path]] = {}
    for kind, sub in (("own", OWN_DIR), ("benchmark", BENCH_DIR)):
        for path in sorted((run_dir / sub).glob("*.jsonl")):
            tag, _, name = path.stem.partition("_")
            if tag not in TAGS:  # `medft evaluate` writes <name>.jsonl: one model, scored once
                tag, name = "after", path.stem
            found.setdefault((kind, name), {})[tag] = path
    return found


def outcome(before: bool | None, after: bool | None) -> str:
    if before is None:
        return "right" if after else "wrong"
    if after is None:
        return "right" if before else "wrong"
    return {(False, True): "fixed", (True, False): "broken", (True, True): "both right"}.get(
        (before, after), "both wrong"
    )


def may_show_text(cfg) -> tuple[bool, str]:
    """The PHI guard's rule: notes show no record text unless the run scrubbed them."""
    if cfg is None or not holds_notes(cfg):
        return True, ""
    if "scrub_phi" in (cfg.dataset.get("transforms") or []):
        return True, ""
    return False, "clinical notes not scrubbed by the run (dataset.transforms=[scrub_phi]): record text is not shown"


def own_records(cfg, names: list[str]) -> tuple[dict[str, list], str]:
    """The run's evaluated records per set name, as the run built them, or ({}, why not)."""
    if cfg is None or not names:
        return {}, "no saved config" if cfg is None else ""
    try:
        splits = load_splits(cfg.dataset)
        splits, _ = apply_transforms(splits, cfg.dataset, cfg.seed)
    except (UserError, OSError, ValueError, KeyError, AttributeError) as err:  # the data is on another machine
        return {}, f"question text unavailable here ({type(err).__name__}: the run's data could not be loaded)"
    return evaluation_sets(splits, cfg.dataset.eval_limit, tuple(names)), ""


def benchmark_records(cfg, names: list[str]) -> tuple[dict[str, list], str]:
    """The scored records of each benchmark (limited as the run limited them), or ({}, why not)."""
    out, why = {}, ""
    for name in names:
        try:
            records = load_configured(name, cfg.benchmark).records
        except (UserError, OSError, ValueError, KeyError, AttributeError) as err:
            why = f"{name}: question text unavailable here ({type(err).__name__}: its file could not be loaded)"
            continue
        limit = cfg.benchmark.get("limit")
        out[name] = records[:limit] if limit else records
    return out, why


def _choice_row(line: dict, record) -> dict:
    scores = line.get("logprobs") or line.get("loglikelihoods") or []
    row = {"pred": line.get("predicted"), "ok": bool(line.get("correct")), "scores": scores}
    if record is not None and record.options:
        row["pred_text"] = _option(record, row["pred"])
    return row


def _option(record, index) -> str:
    if isinstance(index, int) and 0 <= index < len(record.options):
        return f"{LETTERS[index]}. {record.options[index]}"
    return str(index)


def rouge_l(prediction: str, reference: str) -> float:
    from rouge_score import rouge_scorer  # the scorer medft.evaluation.generative uses

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True).score(reference, prediction)["rougeL"].fmeasure


def run_items(run_dir: Path, cfg, benchmark_splits: dict[str, str] | None = None) -> tuple[list[dict], list[str]]:
    """(one row per scored question, notes on what is left out). A row: set, benchmark, split,
    subject, question, options, gold, before/after predictions and scores, outcome."""
    files = item_files(run_dir)
    if cfg is not None and not all(k in cfg for k in ("dataset", "benchmark", "seed")):
        cfg = None  # a config saved by another tool or an older medft: scores only
    show, why_hidden = may_show_text(cfg)
    notes = [why_hidden] if why_hidden else []
    own_names = sorted({name for kind, name in files if kind == "own"})
    records, why = own_records(cfg, own_names) if show else ({}, "")
    bench_names = sorted({name for kind, name in files if kind == "benchmark"})
    bench, why_bench = benchmark_records(cfg, bench_names) if show and cfg is not None else ({}, "")
    notes += [w for w in (why, why_bench) if w]
    rows: list[dict] = []
    for (kind, name), tags in files.items():
        lines = {tag: _read_jsonl(path) for tag, path in tags.items()}
        n = max(len(v) for v in lines.values())
        set_records = records.get(name, []) if kind == "own" else bench.get(name, [])
        for i in range(n):
            before = lines.get("before", [])[i] if i < len(lines.get("before", [])) else None
            after = lines.get("after", [])[i] if i < len(lines.get("after", [])) else None
            record = set_records[i] if i < len(set_records) else None
            row = _row(kind, name, before, after, record, show, benchmark_splits or {})
            rows.append(_scrubbed(row) if show and cfg is not None and holds_notes(cfg) else row)
    return rows, notes


def _row(kind, name, before, after, record, show, benchmark_splits) -> dict:
    first = after or before
    row = {
        "set": name if kind == "own" else f"benchmark:{name}",
        "benchmark": "" if kind == "own" else name,
        "split": name if kind == "own" else benchmark_splits.get(name, ""),
        "id": first.get("id"),
        "subject": "",
        "question": "",
        "options": [],
    }
    if "reference" in first:  # a generated answer: its own text travels in the items file
        row["kind"] = "generated"
        row["question"] = first.get("question", "") if show else ""
        row["reference"] = first.get("reference", "") if show else ""
        for tag, line in (("before", before), ("after", after)):
            if line is not None:
                score = rouge_l(line.get("prediction", ""), line.get("reference", ""))
                row[tag] = {"text": line.get("prediction", "") if show else "", "rouge_l": round(score, 4)}
        row["outcome"] = ""
        return row
    row["kind"] = "choice"
    row["gold"] = first.get("gold")
    if record is not None and show:
        row["question"] = (record.context + "\n\n" if record.context else "") + record.question
        row["options"] = [f"{LETTERS[j]}. {o}" for j, o in enumerate(record.options)]
        row["subject"] = next((str(record.metadata[k]) for k in SUBJECT_KEYS if record.metadata.get(k)), "")
        row["answer"] = _option(record, row["gold"])
    for tag, line in (("before", before), ("after", after)):
        if line is not None:
            row[tag] = _choice_row(line, record if show else None)
    row["outcome"] = outcome(
        row["before"]["ok"] if "before" in row else None, row["after"]["ok"] if "after" in row else None
    )
    return row


def _scrubbed(row: dict) -> dict:
    """A scrubbed notes run: text that came from the items files, not through the run's transforms, is
    scrubbed here the same way (typed placeholders such as [DATE])."""
    for key in ("question", "reference"):
        row[key] = scrub(row[key]) if row.get(key) else row.get(key, "")
    for tag in ("before", "after"):
        if "text" in row.get(tag, {}):
            row[tag]["text"] = scrub(row[tag]["text"])
    return row


def counts(rows: list[dict]) -> dict[str, int]:
    """Items per outcome, as the browser's header shows them."""
    out = dict.fromkeys(OUTCOMES, 0)
    for row in rows:
        if row["outcome"]:
            out[row["outcome"]] += 1
    return out
