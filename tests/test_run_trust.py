"""Runs you can trust, in-process on tiny-random: one run = one folder (created atomically, locked while in
use, marked once training starts), a resume that refuses a changed configuration and records the safe
changes, and an interrupted run (SIGTERM, a kill during the final evaluation, a full disk during the
adapter save) that ends with the weights and metrics of the run that was never interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import RUN_VOLATILE_KEYS
from safetensors.torch import load_file
from transformers import TrainerCallback

from medft.config.compose import compose_train
from medft.config.errors import UserError
from medft.recipes.train import run
from medft.run.checkpoints import seal_problem
from medft.run.faults import Preempted
from medft.run.folders import resolve_run_dir
from medft.run.lock import RunFolderBusy
from medft.run.resume import ConfigChangedError
from medft.runtime.files import DiskFullError

pytestmark = pytest.mark.faults

ROOT = Path(__file__).resolve().parent.parent
STEPS = 4
RUN = (
    "model=tiny-random",
    "logger=none",
    f"training.max_steps={STEPS}",
    "training.batch_size=4",
    "hardware.micro_batch_size=4",
    "training.save_every_steps=1",
    "training.save_total_limit=10",
    "training.logging_steps=1",
    "training.eval_batch_size=16",
    "dataset.eval_limit=12",
    "dataset.max_samples=64",
    "eval.before=true",
    "eval.validation=false",
    "hardware.num_threads=1",
)
VOLATILE = RUN_VOLATILE_KEYS


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def config(cache, *overrides):
    return compose_train([*RUN, f"cache_dir={cache}", *overrides])


@pytest.fixture(scope="module")
def reference(cache, tmp_path_factory):
    """The run that was never interrupted: its metrics and its adapter's tensors."""
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    metrics = run(config(cache), run_dir)
    return metrics, load_file(str(run_dir / "adapter" / "adapter_model.safetensors"))


def comparable(metrics: dict) -> dict:
    return {
        k: ({n: v for n, v in value.items() if n not in VOLATILE} if k == "train" else value)
        for k, value in metrics.items()
        if k not in VOLATILE
    }


def assert_same_as_reference(metrics: dict, run_dir: Path, reference) -> None:
    ref_metrics, ref_weights = reference
    weights = load_file(str(run_dir / "adapter" / "adapter_model.safetensors"))
    assert weights.keys() == ref_weights.keys()
    assert all(torch.equal(weights[k], ref_weights[k]) for k in weights), "adapter tensors differ"
    assert comparable(metrics) == comparable(ref_metrics)
    assert comparable(json.loads((run_dir / "metrics.json").read_text())) == comparable(ref_metrics)
    assert metrics["train"]["steps"] == STEPS


class AtStep(TrainerCallback):
    def __init__(self, step: int, act):
        self.step, self.act = step, act

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            self.act()


def sigterm_at(step: int) -> AtStep:
    return AtStep(step, lambda: os.kill(os.getpid(), signal.SIGTERM))


def as_hydra_makes_it(output_root: Path, *args) -> Path:
    """The folder hydra.run.dir resolves to, with the .hydra/ Hydra writes into it before the job starts."""
    folder = Path(resolve_run_dir(str(output_root), "exp", *args))
    (folder / ".hydra").mkdir(parents=True, exist_ok=True)
    return folder


def files_of(run_dir: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(run_dir)): p.read_bytes()
        for p in sorted(run_dir.rglob("*"))
        if p.is_file() and not p.name.startswith(".medft.lock")
    }


# --- one run = one folder --------------------------------------------------------------------------


def test_two_runs_started_in_the_same_second_get_two_folders(tmp_path):
    """Two train.py processes resolve hydra.run.dir in the same second: each creates its own folder."""
    resolve = (
        "import sys; from medft.run.folders import resolve_run_dir; "
        "print(resolve_run_dir(sys.argv[1], 'exp', 'false', '2026-01-01_00-00-00'))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", resolve, str(tmp_path)],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    folders = sorted(proc.communicate(timeout=120)[0].strip() for proc in procs)
    assert [Path(f).name for f in folders] == ["2026-01-01_00-00-00", "2026-01-01_00-00-00_2", "2026-01-01_00-00-00_3"]
    assert all(Path(f).is_dir() for f in folders)
    first = resolve_run_dir(str(tmp_path), "exp", False, "2026-01-01_00-00-00")
    assert Path(first).name == "2026-01-01_00-00-00_4"
    assert resolve_run_dir(str(tmp_path), "exp", False, "2026-01-01_00-00-00") == first  # Hydra asks again: same


