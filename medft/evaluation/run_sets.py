"""A training run's own scoring: its evaluation sets and configured benchmarks, before and after
training, with the scorers evaluate.py uses, and the paired before/after comparison (McNemar)."""

from __future__ import annotations

import logging
from pathlib import Path

from medft.data.mixture import by_component
from medft.evaluation.benchmark_suite import evaluate_benchmarks
from medft.evaluation.multiple_choice import score_multiple_choice
from medft.evaluation.significance import accuracy_with_ci, gain_difference, mcnemar_paired
from medft.evaluation.task_scorers import evaluate_task_sets
from medft.retention import test_vs_retention

log = logging.getLogger(__name__)


def evaluate_sets(model, tokenizer, sets, cfg, tag: str) -> tuple[dict, dict]:
    summary, per_question = {}, {}
    for name, records in sets.items():
        scored = score_multiple_choice(model, tokenizer, records, cfg.model.system_prompt,
                                       cfg.training.max_seq_len, cfg.training.eval_batch_size,
                                       cfg.eval.formulation, desc=f"{tag}:{name}")
        per_question[name] = [s.correct for s in scored]
        summary[name] = _accuracy_summary(scored, cfg.eval.formulation)
        log.info("%s %s: acc %.3f (95%% CI %.3f-%.3f), acc_norm %.3f, n=%d", tag, name, summary[name]["acc"],
                 *summary[name]["acc_ci95"], summary[name]["acc_norm"], summary[name]["n"])
        _add_components(name, records, scored, summary, per_question, cfg.eval.formulation, tag)
    return summary, per_question


def _accuracy_summary(scored, formulation: str) -> dict:
    norm = accuracy_with_ci([s.correct_norm for s in scored])
    return {**accuracy_with_ci([s.correct for s in scored]), "acc_norm": norm["acc"],
            "acc_norm_ci95": norm["acc_ci95"], "formulation": formulation}


def _add_components(name, records, scored, summary, per_question, formulation: str, tag: str) -> None:
    """A mixture's set scored once, reported per component too: `<set>:<component>` (dataset=mixture)."""

    groups = by_component(records)
    if len(groups) < 2:
        return
    for label, positions in groups.items():
        key = f"{name}:{label}"
        per_question[key] = [scored[i].correct for i in positions]
        summary[key] = _accuracy_summary([scored[i] for i in positions], formulation)
        log.info("%s %s: acc %.3f, n=%d", tag, key, summary[key]["acc"], summary[key]["n"])


def evaluate_all(model, tokenizer, sets, cfg, run_dir: Path, tag: str) -> tuple[dict, dict, dict]:
    """The dataset's own sets and the configured benchmarks, with the same scorers evaluate.py uses."""

    if cfg.task.scorer == "multiple_choice":
        summary, per_question = evaluate_sets(model, tokenizer, sets, cfg, tag)
    else:  # diagnosis, clinical_note, ner: medft/evaluation/task_scorers.py

        summary, per_question = evaluate_task_sets(model, tokenizer, sets, cfg, tag)
    benchmarks, bench_correct = ({}, {}) if not cfg.benchmark.members else evaluate_benchmarks(
        model, tokenizer, cfg.benchmark, cfg.model.system_prompt, items_dir=run_dir / "benchmarks", tag=tag)
    return summary, benchmarks, {**per_question, **{f"benchmark:{k}": v for k, v in bench_correct.items()}}


def paired_results(before: dict, after: dict) -> dict:
    paired = {name: mcnemar_paired(before[name], after[name]) for name in after if name in before}
    if "test" in paired and "control" in paired:
        paired["test_vs_control"] = gain_difference(paired["test"], paired["control"])
    if (versus := test_vs_retention(paired)) is not None:
        paired["test_vs_retention"] = versus
    return paired
