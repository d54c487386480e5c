"""A sweep job under submitit (`hydra/launcher=slurm` or `submitit_local`) that is told to stop:
save a checkpoint first, then let submitit requeue the job, which resumes from that checkpoint.

submitit installs a handler for its preemption signal (SIGUSR2 unless `SUBMITIT_PREEMPT_SIGNAL` names
another; SLURM sends it `--signal` seconds before the time limit, and the local executor on
`job._interrupt()`). That handler pickles the job and requeues it at once (`scontrol requeue` on SLURM,
a restart of the task locally), so without help the steps since the last periodic checkpoint are lost.
While training runs, `PreemptionCheckpoint` (medft.run.faults) takes the signal itself, finishes the
step, saves a checkpoint, and only then calls submitit's handler (`hand_back`). The requeued job finds
that checkpoint (medft.sweep.jobs resumes an interrupted job folder) and continues from it.

SIGTERM is not handed to submitit: on SLURM it means preemption (SLURM requeues the job itself when
the partition allows it) or `scancel`, which must not come back. medft saves and exits 75 on it
either way.
"""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger(__name__)

SIGNAL_ENV = "SUBMITIT_PREEMPT_SIGNAL"  # submitit's own variable: the preemption signal's name without SIG


class Requeued(SystemExit):
    """submitit requeued this job after its checkpoint was saved: the process ends here and a new one
    resumes. A SystemExit (what submitit's handler raises) so nothing treats it as a fault."""


def submitit_preempt_signal() -> int | None:
    """submitit's preemption signal when this process is a submitit job that handles it, else None."""
    signum = getattr(signal, "SIG" + os.environ.get(SIGNAL_ENV, "USR2"), None)
    if signum is None:
        return None
    owner = getattr(signal.getsignal(signum), "__self__", None)  # submitit's SignalHandler, bound method
    return signum if type(owner).__module__.startswith("submitit.") else None


def hand_back(handler, signum: int, step: int, checkpoint) -> None:
    """Call submitit's handler now that `checkpoint` holds step `step`; raises `Requeued` when it requeued.
    Returns when it did not (a rank other than 0 of a multi-task job: rank 0 requeues the job)."""
    log.warning(
        "%s: checkpoint %s saved after step %d; submitit requeues this job, which resumes from it",
        signal.Signals(signum).name,
        checkpoint,
        step,
    )
    try:
        handler(signum, None)
    except SystemExit as stop:
        raise Requeued(stop.code) from None