def test_a_second_process_on_a_run_folder_is_refused(cache, tmp_path):
    run_dir = tmp_path / "out" / "exp" / "2026-01-01_00-00-00"
    run_dir.mkdir(parents=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from medft.run.lock import claim; claim(sys.argv[1]); "
            "print('held', flush=True); time.sleep(120)",
            str(run_dir),
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunFolderBusy, match=rf"{run_dir} is in use by pid {holder.pid} on host ") as caught:
            run(config(cache), run_dir)
        assert "resume=false" in str(caught.value)
        assert not (run_dir / "started.json").exists() and not (run_dir / "data_stats.json").exists()
        (run_dir / "started.json").write_text("{}")  # as if it trains there: resume=true must not join it
        with pytest.raises(RunFolderBusy, match=f"pid {holder.pid}"):
            resolve_run_dir(str(tmp_path / "out"), "exp", True, "now")
    finally:
        holder.kill()
        holder.wait()
    assert resolve_run_dir(str(tmp_path / "out"), "exp", True, "now") == str(run_dir)  # its lock died with it


def test_resume_true_skips_dry_runs_and_refused_runs_and_ends_as_the_uninterrupted_run(
    cache, tmp_path, reference, caplog
):
    """Issue case 1: SIGTERM at a step, then a dry run and a run refused by validation under the same name:
    resume=true continues the interrupted run from its checkpoint, not the newer folders."""
    interrupted = as_hydra_makes_it(tmp_path, False, "2026-01-01_00-00-00")
    with pytest.raises(Preempted, match="after step 2"):
        run(config(cache), interrupted, callbacks=[sigterm_at(1)])
    dry = as_hydra_makes_it(tmp_path, False, "2026-01-01_00-00-01")
    assert run(config(cache, "dry_run=true"), dry) == {}
    refused = as_hydra_makes_it(tmp_path, False, "2026-01-01_00-00-02")
    with pytest.raises(UserError, match="batch_size"):
        run(config(cache, "training.batch_size=0"), refused)
    assert not (dry / "started.json").exists() and not (refused / "started.json").exists()

    assert resolve_run_dir(str(tmp_path), "exp", True, "now") == str(interrupted)
    with caplog.at_level("INFO"):
        metrics = run(config(cache, "resume=true"), interrupted)
    assert f"Resuming from checkpoint-2 (step 2 of {STEPS}) in {interrupted}" in caplog.text
    assert metrics["train"]["resumed_from"] == str(interrupted / "checkpoints" / "checkpoint-2")
    assert_same_as_reference(metrics, interrupted, reference)
    assert sorted(p.name for p in (dry.parent).iterdir()) == [interrupted.name, dry.name, refused.name]


def test_resume_refuses_changed_keys_and_records_the_safe_ones(cache, tmp_path):
    """Issue case 3: a key that changes the model, adapter, data or objective is refused before anything is
    written, naming old and new values and the command for a new run; a safe key is allowed and recorded."""
    run_dir = tmp_path / "run"
    with pytest.raises(Preempted):
        run(config(cache), run_dir, callbacks=[sigterm_at(1)])
    before = files_of(run_dir)

    with pytest.raises(ConfigChangedError) as caught:
        run(config(cache, "resume=true", "optimizer.lr=0.05", "peft_method.alpha=64"), run_dir)
    message = str(caught.value)
    assert "  optimizer.lr: 0.001 -> 0.05\n" in message and "  peft_method.alpha: 32 -> 64\n" in message
    assert "python train.py optimizer.lr=0.05 peft_method.alpha=64 resume=false" in message
    assert "training.max_steps" in message  # the keys that may change
    with pytest.raises(ConfigChangedError, match=r"peft_method\.r: 16 -> 4"):  # not a tensor size mismatch
        run(config(cache, "resume=true", "peft_method.r=4"), run_dir)
    assert files_of(run_dir) == before  # started.json, manifest, data reports, checkpoints: as they were

    metrics = run(config(cache, "resume=true", "dataset.eval_limit=6", "training.max_steps=5"), run_dir)
    assert metrics["train"]["steps"] == 5
    assert metrics["eval_before"]["test"]["n"] == metrics["eval_after"]["test"]["n"] == 6  # scored again: paired
    assert metrics["paired"]["test"]["n"] == 6
    manifest = json.loads((run_dir / "manifest.json").read_text())
    (resume,) = manifest["resumes"]
    assert resume["changed"] == {
        "dataset.eval_limit": {"old": 12, "new": 6},
        "training.max_steps": {"old": STEPS, "new": 5},
    }
    assert resume["from_checkpoint"].endswith("checkpoint-2") and resume["from_step"] == 2
    assert {k: v for k, v in manifest.items() if k != "resumes"} == json.loads(before["manifest.json"])
    assert (run_dir / "started.json").read_bytes() == before["started.json"]


