"""The training recipe, top to bottom: validate, data, model, evaluate, train, evaluate, write.

`run(cfg, run_dir)` is what `train.py` calls and what tests call directly. Every artifact is
written atomically; `metrics.json` is written last, so its presence means the run finished.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from medft import builders
from medft.config.validate import data_parallel_size, grad_accumulation, validate
from medft.distributed import is_main_process, rank, world_size
from medft.hardware.fit import check_plan
from medft.run.files import atomic_save_dir, atomic_write_json
from medft.run.folders import CHECKPOINTS, METRICS_FILE, resume_checkpoint
from medft.run.memory import peak_memory_mb, reset_peak_memory

log = logging.getLogger(__name__)

EVAL_BEFORE_FILE = "eval_before.json"  # kept so a resumed run does not score the base again


def evaluate_sets(model, tokenizer, sets, cfg, tag: str) -> tuple[dict, dict]:
    from medft.evaluation.multiple_choice import score_multiple_choice

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
    from medft.evaluation.stats import accuracy_with_ci

    norm = accuracy_with_ci([s.correct_norm for s in scored])
    return {**accuracy_with_ci([s.correct for s in scored]), "acc_norm": norm["acc"],
            "acc_norm_ci95": norm["acc_ci95"], "formulation": formulation}


def _add_components(name, records, scored, summary, per_question, formulation: str, tag: str) -> None:
    """A mixture's set scored once, reported per component too: `<set>:<component>` (dataset=mixture)."""
    from medft.data.mixture import by_component

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
    from medft.benchmarks.suite import evaluate_benchmarks

    if cfg.task.scorer == "multiple_choice":
        summary, per_question = evaluate_sets(model, tokenizer, sets, cfg, tag)
    else:  # diagnosis, clinical_note, ner: medft/evaluation/tasks.py
        from medft.evaluation.tasks import evaluate_task_sets

        summary, per_question = evaluate_task_sets(model, tokenizer, sets, cfg, tag)
    benchmarks, bench_correct = ({}, {}) if not cfg.benchmark.members else evaluate_benchmarks(
        model, tokenizer, cfg.benchmark, cfg.model.system_prompt, items_dir=run_dir / "benchmarks", tag=tag)
    return summary, benchmarks, {**per_question, **{f"benchmark:{k}": v for k, v in bench_correct.items()}}


def paired_results(before: dict, after: dict) -> dict:
    from medft.evaluation.stats import gain_difference, mcnemar_paired
    from medft.retention import test_vs_retention

    paired = {name: mcnemar_paired(before[name], after[name]) for name in after if name in before}
    if "test" in paired and "control" in paired:
        paired["test_vs_control"] = gain_difference(paired["test"], paired["control"])
    if (versus := test_vs_retention(paired)) is not None:
        paired["test_vs_retention"] = versus
    return paired


def tokenize_split(records, tokenizer, cfg):
    from datasets import Dataset

    from medft.prompts.tasks import encode_for_task

    encoded = [encode_for_task(tokenizer, r, cfg.model.system_prompt, cfg.training.max_seq_len, cfg.task)
               for r in records]
    truncated = sum(e.truncated for e in encoded)
    if truncated:
        log.warning("%d of %d training examples exceed training.max_seq_len=%d and were truncated "
                    "(prompt start dropped, answers kept)", truncated, len(encoded), cfg.training.max_seq_len)
    dataset = Dataset.from_dict({"input_ids": [e.input_ids for e in encoded],
                                 "completion_mask": [e.completion_mask for e in encoded]})
    return dataset, truncated


def _pair_scores(model, tokenizer, pairs, cfg):
    """Per held-out pair: the reward model's two scores (objective=reward), else the policy's two log-probs."""
    if builders.is_reward_model(cfg):
        from medft.objectives.reward import pair_rewards

        return pair_rewards(model, tokenizer, pairs, cfg)
    from medft.objectives.preference_eval import pair_logprobs

    return pair_logprobs(model, tokenizer, pairs, cfg)


