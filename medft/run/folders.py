"""Where runs live: `<output_root>/<name>/<YYYY-MM-DD_HH-MM-SS>/`, and how resume finds one.

`resolve_run_dir` is registered (medft.cli.prepare_hydra) as the `medft_run_dir` resolver that `hydra.run.dir` uses, so
`resume=true` reopens the newest unfinished run of the same name instead of starting a folder.
"""

from __future__ import annotations

from pathlib import Path

from medft.config.errors import UserError
from medft.run.checkpoints import newest_sound, seal_problem
from medft.run.saved_model import run_weights
from medft.runtime.paths import can_make_folder, folder_name, inside

METRICS_FILE = "metrics.json"
CHECKPOINTS = "checkpoints"


class ResumeError(UserError, FileNotFoundError):
    """`resume=` points at nothing that can be continued."""


def is_finished(run_dir: Path) -> bool:
    return (run_dir / METRICS_FILE).is_file()


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


def run_dir_of_checkpoint(checkpoint: Path) -> Path:
    checkpoint = checkpoint.expanduser().resolve()
    if not (checkpoint / "trainer_state.json").is_file():
        raise ResumeError(
            f"resume={checkpoint}: not a checkpoint folder (no trainer_state.json). "
            "Give a folder like outputs/<name>/<time>/checkpoints/checkpoint-50, or resume=true")
    if checkpoint.parent.name != CHECKPOINTS:
        raise ResumeError(f"resume={checkpoint}: expected it inside a run's '{CHECKPOINTS}/' folder")
    return checkpoint.parent.parent


def resolve_run_dir(output_root: str, name: str, resume, stamp: str) -> str:
    flag = _resume_flag(resume)
    folder_name("name", name)  # `name=../x` would leave output_root; nor may it be too long for a folder
    can_make_folder(output_root, "output_root")  # Hydra makes the folder next: a file in the way is a traceback
    can_make_folder(Path(output_root) / name, "name")
    if flag is False:
        run_dir = Path(output_root) / name / stamp
        inside(output_root, run_dir, f"name={name}")  # nor may a link at <output_root>/<name>
        return str(run_dir)
    if flag is True:
        parent = Path(output_root) / name
        candidates = sorted(p for p in parent.glob("*") if p.is_dir() and (p / ".hydra").is_dir())
        unfinished = [p for p in candidates if not is_finished(p)]
        if not unfinished:
            raise ResumeError(
                f"resume=true: no unfinished run under {parent}/ to continue. "
                "Start a new run (resume=false) or give a checkpoint: resume=<path/to/checkpoint-N>")
        return str(unfinished[-1])
    return str(run_dir_of_checkpoint(Path(flag)))


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
        raise ResumeError(f"resume={checkpoint}: cannot resume from it: {problem}. Give an earlier "
                          "checkpoint-N of the same run, or resume=true to take the newest sound one")
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
