"""Where runs live: `<output_root>/<name>/<YYYY-MM-DD_HH-MM-SS>[-N]/`, and how resume finds one.

`claim_run_dir` is registered (medft.cli.prepare_hydra) as the `medft_run_dir` resolver that `hydra.run.dir`
uses. Hydra resolves it before it writes `.hydra/` and `train.log`, so this is where a run gets its folder:

- a new run creates its folder here, atomically (`mkdir` that fails if it exists): two runs of one name
  started in the same second get `<stamp>` and `<stamp>_2`, never one folder between them;
- `resume=true` reopens the newest folder whose run started training (`started.json`, written by the
  recipe once the configuration and data passed their checks) and did not finish (`metrics.json`): a
  dry run, or a run refused before training, leaves a folder nothing resumes into;
- either way the folder's lock (medft/run/lock.py) is taken before Hydra writes there, so a second
  process on a folder in use (`resume=true` while the run still trains) is refused before it writes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from medft.config.errors import UserError
from medft.run.checkpoints import newest_sound, seal_problem
from medft.run.lock import busy_error, claim, in_use
from medft.run.saved_model import run_weights
from medft.runtime.distributed import is_main_process
from medft.runtime.paths import can_make_folder, folder_name, inside

METRICS_FILE = "metrics.json"
STARTED_FILE = "started.json"  # the recipe writes it when training is about to start: only such folders resume
CHECKPOINTS = "checkpoints"

_created: dict[tuple[str, str, str], Path] = {}  # Hydra may resolve hydra.run.dir more than once: one folder


class ResumeError(UserError, FileNotFoundError):
    """`resume=` points at nothing that can be continued."""


def is_finished(run_dir: Path) -> bool:
    return (run_dir / METRICS_FILE).is_file()


def has_started(run_dir: Path) -> bool:
    return (Path(run_dir) / STARTED_FILE).is_file()


def checkpoints(run_dir: Path) -> list[Path]:
    found = [p for p in (run_dir / CHECKPOINTS).glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]))


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = [p for p in checkpoints(run_dir) if (p / "trainer_state.json").is_file()]
    return found[-1] if found else None


def _resume_flag(resume) -> bool | str:
    if isinstance(resume, bool):
        return resume
    text = str(resume).strip()
    if text.lower() in {"true", "false", "none", ""}:
        return text.lower() == "true"
    return text


def resuming_flag(resume) -> bool:
    """Whether `resume=` asks to continue a run (true, or a checkpoint path)."""
    return _resume_flag(resume) is not False


def run_dir_of_checkpoint(checkpoint: Path) -> Path:
    checkpoint = checkpoint.expanduser().resolve()
    if not (checkpoint / "trainer_state.json").is_file():
        raise ResumeError(
            f"resume={checkpoint}: not a checkpoint folder (no trainer_state.json). "
            "Give a folder like outputs/<name>/<time>/checkpoints/checkpoint-50, or resume=true"
        )
    if checkpoint.parent.name != CHECKPOINTS:
        raise ResumeError(f"resume={checkpoint}: expected it inside a run's '{CHECKPOINTS}/' folder")
    return checkpoint.parent.parent


def _stamp_order(folder: Path) -> tuple[str, int]:
    """`<stamp>` before `<stamp>_2` before `<stamp>_10` before the next second's `<stamp>`."""
    stamp, _, suffix = folder.name.rpartition("_")
    return (stamp, int(suffix)) if stamp and suffix.isdigit() else (folder.name, 0)


def new_run_folder(output_root: str, name: str, stamp: str) -> Path:
    """Create `<output_root>/<name>/<stamp>`, or `<stamp>_2`, `<stamp>_3`... when it exists already."""
    key = (str(output_root), name, stamp)
    if key in _created:
        return _created[key]
    parent = Path(output_root) / name
    inside(output_root, parent / stamp, f"name={name}")  # nor may a link at <output_root>/<name>
    parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        folder = parent / (stamp if n == 1 else f"{stamp}_{n}")
        try:
            folder.mkdir()  # atomic: of two processes only one creates a given folder
        except FileExistsError:
            continue
        _created[key] = folder
        return folder
    raise ResumeError(f"{parent}: 999 runs named {name} started in the second {stamp}; give each its own name=")


def unfinished_runs(parent: Path) -> list[Path]:
    """Folders under `<output_root>/<name>/` whose run started training and did not finish, oldest first."""
    found = [p for p in parent.glob("*") if p.is_dir() and has_started(p) and not is_finished(p)]
    return sorted(found, key=_stamp_order)


