"""Score one model on the benchmarks a `benchmark` config names: the code evaluate.py and
train.py (before and after training) share, so a number means the same from either.

Multiple-choice benchmarks are scored by log-likelihood (`medft.evaluation.harness_scoring` for the
harness's plain prompts, the training chat template's letter scoring for prompt_style=chat);
generative ones (MedQuAD) by greedy answers and text metrics (`medft.evaluation.generative`).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from medft import prompts
from medft.benchmarks.base import SPLITS, BenchmarkSourceError
from medft.benchmarks.registry import BENCHMARKS, load_configured
from medft.config.errors import UserError
from medft.data.fingerprint import fingerprint_records
from medft.data.records import LETTERS
from medft.evaluation.baselines import describe, label_summary
from medft.evaluation.choice_metrics import predictions, summarize
from medft.evaluation.generative import generate_answers, text_metrics
from medft.evaluation.harness_scoring import fewshot_examples, score_harness
from medft.evaluation.multiple_choice import score_multiple_choice
from medft.prompts import harness_strings as harness_prompts
from medft.runtime.files import atomic_write_text
from medft.runtime.paths import folder_name, inside

log = logging.getLogger(__name__)

PROMPT_STYLES = ("plain", "chat")


class BenchmarkConfigError(UserError, ValueError):
    """A benchmark config that cannot run; the message names the override to change."""


def check_benchmark_config(bench_cfg) -> None:
    """Fail before any model loads: unknown names, a path given to a suite, impossible styles."""

    unknown = [m for m in bench_cfg.members if m not in BENCHMARKS]
    if unknown:
        raise BenchmarkConfigError(f"benchmark.members: unknown {unknown}; choose from {sorted(BENCHMARKS)}")
    for key in ("prompt_style", "generative_prompt_style"):
        if bench_cfg[key] not in PROMPT_STYLES:
            raise BenchmarkConfigError(f"benchmark.{key}={bench_cfg[key]!r}: use one of {list(PROMPT_STYLES)}")
    if bench_cfg.split not in SPLITS:
        raise BenchmarkConfigError(f"benchmark.split={bench_cfg.split!r}: use one of {list(SPLITS)}")
    if bench_cfg.path and len(bench_cfg.members) > 1:
        raise BenchmarkConfigError(
            f"benchmark.path is one benchmark's file or folder, but benchmark={bench_cfg.name} has "
            f"{len(bench_cfg.members)}; give the suite a folder with one subfolder per benchmark: benchmark.data_dir=..."
        )
    if bench_cfg.shots < 0:
        raise BenchmarkConfigError(f"benchmark.shots={bench_cfg.shots} must be >= 0")
    if bench_cfg.get("chat_formulation", "letter") not in ("letter", "cloze"):
        raise BenchmarkConfigError(f"benchmark.chat_formulation={bench_cfg.chat_formulation!r}: use letter or cloze")
    if bench_cfg.shots and bench_cfg.prompt_style == "chat":
        raise BenchmarkConfigError(
            "benchmark.shots > 0 is defined for the harness's plain prompts; "
            "use benchmark.prompt_style=plain or benchmark.shots=0"
        )
    for key in ("limit", "generative_limit"):
        value = bench_cfg[key]
        if value is not None and value <= 0:
            raise BenchmarkConfigError(f"benchmark.{key}={value}: give a positive count or null for all items")
    for key in ("batch_size", "max_len", "max_new_tokens", "generation_batch_size"):
        if bench_cfg[key] <= 0:
            raise BenchmarkConfigError(f"benchmark.{key}={bench_cfg[key]} must be positive")


def _multiple_choice(model, tokenizer, data, records, bench_cfg, system_prompt, desc):
    if bench_cfg.prompt_style == "plain":
        if bench_cfg.shots and not data.fewshot_pool:
            data.notes.append(
                f"{data.name} has no few-shot split here: the {bench_cfg.shots} examples are "
                "drawn from the evaluated items, each item excluded from its own prompt"
            )
        # Without a few-shot split, examples come from every loaded item, not only the limited ones.
        shots = fewshot_examples(
            records, data.fewshot_pool or data.records, bench_cfg.shots, data.fewshot_sampler, bench_cfg.fewshot_seed
        )
        return score_harness(
            model,
            tokenizer,
            records,
            BENCHMARKS[data.name].harness,
            shots,
            bench_cfg.max_len,
            bench_cfg.batch_size,
            desc,
        )
    formulation = bench_cfg.get("chat_formulation", "letter")  # as the run trained (training.mc_format)
    scored = score_multiple_choice(
        model, tokenizer, records, system_prompt, bench_cfg.max_len, bench_cfg.batch_size, formulation, desc
    )
    texts = [
        [o.strip() for o in r.options] if formulation == "cloze" else list(LETTERS[: len(r.options)]) for r in records
    ]
    return [list(s.logprobs) for s in scored], texts


def _score_choices(model, tokenizer, data, records, bench_cfg, system_prompt, desc):
    scores, texts = _multiple_choice(model, tokenizer, data, records, bench_cfg, system_prompt, desc)
    gold = [r.answer_index for r in records]
    metrics = summarize(scores, gold, texts, [r.metadata.get("subject") for r in records])
    predicted, _, confidence = predictions(scores, texts)
    # Baselines and collapse by answer label (yes/no/maybe, or A-D); its macro-F1 replaces the
    # per-index one, equal whenever every item lists the same options in the same order.
    metrics.update(label_summary(gold, predicted, [r.options for r in records]))
    items = [
        {
            "id": r.metadata.get("id"),
            "gold": g,
            "predicted": p,
            "correct": p == g,
            "confidence": round(c, 6),
            "loglikelihoods": [round(x, 6) for x in lls],
        }
        for r, g, p, c, lls in zip(records, gold, predicted, confidence, scores)
    ]
    return metrics, items


def _score_generated(model, tokenizer, records, bench_cfg, system_prompt, desc):
    if bench_cfg.generative_prompt_style == "plain":
        texts = [harness_prompts.plain_qa_prompt(r) for r in records]
    else:
        texts = [prompts.render(tokenizer, r, system_prompt)[0] for r in records]
    answers = generate_answers(model, tokenizer, texts, bench_cfg.max_new_tokens, bench_cfg.generation_batch_size, desc)
    metrics = text_metrics(answers, [r.answer for r in records])
    items = [
        {"id": r.metadata.get("id"), "question": r.question, "reference": r.answer, "prediction": a}
        for r, a in zip(records, answers)
    ]
    return metrics, items


def _write_items(items_dir: Path | None, name: str, items: list[dict]) -> None:
    if items_dir is None:
        return

    # The file name comes from the benchmark's config name: one plain name, inside items_dir.
    path = inside(items_dir, items_dir / f"{folder_name('benchmark', name)}.jsonl", "benchmark items")
    atomic_write_text(path, "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items))


def load_sources(bench_cfg) -> tuple[dict, dict]:
    """({benchmark: its data}, {benchmark: why it is skipped}) for the configured members, read before
    any model loads (a 7B takes minutes to load; a missing file is found in a second).

    A suite skips, with a notice, any benchmark whose files are missing; a single benchmark raises
    instead, and so does a suite of which nothing is left: it would score nothing.
    """
    check_benchmark_config(bench_cfg)
    loaded, skipped = {}, {}
    for name in bench_cfg.members:
        try:
            loaded[name] = load_configured(name, bench_cfg)
        except BenchmarkSourceError as err:
            if len(bench_cfg.members) == 1:
                raise
            log.warning("Skipping benchmark %s: %s", name, err)
            skipped[name] = str(err)
    if bench_cfg.members and not loaded:
        folders = ", ".join(f"{BENCHMARKS[n].data_subdir}/" for n in bench_cfg.members)
        raise BenchmarkConfigError(
            f"benchmark={bench_cfg.name}: none of its {len(skipped)} benchmarks could be read, so nothing would be "
            f"scored ({'; '.join(skipped.values())}). Give benchmark.data_dir=<a folder holding {folders}>, or one "
            f"benchmark with its file: benchmark={bench_cfg.members[0]} benchmark.path=<its file or folder>"
        )
    return loaded, skipped


def evaluate_benchmarks(
    model,
    tokenizer,
    bench_cfg,
    system_prompt: str | None = None,
    items_dir: Path | None = None,
    tag: str = "eval",
    sources: tuple | None = None,
) -> tuple[dict, dict]:
    """Return ({benchmark: metrics}, {benchmark: per-item correctness}) for the configured members.

    `sources`: what `load_sources(bench_cfg)` returned, when the caller checked the files before
    loading the model (read here otherwise). Per-item predictions go to `items_dir`.
    """

    loaded, skipped = load_sources(bench_cfg) if sources is None else sources
    results, correct = {}, {}
    for name in bench_cfg.members:
        started = time.time()
        if name in skipped:
            results[name] = {"skipped": skipped[name]}
            continue
        data = loaded[name]
        spec = BENCHMARKS[name]
        generative = spec.task == "generative"
        limits = [x for x in (bench_cfg.limit, bench_cfg.generative_limit if generative else None) if x]
        records = data.records[: min(limits)] if limits else data.records
        if len(records) < len(data.records):
            data.notes.append(f"scored the first {len(records)} of {len(data.records)} items (limit)")
        desc = f"{tag}:{name}"
        if generative:
            metrics, items = _score_generated(model, tokenizer, records, bench_cfg, system_prompt, desc)
        else:
            metrics, items = _score_choices(model, tokenizer, data, records, bench_cfg, system_prompt, desc)
            correct[name] = [item["correct"] for item in items]
        wall = time.time() - started
        style = bench_cfg.generative_prompt_style if generative else bench_cfg.prompt_style
        results[name] = {
            "task": spec.task,
            "split": data.split,
            "source": data.source,
            "prompt_style": style,
            "shots": 0 if generative else bench_cfg.shots,
            "n_available": len(data.records),
            "data_fingerprint": fingerprint_records({name: records}),
            **metrics,
            "wall_s": round(wall, 2),
            "items_per_s": round(len(records) / wall, 3) if wall > 0 else None,
            "notes": list(data.notes),
        }
        _write_items(items_dir, f"{tag}_{name}" if tag != "eval" else name, items)
        headline = (
            (f"acc {metrics['acc']:.3f}" if not generative else f"ROUGE-L {metrics['rouge_l']:.3f}")
            if metrics.get("n")
            else "no items"
        )
        log.info("%s %s (%s, n=%d): %s in %.1f s", tag, name, data.split, metrics.get("n", 0), headline, wall)
        if not generative and metrics.get("n"):
            log.info("%s %s: %s", tag, name, describe(metrics))
        for note in data.notes:
            log.info("%s %s: %s", tag, name, note)
    return results, correct