def _preference_before(model, tokenizer, splits, cfg):
    """The held-out (test split) pairs of a pair objective and their scores before training."""
    from medft.objectives import PAIR_OBJECTIVES

    if cfg.objective.name not in PAIR_OBJECTIVES:
        return [], []
    from medft.objectives.preference_data import split_pairs

    pairs = split_pairs(splits.get("test", []), cfg)[: cfg.dataset.eval_limit or None]
    if not pairs:
        log.warning("No held-out preference pairs in the test split: reward margin and accuracy are not reported")
        return [], []
    return pairs, _pair_scores(model, tokenizer, pairs, cfg)


def _reward_model_after(model, tokenizer, pairs, before, cfg) -> dict:
    """metrics.json's `reward_model` block: held-out pairwise accuracy and mean margin before and after."""
    from medft.objectives.reward import summarize

    result = {"split": "test", "before": summarize(before), "after": summarize(_pair_scores(model, tokenizer, pairs, cfg))}
    for phase in ("before", "after"):
        log.info("reward model %s (%d held-out pairs): pairwise accuracy %.3f, mean margin %.4f", phase,
                 result[phase]["n"], result[phase]["pairwise_accuracy"], result[phase]["reward_margin"])
    return {"reward_model": result}


def _preference_after(model, tokenizer, pairs, before, cfg) -> dict:
    """metrics.json's `preference` block: held-out reward margin and accuracy before and after."""
    if not pairs:
        return {}
    if builders.is_reward_model(cfg):
        return _reward_model_after(model, tokenizer, pairs, before, cfg)
    from medft.objectives.preference_eval import summarize

    after = _pair_scores(model, tokenizer, pairs, cfg)
    result = {"split": "test", "before": summarize(before, before, cfg.objective.beta),
              "after": summarize(before, after, cfg.objective.beta)}
    for phase in ("before", "after"):
        log.info("preference %s (%d held-out pairs): reward margin %.4f, reward accuracy %.3f, logp accuracy %.3f",
                 phase, result[phase]["n"], result[phase]["reward_margin"], result[phase]["reward_accuracy"],
                 result[phase]["logp_accuracy"])
    return {"preference": result}


def _tensorboard_writer(cfg, run_dir: Path):
    if cfg.logger.name != "tensorboard":
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))


def wandb_environment(cfg, run_dir: Path, sweep_dir: Path | None) -> dict[str, str]:
    """The WANDB_* settings of this run: one group per sweep, one run per job, files in the run folder."""
    mode = cfg.logger.mode
    if mode == "auto":
        mode = "online" if os.environ.get("WANDB_API_KEY") else "offline"
    env = {"WANDB_MODE": os.environ.get("WANDB_MODE", mode),
           "WANDB_PROJECT": os.environ.get("WANDB_PROJECT", cfg.logger.project),
           "WANDB_DIR": str(run_dir), "WANDB_NAME": f"{cfg.name}/{run_dir.name}"}
    if sweep_dir is not None:
        env["WANDB_RUN_GROUP"] = f"{cfg.name}/{Path(sweep_dir).name}"
        env["WANDB_NAME"] = f"{cfg.name}/{Path(sweep_dir).name}/{run_dir.name}"
    return env


def _setup_wandb(cfg, run_dir: Path) -> None:
    if cfg.logger.name != "wandb":
        return
    # Set per run, not setdefault: the jobs of an in-process sweep share one environment.
    sweep_dir = run_dir.parent if (run_dir.parent / "sweep.json").is_file() else None
    os.environ.update(wandb_environment(cfg, run_dir, sweep_dir))
    if sweep_dir is None:
        os.environ.pop("WANDB_RUN_GROUP", None)


def _log_eval_scalars(cfg, writer, phases: dict, step: int) -> None:
    scalars = {f"{tag}/{name}_acc": result["acc"] for tag, summary in phases.items()
               for name, result in summary.items() if result.get("acc") is not None}
    if writer:
        for key, value in scalars.items():
            writer.add_scalar(key, value, step)
        writer.close()
    if cfg.logger.name == "wandb":
        import wandb

        if wandb.run is not None:
            wandb.log(scalars, step=step)
            wandb.run.summary.update(scalars)
            wandb.finish()