# --- interrupted at the end: a kill during the final evaluation, a full disk during the adapter save ---


class Killed(BaseException):
    """What SIGKILL does to the recipe: nothing after that point runs (the OS drops the folder's lock)."""


def test_a_run_killed_during_the_final_evaluation_resumes_without_training_more(
    cache, tmp_path, reference, monkeypatch
):
    """Issue case 4: the resume starts from the checkpoint at max_steps and trains no further step."""
    import medft.recipes.train as recipe

    real = recipe.evaluate_all

    def killed_after_training(*args):
        if args[-1] == "after":
            raise Killed
        return real(*args)

    run_dir = tmp_path / "run"
    monkeypatch.setattr(recipe, "evaluate_all", killed_after_training)
    with pytest.raises(Killed):
        run(config(cache), run_dir)
    assert (run_dir / "adapter").is_dir() and not (run_dir / "metrics.json").exists()
    monkeypatch.setattr(recipe, "evaluate_all", real)
    metrics = run(config(cache, "resume=true"), run_dir)
    assert metrics["train"]["resumed_from"].endswith(f"checkpoint-{STEPS}")
    assert_same_as_reference(metrics, run_dir, reference)  # steps == max_steps, not one more


SAFETENSORS_DISK_FULL = "Error while serializing: I/O error: No space left on device (os error 28)"  # its text


