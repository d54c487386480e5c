"""The task scorers run on a run's evaluation sets, before and after training (medft.evaluation.run_sets.evaluate_all).

diagnosis      generated diagnosis vs the answer and its aliases after normalisation
               (lower case, no punctuation or articles; characters for Chinese): `exact_match`;
               records with options are also scored by option log-likelihood (cloze, as the
               spine does): `acc`. Per-record correctness goes to the paired test.
clinical_note  `perplexity` of the target tokens (the reference summary, or the whole note for
               plain-text notes) = exp(total NLL / target tokens); summarisation records are
               also generated and scored by ROUGE-L (`rouge_l`; Chinese on characters or jieba).
ner            generated `type: mention` lines parsed back to spans (medft.evaluation.ner):
               strict and partial precision / recall / F1, micro and per type; per-record
               "every entity exactly right" goes to the paired test.
Every prompt comes from medft.prompts.task_prompts, the functions training used.
"""

from __future__ import annotations

import logging
import math

from medft.evaluation.bootstrap import mean_ci
from medft.evaluation.generative import generate_answers
from medft.evaluation.multiple_choice import score_multiple_choice
from medft.evaluation.ner import parse_entities, score_entities
from medft.evaluation.significance import accuracy_with_ci
from medft.evaluation.zh_text import normalize, rouge_l
from medft.prompts.task_prompts import encode_for_task, generation_prompt, is_plain_text, with_instruction

log = logging.getLogger(__name__)

EXAMPLES_KEPT = 3  # generated outputs stored in the summary, so a reader sees what was scored


def task_evaluation_sets(splits: dict, limit: int | None, names=("test", "control")) -> dict:
    """Every record of the named splits (not only multiple-choice ones), capped at `limit`."""
    sets = {}
    for name in names:
        records = splits.get(name) or []
        if records:
            sets[name] = records[:limit] if limit else records
    return sets


def _generate(model, tokenizer, records, cfg, desc: str) -> list[str]:
    prompts = [generation_prompt(tokenizer, r, cfg.model.system_prompt, cfg.task) for r in records]
    return generate_answers(
        model, tokenizer, prompts, cfg.task.max_new_tokens, cfg.task.generation_batch_size, desc=desc
    )


def _first_line(text: str) -> str:
    return next((line for line in text.strip().splitlines() if line.strip()), "")


def score_diagnosis(model, tokenizer, records, cfg, desc: str) -> tuple[dict, dict]:
    generated = _generate(model, tokenizer, records, cfg, desc)
    matches = []
    for record, output in zip(records, generated):
        accepted = {normalize(a) for a in [record.answer, *record.metadata.get("aliases", [])]}
        matches.append(normalize(_first_line(output)) in accepted)
    em = accuracy_with_ci(matches)
    summary = {
        "n": len(records),
        "exact_match": em["acc"],
        "exact_match_ci95": em["acc_ci95"],
        "examples": [{"answer": r.answer, "generated": g} for r, g in list(zip(records, generated))[:EXAMPLES_KEPT]],
    }
    per_record = {"exact_match": matches}
    with_options = [with_instruction(r, cfg.task) for r in records if r.is_multiple_choice]
    if with_options:
        scored = score_multiple_choice(
            model,
            tokenizer,
            with_options,
            cfg.model.system_prompt,
            cfg.training.max_seq_len,
            cfg.training.eval_batch_size,
            cfg.eval.formulation,
            desc=f"{desc}:options",
        )
        acc = accuracy_with_ci([s.correct for s in scored])
        summary.update({"acc": acc["acc"], "acc_ci95": acc["acc_ci95"], "n_with_options": len(with_options)})
        per_record["options"] = [s.correct for s in scored]
    return summary, per_record


LOGIT_TOKENS = 8192  # tokens per perplexity batch: their fp32 logits (x vocabulary) are what fills memory


def _token_budget_batches(encoded, max_rows: int):
    """Length-sorted batches of at most `max_rows` rows and about LOGIT_TOKENS tokens (long notes go alone)."""
    batch = []
    for e in sorted(encoded, key=lambda e: len(e.input_ids)):
        if batch and (len(batch) >= max_rows or (len(batch) + 1) * len(e.input_ids) > LOGIT_TOKENS):
            yield batch
            batch = []
        batch.append(e)
    if batch:
        yield batch


