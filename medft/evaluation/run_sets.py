"""A training run's own scoring: its evaluation sets and configured benchmarks, before and after
training, with the scorers evaluate.py uses, and the paired before/after comparison (McNemar).
Each multiple-choice set also carries its majority-class and chance baselines, macro-F1 and the
collapse flag (`medft.evaluation.baselines`), so a gain that is only the label prior is visible."""

from __future__ import annotations

import logging
from pathlib import Path

from medft.data.mixture import by_component
from medft.evaluation.baselines import describe, label_summary
from medft.evaluation.benchmark_suite import evaluate_benchmarks
from medft.evaluation.items import write_set_items
from medft.evaluation.multiple_choice import score_multiple_choice
from medft.evaluation.significance import accuracy_with_ci, gain_difference, mcnemar_paired
from medft.evaluation.task_scorers import evaluate_task_sets
from medft.retention import test_vs_retention

log = logging.getLogger(__name__)

ITEMS_DIR = "items"  # <run>/items/<before|after>_<set>.jsonl: one line per scored question


def evaluate_sets(model, tokenizer, sets, cfg, tag: str, items_dir: Path | None = None) -> tuple[dict, dict]:
    """Accuracy of each set; with `items_dir`, each question's prediction too (medft/evaluation/items.py)."""
    summary, per_question = {}, {}
    for name, records in sets.items():
        scored = score_multiple_choice(
            model,
            tokenizer,
            records,
            cfg.model.system_prompt,
            cfg.training.max_seq_len,
            cfg.training.eval_batch_size,
            cfg.eval.formulation,
            desc=f"{tag}:{name}",
        )
        per_question[name] = [s.correct for s in scored]
        if items_dir is not None:
            write_set_items(items_dir, tag, name, records, scored)
        summary[name] = _accuracy_summary(scored, records, cfg.eval.formulation)
        log.info(
            "%s %s: acc %.3f (95%% CI %.3f-%.3f), acc_norm %.3f, n=%d",
            tag,
            name,
            summary[name]["acc"],
            *summary[name]["acc_ci95"],
            summary[name]["acc_norm"],
            summary[name]["n"],
        )
        log.info("%s %s: %s", tag, name, describe(summary[name]))
        _add_components(name, records, scored, summary, per_question, cfg.eval.formulation, tag)
    return summary, per_question


def _accuracy_summary(scored, records, formulation: str) -> dict:
    norm = accuracy_with_ci([s.correct_norm for s in scored])
    baselines = label_summary(
        [r.answer_index for r in records], [s.predicted for s in scored], [r.options for r in records]
    )
    return {
        **accuracy_with_ci([s.correct for s in scored]),
        "acc_norm": norm["acc"],
        "acc_norm_ci95": norm["acc_ci95"],
        "formulation": formulation,
        **baselines,
    }


def _add_components(name, records, scored, summary, per_question, formulation: str, tag: str) -> None:
    """A mixture's set scored once, reported per component too: `<set>:<component>` (dataset=mixture)."""

    groups = by_component(records)
    if len(groups) < 2:
        return
    for label, positions in groups.items():
        key = f"{name}:{label}"
        per_question[key] = [scored[i].correct for i in positions]
        summary[key] = _accuracy_summary([scored[i] for i in positions], [records[i] for i in positions], formulation)
        log.info("%s %s: acc %.3f, n=%d", tag, key, summary[key]["acc"], summary[key]["n"])


def evaluate_all(model, tokenizer, sets, cfg, run_dir: Path, tag: str) -> tuple[dict, dict, dict]:
    """The dataset's own sets and the configured benchmarks, with the same scorers evaluate.py uses."""

    if cfg.task.scorer == "multiple_choice":
        summary, per_question = evaluate_sets(model, tokenizer, sets, cfg, tag, items_dir=run_dir / ITEMS_DIR)
    else:  # diagnosis, clinical_note, ner: medft/evaluation/task_scorers.py
        summary, per_question = evaluate_task_sets(model, tokenizer, sets, cfg, tag)
    benchmarks, bench_correct = (
        ({}, {})
        if not cfg.benchmark.members
        else evaluate_benchmarks(
            model, tokenizer, cfg.benchmark, cfg.model.system_prompt, items_dir=run_dir / "benchmarks", tag=tag
        )
    )
    return summary, benchmarks, {**per_question, **{f"benchmark:{k}": v for k, v in bench_correct.items()}}


def paired_results(before: dict, after: dict, summaries_after: dict | None = None) -> dict:
    """McNemar before vs after per set; with `summaries_after` (keyed like `after`), each set's
    tuned model vs the majority-class predictor too: `paired.<set>.vs_majority`."""
    paired = {name: mcnemar_paired(before[name], after[name]) for name in after if name in before}
    if "test" in paired and "control" in paired:
        paired["test_vs_control"] = gain_difference(paired["test"], paired["control"])
    if (versus := test_vs_retention(paired)) is not None:
        paired["test_vs_retention"] = versus
    for name, summary in (summaries_after or {}).items():
        if isinstance(summary, dict) and "vs_majority" in summary:  # after the gains: a set may have no before score
            paired.setdefault(name, {})["vs_majority"] = summary["vs_majority"]
    return paired
