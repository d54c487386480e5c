"""The one command line: `python -m medft <command> [args]` (also the `medft` script), and the
Hydra entry points `train.py` and `evaluate.py` call.

    medft generate run_dir=... prompt="..."      conf/generate.yaml, medft.recipes.generate
    medft export run_dir=... format=gguf          conf/export.yaml, medft.recipes.export
    medft report FOLDER... --out DIR --html DIR   medft.recipes.report
    medft data check|stats|scrub ...              medft.recipes.data_report
    medft hub RUN_DIR hub.repo_id=...             medft.recipes.hub_push
    medft launch [--print] [overrides]            medft.recipes.launch
    medft train|evaluate [overrides]              the same as python train.py / evaluate.py

What every command gets here: credentials on the command line are refused before Hydra copies
them anywhere; logs are masked; an error prints one line and exits 2 (a UserError, whose message
says the fix) or 1 (anything else); `debug=true` (Hydra commands) or MEDFT_DEBUG=1 re-raises with
the trace; SIGTERM during training exits 75 after a checkpoint, so a requeue resumes it.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import sys
from pathlib import Path

from medft.config.compose import CONF_DIR, register_schemas
from medft.config.errors import UserError
from medft.config.secrets import (
    config_secrets,
    install_log_redaction,
    redact,
    refuse_config_secrets,
    refuse_secret_overrides,
    scrub_files,
)
from medft.config.unknown_keys import refuse_unknown_overrides
from medft.recipes import data_report, evaluate, export, generate, hub_push, launch, report, train
from medft.run.faults import Preempted
from medft.run.folders import ResumeError, claim_run_dir, forget_refused_resume, hydra_subdir, resolve_eval_dir
from medft.run.interrupt import INTERRUPTED_EXIT_CODE, interrupted_message
from medft.runtime.distributed import rank0_only
from medft.sweep.jobs import in_sweep, metric_at, run_sweep_job

log = logging.getLogger("medft")

DEBUG_ENV = "MEDFT_DEBUG"
HYDRA_FILES = ("config.yaml", "overrides.yaml", "hydra.yaml")


# --- errors and secrets around every command -----------------------------------------------------
def debug_on(cfg=None) -> bool:
    if os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes"):
        return True
    return bool(cfg is not None and cfg.get("debug", False))


def _refuse_secrets(cfg, output_dir) -> None:
    """A credential in the config is refused; the copies Hydra already wrote are masked first."""
    found = config_secrets(cfg)
    if found and output_dir:
        hydra_dir = Path(output_dir) / _hydra_subdir()
        scrub_files([hydra_dir / name for name in HYDRA_FILES], [value for _, value in found])
    refuse_config_secrets(cfg)


def _hydra_subdir() -> str:
    """Where Hydra wrote this start's .hydra files (a resume writes them under .hydra/resumes/<time>)."""
    from hydra.core.hydra_config import HydraConfig

    try:
        return HydraConfig.get().output_subdir or ".hydra"
    except ValueError:  # called outside a Hydra job
        return ".hydra"


def report_error(err: BaseException, debug: bool) -> int:
    """Log `err` as one line (secrets masked by the filter); the exit code for it."""
    if isinstance(err, UserError):
        log.error("%s", redact(str(err)))
        return 2
    log.error(
        "%s: %s (an unexpected error: rerun with debug=true, or %s=1, for the stack trace)",
        type(err).__name__,
        redact(str(err)),
        DEBUG_ENV,
    )
    return 1


def check_command_line(args: list[str] | None = None, config_name: str | None = None) -> None:
    """Run before hydra.main: a credential, or a `+key=` no schema declares, stops here, before Hydra
    writes or echoes it (.hydra/overrides.yaml and config.yaml, its own error messages)."""
    args = sys.argv[1:] if args is None else args
    try:
        refuse_secret_overrides(args)
        if config_name:
            refuse_unknown_overrides(args, config_name)
    except UserError as err:
        print(f"[medft][ERROR] - {redact(str(err))}", file=sys.stderr)
        raise SystemExit(2) from None


def guarded(job, cfg=None, output_dir=None):
    """`job()`'s result; on an error, its message and SystemExit (a trace only with debug)."""
    install_log_redaction()
    debug = debug_on(cfg)
    try:
        if cfg is not None:
            _refuse_secrets(cfg, output_dir)
        return job()
    except Preempted as err:  # SIGTERM / Ctrl-C: checkpoint saved; a distinct code says resume
        log.warning("%s", err)
        raise SystemExit(err.exit_code) from None
    except KeyboardInterrupt:  # a second Ctrl-C in training, or one while loading or evaluating
        if debug:
            raise
        log.warning("%s", interrupted_message(output_dir))
        raise SystemExit(INTERRUPTED_EXIT_CODE) from None
    except Exception as err:
        if debug:
            raise
        raise SystemExit(report_error(err, debug)) from None


