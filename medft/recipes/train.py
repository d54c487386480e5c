"""The training recipe, top to bottom: validate, data, model, evaluate, train, evaluate, write.

`run(cfg, run_dir)` is what `train.py` calls and what tests call directly. It holds the folder's
lock (medft/run/lock.py) throughout; `started.json` marks the folder as a run once the checks passed;
a resume is checked against it before anything is written (medft/run/resume.py). Every artifact is
written atomically; `metrics.json` is written last, so its presence means the run finished.
"""

from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from pathlib import Path

from medft import builders
from medft.config.choices import FULL_WEIGHT_METHODS
from medft.config.derived import (
    data_parallel_size,
    describe_max_seq_len,
    describe_training_length,
    grad_accumulation,
    is_reward_model,
)
from medft.config.engines import rank_mmap_threshold_mb
from medft.config.validate import validate
from medft.data.load import evaluation_sets, load_splits
from medft.data.prepare import prepare_data, save_data_stats
from medft.evaluation.baselines import describe_sets
from medft.evaluation.benchmark_suite import check_benchmark_config, load_sources
from medft.evaluation.run_sets import evaluate_all, paired_results
from medft.evaluation.task_scorers import task_evaluation_sets
from medft.hardware.environment import check_environment
from medft.hardware.fit import check_plan
from medft.hub import preflight, push_run
from medft.models.resolve import resolve_model
from medft.objectives import build_trainer
from medft.objectives.controls import best_checkpoint_summary, control_callbacks, resolve_eval_metric
from medft.objectives.init_from import check_init_from, load_init_adapter
from medft.objectives.preference_report import preference_after, preference_before
from medft.objectives.truncation import check_truncation
from medft.retention import retention_sets
from medft.run.checkpoints import CheckpointSeal, seal
from medft.run.faults import NonFiniteGuard, PreemptionCheckpoint, train_with_fault_messages
from medft.run.folders import CHECKPOINTS, METRICS_FILE, has_started, resume_checkpoint, resuming_flag
from medft.run.lock import holding
from medft.run.loggers import (
    continue_token_count,
    log_eval_scalars,
    setup_wandb,
    tensorboard_callback,
    tensorboard_writer,
)
from medft.run.manifest import (
    MANIFEST_FILE,
    build_manifest,
    check_same_data,
    component_fingerprints,
    fingerprint_records,
)
from medft.run.memory import peak_memory_mb, reset_peak_memory
from medft.run.resume import (
    check_resume_config,
    check_resume_start,
    config_snapshot,
    eval_before_settings,
    read_manifest,
    record_resume,
    write_started,
)
from medft.run.run_summary import run_summary
from medft.run.score_cache import cached_scores, key_parts
from medft.run.sharded import check_engine, whole_model
from medft.run.steps import LossLedger, checkpoint_step
from medft.run.system_monitor import system_monitor
from medft.run.train_log import TrainingLogLines, route_trainer_output
from medft.run.trust import check_checkpoint_origin
from medft.runtime.distributed import is_main_process, rank, world_size
from medft.runtime.files import atomic_save_dir, atomic_write_json
from medft.runtime.heap import set_mmap_threshold
from medft.runtime.notices import silence_unactionable_notices
from medft.runtime.progress import bars_on, quiet_library_bars, set_progress

log = logging.getLogger(__name__)

EVAL_BEFORE_FILE = "eval_before.json"  # kept so a resumed run does not score the base again