def prepare(cfg, run_dir: Path):
    """Everything before the model loads: checks, derived values, data, manifest."""
    from medft.benchmarks.suite import check_benchmark_config
    from medft.data.checks import prepare_data, save_data_stats
    from medft.data.load import evaluation_sets, load_splits
    from medft.evaluation.tasks import task_evaluation_sets
    from medft.retention import retention_sets

    validate(cfg, check_environment=not cfg.dry_run)  # a dry run plans for a GPU profile on any machine
    check_benchmark_config(cfg.benchmark)
    if cfg.hub.push and is_main_process():  # token, network, namespace: before anything is trained
        from medft.hub import preflight

        preflight(cfg)
    check_plan(cfg)  # refuses a run that cannot fit its profile, naming the fix; may pick the micro-batch
    accumulation = grad_accumulation(cfg)
    log.info("Effective batch %d = micro-batch %d x %d process(es) x accumulation %d (hardware=%s, %s, "
             "gradient checkpointing %s, attention %s)",
             cfg.training.batch_size, cfg.hardware.micro_batch_size, data_parallel_size(cfg), accumulation,
             cfg.hardware.name, cfg.hardware.precision, "on" if cfg.hardware.gradient_checkpointing else "off",
             builders.attention_kernel(cfg.hardware))
    splits = load_splits(cfg.dataset)
    splits, data_checks = prepare_data(cfg, splits, run_dir)  # PHI guard, contamination check, transforms
    save_data_stats(cfg, run_dir, splits, data_checks)
    # The task scorers read every record of a split; the multiple-choice one only options.
    pick = evaluation_sets if cfg.task.scorer == "multiple_choice" else task_evaluation_sets
    sets = {**pick(splits, cfg.dataset.eval_limit), **retention_sets(cfg.retention)}
    if builders.is_reward_model(cfg):  # a scorer has no LM head to answer with: its held-out pairs are scored instead
        sets, sets_after = {}, {}
    elif cfg.eval.validation:  # scored after training only: it is what a sweep selects on
        sets_after = {**sets, **pick(splits, cfg.dataset.eval_limit, ("validation",))}
    else:
        sets_after = sets
    log.info("Data %s: %s", cfg.dataset.name, {k: len(v) for k, v in splits.items()})
    _resolve_controls(cfg, splits)
    return splits, sets, sets_after


def _resolve_controls(cfg, splits) -> None:
    """Checks init_from and fixes `training.eval_metric=auto` once the validation split is known."""
    from omegaconf import open_dict

    from medft.objectives.controls import resolve_eval_metric
    from medft.objectives.init_from import check_init_from

    check_init_from(cfg)
    if cfg.training.eval_every_steps > 0:
        has_mc = not builders.is_reward_model(cfg) and any(r.is_multiple_choice for r in splits.get("validation", []))
        with open_dict(cfg):
            cfg.training.eval_metric = resolve_eval_metric(cfg.training, has_mc)
        log.info("Evaluating every %d steps on the validation split by %s", cfg.training.eval_every_steps,
                 cfg.training.eval_metric)


def train_with_fault_messages(trainer, cfg, checkpoint, preemption, checkpoint_root: Path):
    """`trainer.train()`, with SIGTERM turned into a checkpoint and an exit, and a full disk or an
    out-of-memory into a message that says what was kept and what to change."""
    import torch

    from medft.run.faults import out_of_memory_error, preempted
    from medft.run.files import DiskFullError, disk_full_error, is_disk_full

    try:
        with preemption.armed():
            output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    except (torch.OutOfMemoryError, MemoryError) as err:
        if cfg.hardware.device == "cuda":
            torch.cuda.empty_cache()
        raise out_of_memory_error(cfg, trainer.state.global_step, checkpoint_root, err) from None
    except (OSError, RuntimeError) as err:
        if isinstance(err, DiskFullError) and err.__cause__ is not None:  # the seal's own atomic write
            err = err.__cause__
        elif not is_disk_full(err, checkpoint_root):
            raise
        raise disk_full_error(err, checkpoint_root, discard_unsealed(checkpoint_root)) from None
    if preemption.requested:
        raise preempted(trainer.state.global_step, checkpoint_root)
    return output