def guarded_main(main, argv=None) -> int:
    """For argparse commands: `main(argv)`'s exit code, or the error's."""
    install_log_redaction()
    try:
        return main(argv)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        if debug_on():
            raise
        log.warning("Interrupted by Ctrl-C; run the command again to finish")
        return INTERRUPTED_EXIT_CODE
    except Exception as err:
        if debug_on():
            raise
        return report_error(err, False)


# --- Hydra: schemas and the folder resolvers -----------------------------------------------------
def _as_command_error(resolve):
    """Hydra resolves the run folder before the job starts, so `guarded` cannot catch a bad `name=`
    or `resume=` there: print its message and exit 2 here (MEDFT_DEBUG=1: the trace)."""

    @functools.wraps(resolve)
    def resolver(*args):
        try:
            return resolve(*args)
        except UserError as err:
            if debug_on():
                raise
            raise SystemExit(report_error(err, False)) from None

    return resolver


def prepare_hydra() -> None:
    """Register the schemas and the resolvers the root configs use (cheap, idempotent)."""
    from omegaconf import OmegaConf

    register_schemas()
    resolvers = {
        "medft_run_dir": _as_command_error(claim_run_dir),
        "medft_hydra_subdir": hydra_subdir,
        "medft_eval_dir": _as_command_error(resolve_eval_dir),
        "medft_rank0": rank0_only,
    }
    for name, resolver in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver, use_cache=name != "medft_rank0")


def hydra_command(config_name: str, task_function):
    """Run `task_function(cfg)` under hydra.main with conf/<config_name>.yaml; returns its result."""
    import hydra

    prepare_hydra()
    check_command_line(config_name=config_name)  # a credential or `+typo=` is refused before Hydra copies it anywhere
    started = []

    @functools.wraps(task_function)
    def job(cfg):
        started.append(True)
        return task_function(cfg)

    try:
        return hydra.main(version_base=None, config_path=str(CONF_DIR), config_name=config_name)(job)()
    except SystemExit as done:
        # Hydra prints a composition error (a typo, a value outside its choices: the key and what it
        # accepts) and exits 1; before any job started that is the command line's fault: exit 2, as
        # every error a user fixes. A -m sweep's jobs may run in other processes, so it keeps Hydra's code.
        multirun = any(arg in ("-m", "--multirun") for arg in sys.argv[1:])
        if done.code == 1 and not started and not multirun:
            raise SystemExit(2) from None
        raise
    except KeyboardInterrupt:  # while Hydra composes the config or makes the run folder: one line, exit 130
        if debug_on():
            raise
        print("[medft][WARNING] - Interrupted by Ctrl-C before the run started; nothing to resume", file=sys.stderr)
        raise SystemExit(INTERRUPTED_EXIT_CODE) from None


# --- the commands ------------------------------------------------------------------------------
def train_job(cfg) -> float | None:
    """One training run (or one job of a `-m` sweep); returns the metric a sweeper optimizes."""
    from hydra.core.hydra_config import HydraConfig

    hydra_cfg = HydraConfig.get()
    output_dir = hydra_cfg.runtime.output_dir
    if in_sweep(hydra_cfg):  # a failure is recorded in the job folder and raised to the sweeper
        install_log_redaction()
        metrics = run_sweep_job(
            cfg,
            output_dir,
            list(hydra_cfg.overrides.task),
            train.run,
            launcher_cfg=hydra_cfg.launcher,
            sweep_dir=hydra_cfg.sweep.dir,
        )
    else:  # secrets refused and masked; an error is its message (debug=true: the stack trace)
        metrics = guarded(lambda: _train(cfg, output_dir, hydra_cfg.output_subdir), cfg, output_dir)  # SIGTERM: 75
    return metric_at(metrics, cfg.optimized_metric)


def _train(cfg, output_dir: str, hydra_subdir: str | None) -> dict:
    try:
        return train.run(cfg, output_dir)
    except ResumeError:  # refused before training: Hydra's copy of the refused configuration goes too
        forget_refused_resume(output_dir, hydra_subdir)
        raise


def evaluate_job(cfg) -> None:
    from hydra.core.hydra_config import HydraConfig

    output_dir = HydraConfig.get().runtime.output_dir
    guarded(lambda: evaluate.run(cfg, output_dir), cfg, output_dir)


def _stderr_job(run):
    """generate and export: logs to stderr (stdout is the command's output), no .hydra folder."""

    def job(cfg) -> None:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="[%(name)s][%(levelname)s] - %(message)s")
        guarded(lambda: run(cfg), cfg)

    return job


def generate_job(cfg) -> None:
    _stderr_job(generate.run)(cfg)