def perplexity(model, tokenizer, records, cfg) -> dict:
    """exp(mean NLL) over every target token of the records, as training's loss counts them."""
    import torch

    encoded = [
        encode_for_task(tokenizer, r, cfg.model.system_prompt, cfg.training.max_seq_len, cfg.task) for r in records
    ]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    device = next(model.parameters()).device
    total_nll, total_tokens = 0.0, 0
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in _token_budget_batches(encoded, cfg.training.eval_batch_size):
                width = max(len(e.input_ids) for e in batch)
                ids = torch.full((len(batch), width), pad, dtype=torch.long)
                attention = torch.zeros((len(batch), width), dtype=torch.long)
                targets = torch.zeros((len(batch), width), dtype=torch.bool)
                for row, e in enumerate(batch):
                    ids[row, : len(e.input_ids)] = torch.tensor(e.input_ids)
                    attention[row, : len(e.input_ids)] = 1
                    targets[row, : len(e.input_ids)] = torch.tensor(e.completion_mask, dtype=torch.bool)
                logits = model(input_ids=ids.to(device), attention_mask=attention.to(device)).logits.float()
                nll = torch.nn.functional.cross_entropy(
                    logits[:, :-1].transpose(1, 2), ids[:, 1:].to(device), reduction="none"
                )
                scored = targets[:, 1:].to(device)  # a token is predicted from the ones before it
                total_nll += float(nll[scored].sum())
                total_tokens += int(scored.sum())
    finally:
        model.train(was_training)
    mean = total_nll / total_tokens if total_tokens else float("nan")
    return {"perplexity": math.exp(mean) if total_tokens else None, "mean_nll": mean, "target_tokens": total_tokens}


def score_clinical_note(model, tokenizer, records, cfg, desc: str) -> tuple[dict, dict]:
    summary = {"n": len(records), **perplexity(model, tokenizer, records, cfg)}
    summarise = [r for r in records if not is_plain_text(r)]
    if summarise:
        generated = _generate(model, tokenizer, summarise, cfg, desc)
        scores = rouge_l(generated, [r.answer for r in summarise], cfg.task.zh_tokenizer)
        summary.update(
            {
                "rouge_l": sum(scores) / len(scores),
                "rouge_l_ci95": mean_ci(scores),
                "n_summaries": len(summarise),
                "examples": [
                    {"answer": r.answer, "generated": g} for r, g in list(zip(summarise, generated))[:EXAMPLES_KEPT]
                ],
            }
        )
    return summary, {}


def score_ner(model, tokenizer, records, cfg, desc: str) -> tuple[dict, dict]:
    generated = _generate(model, tokenizer, records, cfg, desc)
    types = list(cfg.task.entity_types)
    parsed = [parse_entities(output, r.question, types) for r, output in zip(records, generated)]
    gold = [r.metadata["entities"] for r in records]
    scores = score_entities(gold, [p.entities for p in parsed], [len(p.unplaced) for p in parsed])
    exact = [
        sorted((e.start, e.end, e.type) for e in g) == sorted((e.start, e.end, e.type) for e in p.entities)
        and not p.unplaced
        for g, p in zip(gold, parsed)
    ]
    scores.update(
        {
            "n": len(records),
            "malformed_lines": sum(p.malformed for p in parsed),
            "all_entities_right": sum(exact) / len(exact) if exact else None,
            "examples": [
                {"answer": r.answer, "generated": g} for r, g in list(zip(records, generated))[:EXAMPLES_KEPT]
            ],
        }
    )
    return scores, {"all_entities_right": exact}


SCORERS = {"diagnosis": score_diagnosis, "clinical_note": score_clinical_note, "ner": score_ner}


def evaluate_task_sets(model, tokenizer, sets: dict, cfg, tag: str) -> tuple[dict, dict]:
    """(summary per set, per-record booleans for the paired test: `set` or `set:<what>`)."""
    scorer = SCORERS[cfg.task.scorer]
    summary, per_question = {}, {}
    for name, records in sets.items():
        summary[name], per_record = scorer(model, tokenizer, records, cfg, desc=f"{tag}:{name}")
        for key, values in per_record.items():
            per_question[f"{name}:{key}"] = values
        shown = {k: v for k, v in summary[name].items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        log.info("%s %s (task=%s): %s", tag, name, cfg.task.name, {k: round(v, 4) for k, v in shown.items()})
        if cfg.task.scorer == "ner":
            log.info(
                "%s %s: strict F1 %.3f, partial F1 %.3f",
                tag,
                name,
                summary[name]["strict"]["f1"],
                summary[name]["partial_match"]["f1"],
            )
    return summary, per_question