def discard_unsealed(checkpoint_root: Path) -> str:
    """After a failed checkpoint save: remove the half-written folder; say which checkpoint is kept."""
    import shutil

    from medft.run.checkpoints import SEAL_FILE
    from medft.run.faults import last_sealed_checkpoint
    from medft.run.folders import checkpoints

    for folder in checkpoints(checkpoint_root.parent):
        if not (folder / SEAL_FILE).is_file():
            shutil.rmtree(folder, ignore_errors=True)
    last = last_sealed_checkpoint(checkpoint_root)
    return f"the last complete checkpoint, {last}, is intact" if last else "no complete checkpoint was saved yet"


def run(cfg, run_dir: str | Path, callbacks: list | None = None) -> dict:
    """Train and evaluate one configuration in `run_dir`; return the metrics written there.

    `callbacks` are extra transformers TrainerCallbacks (progress hooks, tests that interrupt).
    """
    run_dir = Path(run_dir)
    started = time.time()
    splits, sets, sets_after = prepare(cfg, run_dir)  # fails fast, before heavy imports
    if cfg.dry_run:
        log.info("dry_run=true: configuration is valid; nothing loaded or trained")
        return {}
    import torch
    from transformers import set_seed
    from transformers.integrations import TensorBoardCallback

    from medft.data.checks import save_data_stats
    from medft.models.resolve import resolve_model
    from medft.run.manifest import (
        MANIFEST_FILE,
        build_manifest,
        check_same_data,
        component_fingerprints,
        fingerprint_records,
    )

    if cfg.hardware.num_threads:
        torch.set_num_threads(cfg.hardware.num_threads)
    reset_peak_memory(cfg.hardware.device)
    fingerprint = fingerprint_records(splits)
    check_same_data(run_dir, fingerprint, cfg.dataset)  # a resumed run: refuses data changed since it started
    checkpoint = resume_checkpoint(run_dir, cfg.resume)
    if checkpoint:  # before this run's manifest is written: the old one says who made the folder
        from medft.run.trust import check_checkpoint_origin

        check_checkpoint_origin(checkpoint, bool(cfg.get("resume_allow_foreign_pickle", False)))

    main = is_main_process()  # distributed: every rank trains, only rank 0 evaluates and writes
    resolved = resolve_model(cfg.model, cfg.cache_dir, cfg.seed)
    if main:
        atomic_write_json(run_dir / MANIFEST_FILE, build_manifest(
            cfg, resolved, fingerprint, {k: len(v) for k, v in splits.items()}, world_size=world_size(),
            components=component_fingerprints(splits) if cfg.dataset.kind == "mixture" else None))
    tokenizer = builders.load_tokenizer(cfg.model, resolved)
    save_data_stats(cfg, run_dir, splits, tokenizer=tokenizer)  # adds token lengths to the data report
    model = builders.load_model(cfg, resolved)
    footprint_mb = model.get_memory_footprint() / 2**20  # weights as loaded: what quantization saves
    if cfg.get("init_from"):  # before eval_before: "before" is the model this run starts from (e.g. the SFT one)
        from medft.objectives.init_from import load_init_adapter

        model = load_init_adapter(model, cfg)

    before_file = run_dir / EVAL_BEFORE_FILE
    if not main:
        eval_before, bench_before, correct_before = {}, {}, {}
    elif cfg.eval.before and before_file.is_file():
        import json

        saved = json.loads(before_file.read_text())
        eval_before, bench_before, correct_before = saved["summary"], saved.get("benchmarks", {}), saved["per_question"]
    elif cfg.eval.before:
        eval_before, bench_before, correct_before = evaluate_all(model, tokenizer, sets, cfg, run_dir, "before")
        atomic_write_json(before_file, {"summary": eval_before, "benchmarks": bench_before,
                                        "per_question": correct_before})
    else:
        eval_before, bench_before, correct_before = {}, {}, {}

    # Seeded here, just before the adapter's random init: converting the base model (first run
    # only) and scoring it (skipped on a resume) draw random numbers, and must not change the init.
    set_seed(cfg.seed)
    if not cfg.get("init_from"):
        model = builders.wrap_for_training(model, cfg)
    # Scored on the wrapped model: the starting point, which DPO and KTO also take as the reference.
    held_out_pairs, pair_scores_before = _preference_before(model, tokenizer, splits, cfg) if main else ([], [])
    trainable, total = builders.count_parameters(model)
    log.info("Trainable parameters: %d of %d (%.3f%%) with peft_method=%s, objective=%s", trainable, total,
             100 * trainable / total, cfg.peft_method.method, cfg.objective.name)

    from medft.objectives import build_trainer
    from medft.objectives.controls import best_checkpoint_summary, control_callbacks
    from medft.run.checkpoints import CheckpointSeal
    from medft.run.faults import NonFiniteGuard, PreemptionCheckpoint

    _setup_wandb(cfg, run_dir)
    writer = _tensorboard_writer(cfg, run_dir) if main else None
    evaluating = cfg.training.eval_every_steps > 0
    validation = splits.get("validation", [])[: cfg.dataset.eval_limit or None] if evaluating else []
    controls = control_callbacks(cfg, tokenizer, [r for r in validation if r.is_multiple_choice])
    preemption = PreemptionCheckpoint()
    guards = [CheckpointSeal(cfg.training.save_total_limit), NonFiniteGuard(cfg), preemption]
    trainer, truncated = build_trainer(
        cfg, model, tokenizer, splits, validation, run_dir / CHECKPOINTS,
        callbacks=([TensorBoardCallback(tb_writer=writer)] if writer else []) + controls + guards
        + list(callbacks or []),
    )
    if checkpoint:
        log.info("Resuming from %s", checkpoint)
    train_start = time.time()
    output = train_with_fault_messages(trainer, cfg, checkpoint, preemption, run_dir / CHECKPOINTS)
    train_wall = time.time() - train_start
    state = trainer.state
    tokens = state.num_input_tokens_seen - getattr(trainer, "_initial_num_input_tokens_seen", 0)
    if not main:
        log.info("Rank %d of %d done; rank 0 evaluates and writes the run folder", rank(), world_size())
        return {}
    if "ref" in getattr(model, "peft_config", {}):  # TRL's frozen reference copy: not part of the result
        model.delete_adapter("ref")
    final_dir = "model" if cfg.peft_method.method in builders.FULL_WEIGHT_METHODS else "adapter"
    atomic_save_dir(run_dir / final_dir, lambda tmp: (model.save_pretrained(tmp), tokenizer.save_pretrained(tmp)))

    eval_after, bench_after, correct_after = (evaluate_all(model, tokenizer, sets_after, cfg, run_dir, "after")
                                              if cfg.eval.after else ({}, {}, {}))
    _log_eval_scalars(cfg, writer, {"eval_before": eval_before, "eval_after": eval_after,
                                    "benchmark_before": bench_before, "benchmark_after": bench_after},
                      state.global_step)

    metrics = {
        "eval_before": eval_before,
        "eval_after": eval_after,
        "benchmarks_before": bench_before,
        "benchmarks_after": bench_after,
        "paired": paired_results(correct_before, correct_after),
        **_preference_after(model, tokenizer, held_out_pairs, pair_scores_before, cfg),
        "train": {
            "steps": state.global_step,
            "tokens": int(tokens),
            "tokens_per_s": tokens / train_wall if train_wall > 0 else None,
            "train_loss": output.training_loss,
            "wall_s": train_wall,
            "peak_mem_mb": peak_memory_mb(cfg.hardware.device),
            "model_footprint_mb": footprint_mb,
            "trainable_params": trainable,
            "total_params": total,
            "truncated_examples": truncated,
            "resumed_from": str(checkpoint) if checkpoint else None,
            "world_size": world_size(),
            "objective": cfg.objective.name,
            "init_from": str(cfg.init_from) if cfg.get("init_from") else None,
            **best_checkpoint_summary(state, controls),
        },
        "run_wall_s": time.time() - started,
    }
    atomic_write_json(run_dir / METRICS_FILE, metrics)  # last: marks the run finished
    log.info("Finished: %s", run_dir / METRICS_FILE)
    if cfg.hub.push:
        from medft.hub import push_run

        push_run(cfg, run_dir, model, tokenizer, metrics)
    return metrics