def prepare(cfg, run_dir: Path, record: bool = True):
    """Everything before the model loads: checks, derived values, data. `record=False` (a resume):
    the data reports the run wrote when it started stay as they are."""

    validate(cfg, dry_run=cfg.dry_run)
    if not cfg.dry_run:  # a dry run plans for a GPU profile on any machine
        check_environment(cfg)
    check_benchmark_config(cfg.benchmark)
    if cfg.benchmark.members:  # its files read now, not after the model loaded (a suite of missing ones: refused)
        load_sources(cfg.benchmark)
    if cfg.hub.push and is_main_process():  # token, network, namespace: before anything is trained
        preflight(cfg)
    check_plan(cfg)  # refuses a run that cannot fit its profile, naming the fix; may pick the micro-batch
    accumulation = grad_accumulation(cfg)
    log.info(
        "Effective batch %d = micro-batch %d x %d process(es) x accumulation %d (hardware=%s, %s, "
        "gradient checkpointing %s, attention %s)",
        cfg.training.batch_size,
        cfg.hardware.micro_batch_size,
        data_parallel_size(cfg),
        accumulation,
        cfg.hardware.name,
        cfg.hardware.precision,
        "on" if cfg.hardware.gradient_checkpointing else "off",
        builders.attention_kernel(cfg.hardware),
    )
    log.info("Training length: %s; %s", describe_training_length(cfg), describe_max_seq_len(cfg))
    splits = load_splits(cfg.dataset)
    splits, data_checks = prepare_data(cfg, splits, run_dir if record else None)  # PHI guard, contamination, transforms
    if record:
        save_data_stats(cfg, run_dir, splits, data_checks)
    # The task scorers read every record of a split; the multiple-choice one only options.
    pick = evaluation_sets if cfg.task.scorer == "multiple_choice" else task_evaluation_sets
    sets = {**pick(splits, cfg.dataset.eval_limit), **retention_sets(cfg.retention)}
    if is_reward_model(cfg):  # a scorer has no LM head to answer with: its held-out pairs are scored instead
        sets, sets_after = {}, {}
    elif cfg.eval.validation:  # scored after training only: it is what a sweep selects on
        sets_after = {**sets, **pick(splits, cfg.dataset.eval_limit, ("validation",))}
    else:
        sets_after = sets
    log.info("Data %s: %s", cfg.dataset.name, {k: len(v) for k, v in splits.items()})
    _resolve_controls(cfg, splits)
    return splits, sets, sets_after


def _scores_before(cfg, model, tokenizer, sets, run_dir: Path, settings: dict, main: bool, resolved):
    """The base model's scores and where they came from: eval_before.json when a resume evaluates what
    they were made on, else the score cache (medft/run/score_cache.py), else scored now; saved with what
    they depend on."""
    import json

    before_file = run_dir / EVAL_BEFORE_FILE
    if not main or not cfg.eval.before:
        return {}, {}, {}, None
    if before_file.is_file():
        saved = json.loads(before_file.read_text())
        if saved.get("settings") == settings:
            return saved["summary"], saved.get("benchmarks", {}), saved["per_question"], saved.get("source")
        log.info(
            "%s was scored on other evaluation sets or settings than this resume's: scoring the base model "
            "again, so before and after stay paired",
            before_file.name,
        )
    eval_before, bench_before, correct_before, source = cached_scores(
        cfg.eval.get("score_cache"),
        key_parts(cfg, resolved, sets),
        run_dir,
        lambda: evaluate_all(model, tokenizer, sets, cfg, run_dir, "before"),
    )
    atomic_write_json(
        before_file,
        {
            "summary": eval_before,
            "benchmarks": bench_before,
            "per_question": correct_before,
            "settings": settings,
            "source": source,
        },
    )
    return eval_before, bench_before, correct_before, source


def _resolve_controls(cfg, splits) -> None:
    """Checks init_from and fixes `training.eval_metric=auto` once the validation split is known."""
    from omegaconf import open_dict

    check_init_from(cfg)
    if cfg.training.eval_every_steps > 0:
        has_mc = not is_reward_model(cfg) and any(r.is_multiple_choice for r in splits.get("validation", []))
        with open_dict(cfg):
            cfg.training.eval_metric = resolve_eval_metric(cfg.training, has_mc)
        log.info(
            "Evaluating every %d steps on the validation split by %s",
            cfg.training.eval_every_steps,
            cfg.training.eval_metric,
        )


def run(cfg, run_dir: str | Path, callbacks: list | None = None) -> dict:
    """Train and evaluate one configuration in `run_dir`; return the metrics written there.

    `callbacks` are extra transformers TrainerCallbacks (progress hooks, tests that interrupt).
    A second process on the same folder is refused (RunFolderBusy); distributed ranks above 0 write
    nothing there and share rank 0's folder.
    """
    run_dir = Path(run_dir)
    if not is_main_process():
        return _run(cfg, run_dir, callbacks)
    with holding(run_dir):
        return _run(cfg, run_dir, callbacks)


