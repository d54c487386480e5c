"""What every command does around its work: secrets guarded, errors as one clear line.

`guarded(job, cfg, output_dir)` is called by train.py, evaluate.py and the Hydra `python -m`
commands (generate, export); `guarded_main(main, argv)` by the argparse ones (data, hub, report,
launch). Both install the log redaction filter (medft.secrets) first. An error prints its
message without a stack trace and exits 2 (a UserError: the message says the fix) or 1 (anything
else); `debug=true` (Hydra commands) or MEDFT_DEBUG=1 (any command) re-raises, showing the trace.
Ctrl-C is one line too, with what is left to resume, and exit code 130 (medft.run.interrupt);
`run_hydra_main` covers the moments before the job starts (Hydra composing the config).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from medft.errors import UserError

log = logging.getLogger("medft")

DEBUG_ENV = "MEDFT_DEBUG"
HYDRA_FILES = ("config.yaml", "overrides.yaml", "hydra.yaml")


def debug_on(cfg=None) -> bool:
    if os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes"):
        return True
    return bool(cfg is not None and cfg.get("debug", False))


def _refuse_secrets(cfg, output_dir) -> None:
    """A credential in the config is refused; the copies Hydra already wrote are masked first."""
    from medft.secrets import config_secrets, refuse_config_secrets, scrub_files

    found = config_secrets(cfg)
    if found and output_dir:
        hydra_dir = Path(output_dir) / ".hydra"
        scrub_files([hydra_dir / name for name in HYDRA_FILES], [value for _, value in found])
    refuse_config_secrets(cfg)


def report_error(err: BaseException, debug: bool) -> int:
    """Log `err` as one line (secrets masked by the filter); the exit code for it."""
    from medft.secrets import redact

    if isinstance(err, UserError):
        log.error("%s", redact(str(err)))
        return 2
    log.error("%s: %s (an unexpected error: rerun with debug=true, or %s=1, for the stack trace)",
              type(err).__name__, redact(str(err)), DEBUG_ENV)
    return 1


def check_command_line(args: list[str] | None = None) -> None:
    """Run before hydra.main: a credential on the command line stops here, before Hydra writes or
    echoes it (.hydra/overrides.yaml, its own error messages)."""
    import sys

    from medft.secrets import refuse_secret_overrides

    try:
        refuse_secret_overrides(sys.argv[1:] if args is None else args)
    except UserError as err:
        print(f"[medft][ERROR] - {err}", file=sys.stderr)
        raise SystemExit(2) from None


def guarded(job, cfg=None, output_dir=None):
    """`job()`'s result; on an error, its message and SystemExit (a trace only with debug)."""
    from medft.secrets import install_log_redaction

    install_log_redaction()
    debug = debug_on(cfg)
    try:
        if cfg is not None:
            _refuse_secrets(cfg, output_dir)
        return job()
    except KeyboardInterrupt:  # a second Ctrl-C in training, or one while loading or evaluating
        if debug:
            raise
        from medft.run.interrupt import INTERRUPTED_EXIT_CODE, interrupted_message

        log.warning("%s", interrupted_message(output_dir))
        raise SystemExit(INTERRUPTED_EXIT_CODE) from None
    except Exception as err:
        from medft.run.faults import Preempted

        if isinstance(err, Preempted):  # SIGTERM / Ctrl-C: checkpoint saved; a distinct code says resume
            logging.getLogger("medft").warning("%s", err)
            raise SystemExit(err.exit_code) from None
        if debug:
            raise
        raise SystemExit(report_error(err, debug)) from None


def guarded_main(main, argv=None) -> int:
    """For argparse commands: `main(argv)`'s exit code, or the error's."""
    from medft.secrets import install_log_redaction

    install_log_redaction()
    try:
        return main(argv)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        if debug_on():
            raise
        from medft.run.interrupt import INTERRUPTED_EXIT_CODE

        log.warning("Interrupted by Ctrl-C; run the command again to finish")
        return INTERRUPTED_EXIT_CODE
    except Exception as err:
        if debug_on():
            raise
        return report_error(err, False)


def run_hydra_main(main) -> None:
    """`main()` (a hydra.main function) with a Ctrl-C outside the job, while Hydra composes the
    config or sets up the run folder, as one line and exit 130 instead of a traceback."""
    import sys

    try:
        main()
    except KeyboardInterrupt:
        if debug_on():
            raise
        from medft.run.interrupt import INTERRUPTED_EXIT_CODE

        print("[medft][WARNING] - Interrupted by Ctrl-C before the run started; nothing to resume", file=sys.stderr)
        raise SystemExit(INTERRUPTED_EXIT_CODE) from None