def fill_the_disk_when(monkeypatch, writing):
    """PEFT's safetensors writer hits a full disk for the files `writing(path)` picks: half the file reaches
    the disk, then safetensors raises its own error (not an OSError), as it does on a full disk."""
    import peft.peft_model
    from safetensors import SafetensorError

    real = peft.peft_model.safe_save_file

    def save(tensors, filename, *args, **kwargs):
        real(tensors, filename, *args, **kwargs)
        if writing(Path(filename)):
            data = Path(filename).read_bytes()
            Path(filename).write_bytes(data[: len(data) // 2])
            raise SafetensorError(SAFETENSORS_DISK_FULL)

    monkeypatch.setattr(peft.peft_model, "safe_save_file", save)
    return lambda: monkeypatch.setattr(peft.peft_model, "safe_save_file", real)


def test_disk_full_during_the_adapter_save_exits_2_then_a_resume_ends_as_the_uninterrupted_run(
    cache, tmp_path, reference, monkeypatch, caplog
):
    """Issue case 5: exit 2 naming what was being written, no half adapter; space freed, resume=true finishes."""
    from medft.cli import guarded

    run_dir = tmp_path / "run"
    free_space = fill_the_disk_when(monkeypatch, lambda path: path.parent.name.startswith(".adapter.tmp"))
    with pytest.raises(SystemExit) as exited, caplog.at_level("ERROR"):
        guarded(lambda: run(config(cache), run_dir))
    assert exited.value.code == 2
    assert f"No space left on the device while writing {run_dir / 'adapter'}" in caplog.text
    assert "resume=true" in caplog.text and "SafetensorError" not in caplog.text
    assert not (run_dir / "adapter").exists() and not list(run_dir.glob(".adapter*"))  # nothing half-written
    assert seal_problem(run_dir / "checkpoints" / f"checkpoint-{STEPS}") is None

    free_space()
    metrics = run(config(cache, "resume=true"), run_dir)
    assert_same_as_reference(metrics, run_dir, reference)


def test_disk_full_during_a_checkpoint_save_removes_it_then_a_resume_ends_as_the_uninterrupted_run(
    cache, tmp_path, reference, monkeypatch
):
    run_dir = tmp_path / "run"
    free_space = fill_the_disk_when(monkeypatch, lambda path: path.parent.name == "checkpoint-2")
    with pytest.raises(DiskFullError, match=r"No space left.*checkpoint-1, is intact.*resume=true"):
        run(config(cache), run_dir)
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("*checkpoint-*")) == ["checkpoint-1"]

    free_space()
    metrics = run(config(cache, "resume=true"), run_dir)
    assert metrics["train"]["resumed_from"].endswith("checkpoint-1")
    assert_same_as_reference(metrics, run_dir, reference)


# --- what generate and export use: verified weights, a verified base-model cache, out= only -------


def copy_of(run_dir: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(run_dir, tmp_path / "run"))


def set_first_weight(adapter_file: Path, value: float) -> None:
    from safetensors.torch import save_file

    tensors = load_file(str(adapter_file))
    tensors[sorted(tensors)[0]].view(-1)[0] = value
    save_file(tensors, str(adapter_file), metadata={"format": "pt"})


def test_a_damaged_final_adapter_is_refused_by_generate_and_export(trained_tiny_run, tmp_path):
    """Issue case 6: one weight set to 3e38 (finite, absurd): the seal written with the adapter catches it."""
    from medft.config.compose import compose_named
    from medft.recipes import export, generate
    from medft.run.saved_model import DamagedWeightsError

    run_dir = copy_of(trained_tiny_run, tmp_path)
    adapter_file = run_dir / "adapter" / "adapter_model.safetensors"
    set_first_weight(adapter_file, 3e38)
    named = rf"{run_dir / 'adapter'}: adapter_model\.safetensors does not match its sha256"
    with pytest.raises(DamagedWeightsError, match=named) as caught:
        generate.run(compose_named("generate", [f"run_dir={run_dir}", "prompt=hi", "sampling.max_new_tokens=2"]))
    assert "resume=true" in str(caught.value)
    with pytest.raises(DamagedWeightsError, match=named):
        export.run(compose_named("export", [f"run_dir={run_dir}", "format=merged", f"out={tmp_path / 'm'}"]))
    assert not (tmp_path / "m").exists() and not (run_dir / "exports").exists()


def test_a_non_finite_adapter_without_a_seal_is_refused(trained_tiny_run, tmp_path):
    from medft.run.saved_model import DamagedWeightsError, run_weights

    run_dir = copy_of(trained_tiny_run, tmp_path)
    (run_dir / "adapter" / "medft_seal.json").unlink(missing_ok=True)  # as an older medft saved it
    run_weights(run_dir)  # sound
    set_first_weight(run_dir / "adapter" / "adapter_model.safetensors", float("nan"))
    with pytest.raises(DamagedWeightsError, match=r"adapter_model\.safetensors: tensor .* NaN or infinite"):
        run_weights(run_dir)


def test_export_out_writes_only_there(trained_tiny_run, tmp_path):
    from medft.config.compose import compose_named
    from medft.recipes import export

    run_dir = copy_of(trained_tiny_run, tmp_path)
    before = files_of(run_dir)
    out = export.run(compose_named("export", [f"run_dir={run_dir}", "format=merged", f"out={tmp_path / 'm'}"]))
    assert (out / "model.safetensors").is_file() and (out / "export.json").is_file()
    assert files_of(run_dir) == before and not (run_dir / "exports").exists()


def test_a_damaged_base_model_cache_is_rebuilt_not_used(tmp_path, caplog):
    from medft.models.resolve import cache_problem, resolve_model

    model_cfg = compose_train(["model=tiny-random"]).model
    folder = Path(resolve_model(model_cfg, tmp_path, seed=0).path)
    weights = folder / "model.safetensors"
    sound = weights.read_bytes()
    damaged = bytearray(sound)
    damaged[-5] ^= 0xFF
    weights.write_bytes(bytes(damaged))
    assert "model.safetensors does not match its sha256" in cache_problem(folder)
    with caplog.at_level("WARNING"):
        assert resolve_model(model_cfg, tmp_path, seed=0).path == str(folder)
    assert f"Cached model {folder} cannot be used: model.safetensors does not match its sha256" in caplog.text
    assert weights.read_bytes() == sound and cache_problem(folder) is None