def _run(cfg, run_dir: Path, callbacks: list | None) -> dict:
    started = time.time()
    set_progress(cfg.get("progress", "auto"))  # progress=auto: bars only on a terminal
    silence_unactionable_notices(cfg.quantization.method)  # before transformers imports bitsandbytes
    snapshot = config_snapshot(cfg)  # as given, before prepare() fills in derived values
    resuming = resuming_flag(cfg.resume) and has_started(run_dir)
    changed = check_resume_config(run_dir, snapshot) if resuming else {}  # refused before anything is written
    splits, sets, sets_after = prepare(cfg, run_dir, record=not resuming)  # fails fast, before heavy imports
    if cfg.dry_run:
        log.info("dry_run=true: configuration is valid; nothing loaded or trained")
        return {}
    main = is_main_process()  # distributed: every rank trains, only rank 0 evaluates and writes
    if main and not resuming:  # from here on the folder is a run: resume=true continues it
        write_started(
            run_dir,
            snapshot,
            None
            if not resuming_flag(cfg.resume)
            else "resumed into a folder without started.json: the configuration it started with is unknown",
        )
    import torch
    from transformers import set_seed

    quiet_library_bars(bars_on())

    if cfg.hardware.num_threads:
        torch.set_num_threads(cfg.hardware.num_threads)
    mmap_threshold = rank_mmap_threshold_mb(cfg)
    if mmap_threshold is not None and set_mmap_threshold(mmap_threshold):
        log.info(
            "glibc mmap threshold %d MiB (hardware.mmap_threshold_mb): sharded buffers kept out of the heap",
            mmap_threshold,
        )
    reset_peak_memory(cfg.hardware.device)
    fingerprint = fingerprint_records(splits)
    check_same_data(run_dir, fingerprint, cfg.dataset)  # a resumed run: refuses data changed since it started
    checkpoint = resume_checkpoint(run_dir, cfg.resume)
    if checkpoint:  # before this run's manifest is written: the old one says who made the folder
        check_checkpoint_origin(checkpoint, bool(cfg.get("resume_allow_foreign_pickle", False)))
    step = checkpoint_step(checkpoint) if checkpoint else 0
    resolved = resolve_model(cfg.model, cfg.cache_dir, cfg.seed)
    tokenizer = builders.load_tokenizer(cfg.model, resolved)
    check_truncation(cfg, splits["train"], tokenizer)  # before the manifest and the model: refuses a cut dataset
    manifest = read_manifest(run_dir) if resuming else None
    if resuming_flag(cfg.resume):  # names the folder and checkpoint; refuses one past max_steps, another base model
        check_resume_start(run_dir, checkpoint, step, cfg, manifest, resolved)
    if main and manifest is None:
        manifest = build_manifest(
            cfg,
            resolved,
            fingerprint,
            {k: len(v) for k, v in splits.items()},
            world_size=world_size(),
            components=component_fingerprints(splits) if cfg.dataset.kind == "mixture" else None,
        )
        atomic_write_json(run_dir / MANIFEST_FILE, manifest)
    if main and resuming:  # appended; what the manifest says about the steps already run stays
        record_resume(run_dir, manifest, checkpoint, step, changed)
    if not resuming:
        save_data_stats(cfg, run_dir, splits, tokenizer=tokenizer)  # adds token lengths to the data report
    model = builders.load_model(cfg, resolved)
    footprint_mb = model.get_memory_footprint() / 2**20  # weights as loaded: what quantization saves
    if cfg.get("init_from"):  # before eval_before: "before" is the model this run starts from (e.g. the SFT one)
        model = load_init_adapter(model, cfg)

    eval_before, bench_before, correct_before, before_source = _scores_before(
        cfg, model, tokenizer, sets, run_dir, eval_before_settings(snapshot, sets), main, resolved
    )
    # The manifest says whether the base was scored or reused, and from where, as the run started (a
    # resume leaves it as it was; its metrics.json and eval_before.json say where its scores came from).
    if before_source is not None and not resuming:
        atomic_write_json(
            run_dir / MANIFEST_FILE, {**(read_manifest(run_dir) or {}), "eval_before_source": before_source}
        )

    # Seeded here, just before the adapter's random init: converting the base model (first run
    # only) and scoring it (skipped on a resume) draw random numbers, and must not change the init.
    set_seed(cfg.seed)
    if not cfg.get("init_from"):
        model = builders.wrap_for_training(model, cfg)
    # Scored on the wrapped model: the starting point, which DPO and KTO also take as the reference.
    held_out_pairs, pair_scores_before = preference_before(model, tokenizer, splits, cfg) if main else ([], [])
    trainable, total = builders.count_parameters(model)
    log.info(
        "Trainable parameters: %d of %d (%.3f%%) with peft_method=%s, objective=%s",
        trainable,
        total,
        100 * trainable / total,
        cfg.peft_method.method,
        cfg.objective.name,
    )

    setup_wandb(cfg, run_dir)
    writer = tensorboard_writer(cfg, run_dir, step if checkpoint else None) if main else None
    evaluating = cfg.training.eval_every_steps > 0
    validation = splits.get("validation", [])[: cfg.dataset.eval_limit or None] if evaluating else []
    controls = control_callbacks(cfg, tokenizer, [r for r in validation if r.is_multiple_choice])
    preemption, ledger = PreemptionCheckpoint(), LossLedger()
    ledger.restore(checkpoint)
    # The ledger before the seal: its file in each checkpoint is sealed with the rest.
    guards = [ledger, CheckpointSeal(cfg.training.save_total_limit), NonFiniteGuard(cfg), preemption]
    monitor = system_monitor(cfg, writer) if main else None  # system/* scalars every logger.system_every_s
    trainer, truncated = build_trainer(
        cfg,
        model,
        tokenizer,
        splits,
        validation,
        run_dir / CHECKPOINTS,
        callbacks=([tensorboard_callback(writer)] if writer else [])
        + controls
        + guards
        + [TrainingLogLines()]
        + ([monitor] if monitor else [])
        + list(callbacks or []),
    )
    check_engine(cfg, trainer)  # the profile's engine, or a clear refusal
    route_trainer_output(trainer, bars_on())  # loss lines to train.log, not dicts printed to stdout
    continue_token_count(trainer, checkpoint)
    ledger.attach(trainer)
    train_start = time.time()
    with monitor or nullcontext():  # its sampling thread stops even when training raises
        output = train_with_fault_messages(trainer, cfg, checkpoint, preemption, run_dir / CHECKPOINTS)
    train_wall = time.time() - train_start
    state = trainer.state
    tokens = state.num_input_tokens_seen - getattr(trainer, "_initial_num_input_tokens_seen", 0)  # this start's
    model = whole_model(cfg, trainer, model, resolved)  # ZeRO-3/FSDP: every rank gathers, rank 0 keeps it
    if not main:
        log.info(
            "Rank %d of %d done (peak memory %.0f MB); rank 0 evaluates and writes the run folder",
            rank(),
            world_size(),
            peak_memory_mb(cfg.hardware.device),
        )
        return {}
    if "ref" in getattr(model, "peft_config", {}):  # TRL's frozen reference copy: not part of the result
        model.delete_adapter("ref")
    final_dir = "model" if cfg.peft_method.method in FULL_WEIGHT_METHODS else "adapter"
    # Sealed like a checkpoint: generate, export and evaluate refuse an adapter damaged after this.
    atomic_save_dir(
        run_dir / final_dir, lambda tmp: (model.save_pretrained(tmp), tokenizer.save_pretrained(tmp), seal(tmp))
    )

    eval_after, bench_after, correct_after = (
        evaluate_all(model, tokenizer, sets_after, cfg, run_dir, "after") if cfg.eval.after else ({}, {}, {})
    )
    log_eval_scalars(
        cfg,
        writer,
        {
            "eval_before": eval_before,
            "eval_after": eval_after,
            "benchmark_before": bench_before,
            "benchmark_after": bench_after,
        },
        state.global_step,
    )

    train_loss = ledger.mean(state.global_step)  # every step's, across resumes (None: an older checkpoint)
    metrics = {
        "eval_before": eval_before,
        "eval_after": eval_after,
        "benchmarks_before": bench_before,
        "eval_before_source": before_source,  # {"reused": bool, "key", "source": the run that scored it}
        "benchmarks_after": bench_after,
        "paired": paired_results(
            correct_before, correct_after, {**eval_after, **{f"benchmark:{k}": v for k, v in bench_after.items()}}
        ),
        **preference_after(model, tokenizer, held_out_pairs, pair_scores_before, cfg),
        "train": {
            "steps": state.global_step,
            "tokens": int(state.num_input_tokens_seen),  # the whole run's, across resumes
            "tokens_per_s": tokens / train_wall if train_wall > 0 else None,  # this start's
            "train_loss": output.training_loss if train_loss is None else train_loss,
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
    # A set that collapsed onto one answer is said again in full where the run ends: a gain that is only
    # "always yes" must not scroll away. Every other verdict is one cell of the closing table.
    for line in describe_sets("after", eval_after, True) + describe_sets("after benchmark", bench_after, True):
        log.warning("%s", line)
    log.info("%s", run_summary(metrics, run_dir))
    if cfg.hub.push:
        push_run(cfg, run_dir, model, tokenizer, metrics)
    return metrics
