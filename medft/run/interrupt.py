"""Ctrl-C (SIGINT) as one line and exit code 130, never a KeyboardInterrupt traceback.

During training the first Ctrl-C is handled like SIGTERM (medft.run.faults.PreemptionCheckpoint):
the trainer saves a checkpoint at the end of the step and stops, and the message gives the
command that continues. A second Ctrl-C, or one outside training (loading, evaluating), stops at
once; `interrupted_message` then says what is left: the newest complete checkpoint and the resume
command, or that a rerun starts over. 130 is the shell's code for a command stopped by SIGINT.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from medft.run.checkpoints import SEAL_FILE
from medft.run.folders import CHECKPOINTS, checkpoints

INTERRUPTED_EXIT_CODE = 130  # 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C


def _command(argv: list[str], resume: bool) -> str:
    """The command that was run (`python train.py ...`), with resume=true when asked for."""
    args = [a for a in argv[1:] if not (resume and a.startswith("resume="))]
    return shlex.join(["python", argv[0], *args, *(["resume=true"] if resume else [])])


def resume_command(argv: list[str] | None = None) -> str:
    return _command(list(sys.argv if argv is None else argv), resume=True)


def newest_sealed_checkpoint(run_dir: Path) -> Path | None:
    sealed = [p for p in checkpoints(run_dir) if (p / SEAL_FILE).is_file()]
    return sealed[-1] if sealed else None


def interrupted_message(output_dir, argv: list[str] | None = None) -> str:
    """What a Ctrl-C outside a step boundary left behind, and the command to go on."""
    argv = list(sys.argv if argv is None else argv)
    checkpoint = newest_sealed_checkpoint(Path(output_dir)) if output_dir else None
    if checkpoint is not None:
        return (
            f"Interrupted by Ctrl-C; the last complete checkpoint is {checkpoint}. Continue with: "
            f"{_command(argv, resume=True)}"
        )
    if output_dir and (Path(output_dir) / CHECKPOINTS).is_dir():  # training began, no checkpoint complete yet
        return (
            f"Interrupted by Ctrl-C before a complete checkpoint; a rerun starts from step 0: "
            f"{_command(argv, resume=False)}"
        )
    return f"Interrupted by Ctrl-C; nothing to resume. Run again with: {_command(argv, resume=False)}"