def resolve_run_dir(output_root: str, name: str, resume, stamp: str) -> str:
    """The run folder for `name` and `resume`: a new one (created here) or the one to continue."""
    flag = _resume_flag(resume)
    folder_name("name", name)  # `name=../x` would leave output_root; nor may it be too long for a folder
    can_make_folder(output_root, "output_root")  # Hydra makes the folder next: a file in the way is a traceback
    can_make_folder(Path(output_root) / name, "name")
    if flag is False:
        return str(new_run_folder(output_root, name, stamp))
    if flag is True:
        parent = Path(output_root) / name
        unfinished = unfinished_runs(parent)
        if not unfinished:
            raise ResumeError(
                f"resume=true: no unfinished run under {parent}/ to continue (a run counts once it started "
                f"training: it has {STARTED_FILE} and no {METRICS_FILE}). Start a new run (resume=false) or "
                "give a checkpoint: resume=<path/to/checkpoint-N>"
            )
        run_dir = unfinished[-1]
    else:
        run_dir = run_dir_of_checkpoint(Path(flag))
    if in_use(run_dir):
        raise busy_error(run_dir, _resume_words(flag))
    return str(run_dir)


def _resume_words(flag) -> str:
    return {True: "resume=true", False: "this run"}.get(flag, f"resume={flag}")


def claim_run_dir(output_root: str, name: str, resume, stamp: str) -> str:
    """`resolve_run_dir`, then hold the folder's lock for this process's life (the `medft_run_dir` resolver).

    Distributed ranks above 0 get the folder from `hydra.run.dir=` (medft launch) and never come here;
    rank 0 takes the lock in the recipe."""
    run_dir = resolve_run_dir(output_root, name, resume, stamp)
    claim(Path(run_dir), _resume_words(_resume_flag(resume)))
    return run_dir


def hydra_subdir(resume, stamp: str) -> str | None:
    """Where Hydra saves this start's configuration (the `medft_hydra_subdir` resolver of hydra.output_subdir).

    `.hydra` for a new run; `.hydra/resumes/<stamp>` for a resume, so the first start's `.hydra/config.yaml`
    (what generate, export and evaluate read) stays the record of the run; none on ranks above 0."""
    if not is_main_process():
        return None
    return ".hydra" if _resume_flag(resume) is False else f".hydra/resumes/{stamp}"


def forget_refused_resume(run_dir: str | Path, subdir: str | None) -> None:
    """A resume refused before training (ResumeError) leaves no `.hydra/resumes/<time>` behind: it did not happen."""
    if subdir and Path(subdir).parts[:2] == (".hydra", "resumes"):
        shutil.rmtree(Path(run_dir) / subdir, ignore_errors=True)
        resumes = Path(run_dir) / ".hydra" / "resumes"
        if resumes.is_dir() and not any(resumes.iterdir()):  # the first refused resume made it: gone too
            resumes.rmdir()


def resume_checkpoint(run_dir: Path, resume) -> Path | None:
    """The checkpoint training continues from, or None to start fresh.

    `resume=true` takes the newest checkpoint whose seal holds (medft/run/checkpoints.py), skipping
    and saying so for any newer one a kill or a full disk left half-written; an explicit
    checkpoint path that fails its seal is refused instead, since the user chose that one.
    """

    flag = _resume_flag(resume)
    if flag is False:
        return None
    if flag is True:
        return newest_sound(checkpoints(run_dir))  # None: interrupted before the first sound checkpoint
    checkpoint = Path(flag).expanduser().resolve()
    problem = seal_problem(checkpoint)
    if problem is not None:
        raise ResumeError(
            f"resume={checkpoint}: cannot resume from it: {problem}. Give an earlier "
            "checkpoint-N of the same run, or resume=true to take the newest sound one"
        )
    return checkpoint


def resolve_eval_dir(run_dir, output_root: str, name: str, stamp: str) -> str:
    """An evaluation of a training run lands inside it; one of a base model under outputs/evaluate/.

    The run is checked here because Hydra creates the folder this returns (and writes .hydra/ and
    evaluate.log into it) before the job starts: a run_dir that is not a finished training run must
    fail before that, or it leaves `<run_dir>/evaluations/<time>/` behind, run_dir itself included.
    """
    if run_dir not in (None, "", "None", "null"):
        run_weights(str(run_dir))  # RunDirError naming the folder and what it lacks
        folder = Path(str(run_dir)).expanduser() / "evaluations" / stamp
        return str(inside(Path(str(run_dir)).expanduser(), folder, "run_dir=<run>/evaluations"))
    folder = Path(output_root) / "evaluate" / folder_name("name", name) / stamp
    can_make_folder(output_root, "output_root")
    can_make_folder(folder.parent, "name")
    inside(output_root, folder, f"name={name}")
    return str(folder)
