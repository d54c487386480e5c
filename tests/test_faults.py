"""Fault injection on tiny-random: each fault of issue 11 is caused for real and its promised outcome
checked (the message, the files left behind, the exit code, a resume that finishes)."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from transformers import TrainerCallback

from medft.recipes.train import run
from medft.run.checkpoints import SEAL_FILE, seal_problem
from medft.run.faults import NonFiniteLossError, Preempted, TrainingOutOfMemory
from medft.run.folders import ResumeError, resume_checkpoint
from medft.run.manifest import DataChangedError
from medft.runtime.files import DiskFullError, atomic_save_dir, atomic_write_json

pytestmark = pytest.mark.faults

ROOT = Path(__file__).resolve().parent.parent
QUICK = (
    "eval.before=false",
    "eval.after=false",
    "eval.validation=false",
    "training.save_every_steps=1",
    "training.save_total_limit=5",
    "training.logging_steps=1",
)


def quick(tiny_cfg, *overrides):
    return tiny_cfg(*QUICK, *overrides)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def checkpoint_names(run_dir: Path) -> list[str]:
    """The checkpoint folders (the trainer also writes a README.md model card next to them)."""
    return sorted(p.name for p in (run_dir / "checkpoints").glob("*checkpoint-*"))


class AtStep(TrainerCallback):
    """Runs `act(model)` at the start of the step after `step` completed steps."""

    def __init__(self, step: int, act):
        self.step, self.act = step, act

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step == self.step:
            self.act(model)


def hook_embeddings(model, output):
    """From now on the embedding layer returns `output(embeddings)`: a fault inside the train step."""
    model.get_input_embeddings().register_forward_hook(lambda module, inputs, out: output(out))


# --- crash-safe writes and a full disk ---------------------------------------------------------


def test_disk_full_in_an_atomic_write_keeps_the_previous_file(tmp_path, monkeypatch):
    target = atomic_write_json(tmp_path / "metrics.json", {"old": 1})

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(DiskFullError, match=r"No space left.*metrics.json.*previous metrics.json is unchanged"):
        atomic_write_json(target, {"new": 2})
    assert json.loads(target.read_text()) == {"old": 1}
    assert names(tmp_path) == ["metrics.json"]  # no temporary left behind


def test_disk_full_while_saving_an_adapter_keeps_the_previous_one(tmp_path):
    atomic_save_dir(tmp_path / "adapter", lambda d: (d.mkdir(), (d / "w").write_text("old")))

    def half_then_full(folder):
        folder.mkdir()
        (folder / "w").write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(DiskFullError, match="previous adapter is unchanged"):
        atomic_save_dir(tmp_path / "adapter", half_then_full)
    assert (tmp_path / "adapter" / "w").read_text() == "old" and names(tmp_path) == ["adapter"]


def test_disk_full_during_a_checkpoint_save(tiny_cfg, tmp_path, monkeypatch):
    """The trainer's own save runs out of space at checkpoint-2: a clear error, checkpoint-1 intact
    and sealed, no half checkpoint-2, and a resume continues from checkpoint-1."""
    from transformers import Trainer

    original = Trainer._save_optimizer_and_scheduler

    def fill_up(self, output_dir):
        if output_dir.endswith("checkpoint-2"):
            raise OSError(errno.ENOSPC, "No space left on device", output_dir + "/optimizer.pt")
        return original(self, output_dir)

    monkeypatch.setattr(Trainer, "_save_optimizer_and_scheduler", fill_up)
    run_dir = tmp_path / "run"
    with pytest.raises(DiskFullError, match=r"No space left.*checkpoint-1, is intact.*resume=true") as caught:
        run(quick(tiny_cfg, "training.max_steps=3"), run_dir)
    assert "Traceback" not in str(caught.value)
    assert checkpoint_names(run_dir) == ["checkpoint-1"]
    assert seal_problem(run_dir / "checkpoints" / "checkpoint-1") is None
    assert not (run_dir / "metrics.json").exists() and not (run_dir / "adapter").exists()

    monkeypatch.setattr(Trainer, "_save_optimizer_and_scheduler", original)  # space freed
    metrics = run(quick(tiny_cfg, "training.max_steps=3", "resume=true"), run_dir)
    assert metrics["train"]["resumed_from"].endswith("checkpoint-1") and metrics["train"]["steps"] == 3


def test_disk_full_while_writing_a_checkpoint_seal(tiny_cfg, tmp_path, monkeypatch):
    """The last file of a checkpoint, its seal, does not fit: the unsealed checkpoint-2 is removed."""
    import medft.run.checkpoints as checkpoints

    original = checkpoints.atomic_write_json

    def enospc(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def full_at_the_second_seal(path, obj):
        if path.parent.name != "checkpoint-2":
            return original(path, obj)
        with monkeypatch.context() as patch:
            patch.setattr(os, "fsync", enospc)
            return original(path, obj)

    monkeypatch.setattr(checkpoints, "atomic_write_json", full_at_the_second_seal)
    run_dir = tmp_path / "run"
    with pytest.raises(DiskFullError, match=r"writing .*checkpoints \(No space left.*checkpoint-1, is intact"):
        run(quick(tiny_cfg, "training.max_steps=3"), run_dir)
    assert checkpoint_names(run_dir) == ["checkpoint-1"]


# --- resume past a damaged checkpoint ----------------------------------------------------------


def truncate(path: Path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_a_byte(path: Path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def unseal(checkpoint: Path):
    (checkpoint / SEAL_FILE).unlink()  # what a kill during the trainer's save leaves


@pytest.fixture(scope="module")
def three_checkpoints(tmp_path_factory):
    """A finished 3-step run with checkpoint-1..3; tests copy it before damaging it."""
    from conftest import TINY

    from medft.config.compose import compose_train

    root = tmp_path_factory.mktemp("three")
    run(compose_train(TINY + [f"cache_dir={root / 'cache'}", *QUICK, "training.max_steps=3"]), root / "run")
    return root / "run"


@pytest.mark.parametrize(
    "damage, why",
    [
        (lambda c: truncate(c / "adapter_model.safetensors"), "truncated"),
        (lambda c: flip_a_byte(c / "optimizer.pt"), "sha256"),
        (unseal, "did not finish"),
    ],
)
def test_resume_skips_a_damaged_checkpoint_and_says_why(three_checkpoints, tmp_path, caplog, damage, why):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(three_checkpoints, run_dir)
    (run_dir / "metrics.json").unlink()  # an interrupted run
    damage(run_dir / "checkpoints" / "checkpoint-3")
    with caplog.at_level("WARNING"):
        found = resume_checkpoint(run_dir, True)
    assert found == run_dir / "checkpoints" / "checkpoint-2"
    assert "Not resuming from checkpoint-3" in caplog.text and why in caplog.text
    assert "falling back to the previous checkpoint" in caplog.text
    assert checkpoint_names(run_dir) == ["checkpoint-1", "checkpoint-2", "rejected-checkpoint-3"]
    with pytest.raises(ResumeError, match=why):  # named explicitly: refused, not silently replaced
        resume_checkpoint(run_dir, str(run_dir / "checkpoints" / "rejected-checkpoint-3"))


def test_a_run_resumed_past_a_truncated_checkpoint_finishes(three_checkpoints, tiny_cfg, tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(three_checkpoints, run_dir)
    (run_dir / "metrics.json").unlink()
    truncate(run_dir / "checkpoints" / "checkpoint-3" / "adapter_model.safetensors")
    metrics = run(quick(tiny_cfg, "training.max_steps=3", "resume=true"), run_dir)
    assert metrics["train"]["resumed_from"].endswith("checkpoint-2") and metrics["train"]["steps"] == 3
    assert seal_problem(run_dir / "checkpoints" / "checkpoint-3") is None  # written again, whole


def test_rotation_deletes_old_checkpoints_only_after_sealing(tiny_cfg, tmp_path):
    run_dir = tmp_path / "run"
    run(quick(tiny_cfg, "training.max_steps=3", "training.save_total_limit=2"), run_dir)
    assert checkpoint_names(run_dir) == ["checkpoint-2", "checkpoint-3"]
    assert all(seal_problem(c) is None for c in (run_dir / "checkpoints").glob("checkpoint-*"))


# --- NaN / inf loss -----------------------------------------------------------------------------


@pytest.mark.parametrize("poison", [float("nan"), float("inf")])
def test_non_finite_loss_stops_before_the_step_and_keeps_the_last_good_checkpoint(tiny_cfg, tmp_path, poison):
    import torch
    from safetensors.torch import load_file

    run_dir = tmp_path / "run"
    bad_activations = AtStep(2, lambda model: hook_embeddings(model, lambda out: out * poison))
    with pytest.raises(NonFiniteLossError) as caught:
        run(quick(tiny_cfg, "training.max_steps=4", "optimizer.lr=1e-3"), run_dir, callbacks=[bad_activations])
    message = str(caught.value)
    assert "step 3 of 4" in message and "NaN or infinite" in message
    assert "optimizer.lr=0.0001" in message  # the learning-rate fix, a tenth of the rate used
    assert f"{run_dir / 'checkpoints' / 'checkpoint-2'}" in message and "resume=true" in message
    assert checkpoint_names(run_dir) == ["checkpoint-1", "checkpoint-2"]
    weights = load_file(str(run_dir / "checkpoints" / "checkpoint-2" / "adapter_model.safetensors"))
    assert all(torch.isfinite(w).all() for w in weights.values())
    assert not (run_dir / "metrics.json").exists()


# --- out of memory ------------------------------------------------------------------------------


@pytest.mark.parametrize("error", ["torch", "python"])
def test_out_of_memory_names_the_planner_overrides(tiny_cfg, tmp_path, error):
    import torch

    from medft.hardware.fit import overrides_after_oom

    def oom(out):
        raise (
            torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            if error == "torch"
            else MemoryError()
        )

    cfg = quick(tiny_cfg, "training.max_steps=3")
    run_dir = tmp_path / "run"
    with pytest.raises(TrainingOutOfMemory) as caught:
        run(cfg, run_dir, callbacks=[AtStep(1, lambda model: hook_embeddings(model, oom))])
    message = str(caught.value)
    _, fix = overrides_after_oom(cfg)
    assert fix, "the planner should find an override for 20% less than its estimate"
    assert (
        "Out of memory at step 2" in message
        and f"memory planner's choice for less memory than it planned: {' '.join(fix)}." in message
    )
    assert "checkpoint-1" in message and "resume=true" in message
    assert checkpoint_names(run_dir) == ["checkpoint-1"]


# --- the data changed since the run started -----------------------------------------------------


def test_resume_refuses_data_changed_since_the_run_started(tiny_cfg, tmp_path):
    data = tmp_path / "data.jsonl"
    rows = [{"prompt": f"What is {i} + {i}?", "response": str(2 * i)} for i in range(40)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    overrides = ("dataset=jsonl", f"dataset.path={data}", "training.max_steps=2")
    run_dir = tmp_path / "run"
    interrupted = AtStep(1, lambda model: os.kill(os.getpid(), signal.SIGTERM))
    with pytest.raises(Preempted):
        run(quick(tiny_cfg, *overrides), run_dir, callbacks=[interrupted])
    before = json.loads((run_dir / "manifest.json").read_text())["data"]["fingerprint"]

    rows[3]["response"] = "seven"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataChangedError) as caught:
        run(quick(tiny_cfg, *overrides, "resume=true"), run_dir)
    message = str(caught.value)
    assert before in message and str(data) in message and "resume=false" in message
    after = message.split("the data now gives ")[1].split(".")[0]
    assert len(after) == 64 and after != before
    assert json.loads((run_dir / "manifest.json").read_text())["data"]["fingerprint"] == before  # untouched


# --- SIGTERM ------------------------------------------------------------------------------------


def test_sigterm_saves_at_the_step_boundary_then_a_resume_finishes(tiny_cfg, tmp_path):
    run_dir = tmp_path / "run"
    cfg = quick(tiny_cfg, "training.max_steps=4", "training.save_every_steps=100")  # no scheduled save before 4
    terminate = AtStep(1, lambda model: os.kill(os.getpid(), signal.SIGTERM))  # arrives during step 2
    with pytest.raises(Preempted, match=r"after step 2.*checkpoint-2.*Exit code 75.*resume=true"):
        run(cfg, run_dir, callbacks=[terminate])
    assert checkpoint_names(run_dir) == ["checkpoint-2"]
    assert seal_problem(run_dir / "checkpoints" / "checkpoint-2") is None
    assert not (run_dir / "metrics.json").exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is only armed while training

    metrics = run(quick(tiny_cfg, "training.max_steps=4", "training.save_every_steps=100", "resume=true"), run_dir)
    assert metrics["train"]["resumed_from"].endswith("checkpoint-2") and metrics["train"]["steps"] == 4


def _train(args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=ROOT,
        env=env,
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
    )


def test_sigterm_to_train_py_exits_75_and_a_requeue_resumes(tmp_path):
    """The scheduler's view: SIGTERM -> exit code 75 with a sealed checkpoint; the same command with
    resume=true finishes."""
    from conftest import TINY

    args = [
        *TINY,
        *QUICK,
        f"cache_dir={tmp_path / 'cache'}",
        f"output_root={tmp_path / 'out'}",
        "name=job",
        "training.max_steps=40",
        "hardware.num_threads=1",
    ]
    proc = _train([*args, "resume=false"], tmp_path / "first.log")
    deadline = time.time() + 240
    while not list((tmp_path / "out").glob(f"job/*/checkpoints/checkpoint-*/{SEAL_FILE}")):
        assert proc.poll() is None and time.time() < deadline, (tmp_path / "first.log").read_text()[-3000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 75, (tmp_path / "first.log").read_text()[-3000:]
    log = (tmp_path / "first.log").read_text()
    assert "SIGTERM received" in log and "requeue the same command with resume=true" in log
    assert "Traceback" not in log
    (run_dir,) = (tmp_path / "out" / "job").iterdir()
    stopped_at = max(int(p.name.split("-")[1]) for p in (run_dir / "checkpoints").glob("checkpoint-*"))
    assert stopped_at < 40 and seal_problem(run_dir / "checkpoints" / f"checkpoint-{stopped_at}") is None

    proc = _train([*args, "resume=true"], tmp_path / "second.log")
    assert proc.wait(timeout=600) == 0, (tmp_path / "second.log").read_text()[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["train"]["resumed_from"].endswith(f"checkpoint-{stopped_at}") and metrics["train"]["steps"] == 40


# --- SIGKILL at random moments (the acceptance script, on tiny-random) ---------------------------


@pytest.mark.slow
def test_sigkill_at_random_moments_resumes_to_the_same_weights_and_losses(tmp_path):
    sys.path.insert(0, str(ROOT / "perf"))
    try:
        from kill_resume import kill_resume
    finally:
        sys.path.remove(str(ROOT / "perf"))
    result = kill_resume(
        "tiny-random",
        steps=12,
        kills=3,
        out=tmp_path,
        seed=1,
        batch=4,
        extra=["dataset.max_samples=64", f"cache_dir={tmp_path / 'cache'}"],
    )
    assert result["kills_landed"] == 3
    assert result["max_abs_weight_diff"] < 1e-5 and result["max_abs_loss_diff"] < 1e-5
    assert result["steps_compared"] == 12


def test_an_export_killed_halfway_leaves_the_previous_export_whole(tmp_path, monkeypatch):
    """gguf/onnx exports are built beside their folder and renamed in: a failure mid-export keeps the old one."""
    from medft.recipes import export as recipe

    out = tmp_path / "exports" / "onnx"
    out.mkdir(parents=True)
    (out / "export.json").write_text('{"format": "onnx", "files": ["model.onnx"]}')
    (out / "model.onnx").write_bytes(b"previous export")

    def dies_halfway(cfg, merged, folder):
        (folder / "model.onnx").write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(recipe, "_export_onnx", dies_halfway)
    monkeypatch.setattr(recipe, "merge_and_save", lambda run_dir, out, cache_dir: tmp_path / "merged")
    monkeypatch.setattr(
        recipe,
        "run_weights",
        lambda run_dir: type(
            "W",
            (),
            {
                "run_dir": tmp_path,
                "train_cfg": type("C", (), {"cache_dir": str(tmp_path)})(),
                "model_cfg": {"architecture": "causal"},
            },
        )(),
    )
    from medft.config.compose import compose_named

    cfg = compose_named("export", [f"run_dir={tmp_path}", "format=onnx", f"out={out}"])
    with pytest.raises(OSError, match="No space left"):
        recipe.run(cfg)
    assert (out / "model.onnx").read_bytes() == b"previous export"
    assert sorted(p.name for p in out.parent.iterdir()) == ["onnx"]  # no staging folder left behind