def export_job(cfg) -> None:
    _stderr_job(export.run)(cfg)


def data_main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING, format="[medft][%(levelname)s] %(message)s")
    if not argv or argv[0] not in ("scrub", "check", "stats"):
        print(data_report.USAGE, file=sys.stderr)
        return 2
    try:
        if argv[0] == "scrub":
            parser = argparse.ArgumentParser(prog="medft data scrub")
            parser.add_argument("in_file")
            parser.add_argument("--out", required=True, help="where the scrubbed text goes (never the input)")
            parser.add_argument("--force", action="store_true", help="replace --out if it exists")
            args = parser.parse_args(argv[1:])
            result = data_report.scrub_file(args.in_file, args.out, args.force)
            print(json.dumps({k: v for k, v in result.items() if k != "lines"}, indent=2))
            return 0
        return data_report.check(argv[1:]) if argv[0] == "check" else data_report.stats(argv[1:])
    except UserError as err:
        print(f"[medft][ERROR] {redact(str(err))}", file=sys.stderr)
        return 2


def hub_main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(hub_push.__doc__)
        return 0 if argv else 2
    logging.basicConfig(level=logging.INFO, format="[%(name)s][%(levelname)s] - %(message)s")
    try:
        receipt = hub_push.push_folder(argv[0], argv[1:])
    except UserError as err:
        print(f"[medft.hub][ERROR] - {redact(str(err))}", file=sys.stderr)  # a URL or token in it: masked
        return 2
    print(json.dumps(receipt, indent=2))
    return 0


def report_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="medft report", description=report.__doc__.splitlines()[0])
    parser.add_argument(
        "sweep_dirs",
        nargs="+",
        type=Path,
        help="sweep folders (outputs/<name>/multirun/<sweep>); with --html, run folders too",
    )
    parser.add_argument("--out", type=Path, default=None, help="folder for table.md/.tex/.csv and plots/")
    parser.add_argument("--html", type=Path, default=None, help="folder for the results site (open its index.html)")
    parser.add_argument("--metric", default=None, help="accuracy column plotted, e.g. test_acc (default: the first)")
    parser.add_argument("--caption", default="", help="LaTeX caption text")
    args = parser.parse_args(argv)
    if args.out is None and args.html is None:
        parser.error("give --out DIR (tables and plots), --html DIR (the results site), or both")
    skipped: list[str] = []
    written: dict = {}
    try:
        if args.out is not None:
            written = report.write_report(args.sweep_dirs, args.out, args.metric, args.caption, skipped)
        if args.html is not None:
            site = report.write_site(args.sweep_dirs, args.html, skipped if args.out is None else None)
            written["site"] = site["index"]
    except UserError as err:
        print(f"medft report: {redact(str(err))}", file=sys.stderr)
        return 2
    for problem in skipped:  # the table is made from the rest
        print(f"medft report: skipped {problem}", file=sys.stderr)
    if args.out is not None:
        print((args.out / "table.md").read_text(encoding="utf-8"))
    for kind, path in written.items():
        for p in path if isinstance(path, list) else [path]:
            print(f"{kind}: {p}")
    return 0


def launch_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="medft launch", description=launch.__doc__.splitlines()[0])
    parser.add_argument("--print", action="store_true", help="write the config, print the commands, run nothing")
    parser.add_argument("overrides", nargs="*", help="the same overrides train.py takes")
    args = parser.parse_args(argv)
    try:
        return launch.launch(args.overrides, print_only=args.print)
    except UserError as err:
        print(f"medft launch: {redact(str(err))}", file=sys.stderr)
        return 2


HYDRA_COMMANDS = {
    "train": ("train", train_job),
    "evaluate": ("evaluate", evaluate_job),
    "generate": ("generate", generate_job),
    "export": ("export", export_job),
}
ARGPARSE_COMMANDS = {"data": data_main, "hub": hub_main, "report": report_main, "launch": launch_main}


def main(argv: list[str] | None = None) -> int:
    """`medft <command> ...`: a Hydra command sees the rest of the line as its own (sys.argv)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = [*HYDRA_COMMANDS, *ARGPARSE_COMMANDS]
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in commands:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        if argv and argv[0] not in ("-h", "--help"):
            print(f"medft: unknown command {argv[0]!r}; one of {commands}", file=sys.stderr)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    command, rest = argv[0], argv[1:]
    if command in ARGPARSE_COMMANDS:
        return guarded_main(ARGPARSE_COMMANDS[command], rest)
    config_name, job = HYDRA_COMMANDS[command]
    sys.argv = [f"medft {command}", *rest]  # hydra.main reads the overrides from sys.argv
    hydra_command(config_name, job)
    return 0


def report_script() -> int:
    """The `medft-report` console script (= medft report)."""
    return main(["report", *sys.argv[1:]])
