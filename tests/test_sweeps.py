"""Sweeps end to end on tiny-random: readable folders, sweep.json, skip / resume / rerun-failed
after a SIGKILL, parallel and SLURM-style launchers, an optuna search on the validation split,
and every experiment preset's every job composing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from medft.sweep.naming import folder_safe, job_name, quote_override_value, sweep_name

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "model=tiny-random",
    "logger=none",
    "training.batch_size=4",
    "hardware.micro_batch_size=4",
    "training.max_steps=2",
    "training.save_every_steps=2",
    "dataset.eval_limit=8",
    "dataset.max_samples=32",
    "eval.before=false",
]


def sweep(tmp_path: Path, *args: str, timeout: int = 300, wait: bool = True):
    given = {a.split("=", 1)[0] for a in args}
    tiny = [o for o in TINY if o.split("=", 1)[0] not in given]  # Hydra refuses a key given twice
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        "-m",
        f"output_root={tmp_path}/outputs",
        f"cache_dir={tmp_path}/cache",
        *tiny,
        *args,
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}
    if not wait:
        return subprocess.Popen(
            command,
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout)


def only_sweep_dir(tmp_path: Path, name: str = "builtin") -> Path:
    found = [p for p in (tmp_path / "outputs" / name / "multirun").iterdir() if p.is_dir()]
    assert len(found) == 1, found
    return found[0]


def assert_complete_run_folder(folder: Path) -> None:
    for part in (
        ".hydra/config.yaml",
        ".hydra/overrides.yaml",
        "manifest.json",
        "metrics.json",
        "train.log",
        "job.json",
        "adapter/adapter_config.json",
    ):
        assert (folder / part).exists(), f"{folder} lacks {part}"
    assert json.loads((folder / "job.json").read_text())["status"] == "finished"


# --- names -------------------------------------------------------------------------------------


def test_sweep_name_is_the_command_not_the_clock():
    a = sweep_name(["seed=1,2", "peft_method.r=4,8", "output_root=/x", "cache_dir=/c"])
    assert a == sweep_name(["peft_method.r=4,8", "seed=1,2"]) == "peft_method.r=4,8,seed=1,2"
    assert (
        sweep_name(["training.max_steps=40", "seed=1,2", "experiment=x"])
        == "experiment=x,seed=1,2,training.max_steps=40"
    )
    assert sweep_name([]) == "default"


def test_job_name_keeps_only_swept_values_sorted_by_key():
    job = ["training.max_steps=40", "quantization=nf4", "peft_method.r=8", "seed=1"]
    assert job_name(job, ["seed", "quantization", "peft_method.r"]) == "peft_method.r=8,quantization=nf4,seed=1"


def test_unsafe_and_long_names_stay_one_readable_path_component():
    assert folder_safe("dataset.path=/data/my file.jsonl") == "dataset.path=_data_my_file.jsonl"
    long = folder_safe("x" * 300)
    assert len(long) <= 120 and long != folder_safe("x" * 301)  # a hash keeps distinct names distinct
    assert quote_override_value("it's a/b") == "'it\\'s a/b'"


def test_sweep_folder_from_the_command_or_as_given():
    from medft.config.compose import compose_train
    from medft.sweep.sweeper import sweep_dir_of

    named = compose_train(["training.max_steps=40", "seed=3", "output_root=/o"], return_hydra_config=True)
    assert sweep_dir_of(named) == Path("/o/builtin/multirun/seed=3,training.max_steps=40")
    given = compose_train(["seed=3", "hydra.sweep.dir=/data/sweeps/mine"], return_hydra_config=True)
    assert sweep_dir_of(given) == Path("/data/sweeps/mine")


def test_slurm_launcher_config_is_submitit_slurm():
    from medft.config.compose import compose_train

    cfg = compose_train(["hydra/launcher=slurm", "hydra.launcher.partition=gpu"], return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith("SlurmLauncher")
    assert (cfg.hydra.launcher.partition, cfg.hydra.launcher.gpus_per_node, cfg.hydra.launcher.max_num_timeout) == (
        "gpu",
        1,
        3,
    )


def test_a_job_folder_holding_another_finished_job_is_refused(tmp_path):
    from medft.runtime.files import atomic_write_json
    from medft.sweep.jobs import JobFolderConflict, finished_metrics

    atomic_write_json(tmp_path / "job.json", {"status": "finished", "overrides": ["peft_method.r=8", "seed=1"]})
    atomic_write_json(tmp_path / "metrics.json", {"eval_after": {}})
    assert finished_metrics(tmp_path, ["seed=1", "peft_method.r=8"]) == {"eval_after": {}}
    with pytest.raises(JobFolderConflict, match="hydra.sweep.dir"):
        finished_metrics(tmp_path, ["peft_method.r=8", "seed=2"])


def test_wandb_groups_a_sweep_and_names_each_job(tmp_path):
    from medft.config.compose import compose_train
    from medft.run.loggers import wandb_environment

    cfg = compose_train(["logger=wandb", "name=abl"])
    env = wandb_environment(cfg, tmp_path / "sweep" / "seed=1", tmp_path / "sweep")
    assert env["WANDB_RUN_GROUP"] == "abl/sweep" and env["WANDB_NAME"] == "abl/sweep/seed=1"
    assert env["WANDB_DIR"] == str(tmp_path / "sweep" / "seed=1")
    assert "WANDB_RUN_GROUP" not in wandb_environment(cfg, tmp_path / "run", None)


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="Linux peak-memory reset")
def test_peak_memory_is_per_run_not_per_process():
    import numpy as np

    from medft.run.memory import peak_memory_mb, reset_peak_memory

    big = np.ones(400 * 2**20 // 8)  # 400 MB touched
    before = peak_memory_mb("cpu")
    del big
    reset_peak_memory("cpu")
    assert peak_memory_mb("cpu") < before - 300  # a later job of the same process starts from its own peak


# --- presets -----------------------------------------------------------------------------------


def preset_jobs(preset: str) -> list[list[str]]:
    """The job overrides the sweeper would launch for a preset, via Hydra's own grid expansion."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from medft.config.compose import compose_train

    cfg = compose_train([f"experiment={preset}"], return_hydra_config=True)
    params = [f"{k}={v}" for k, v in cfg.hydra.sweeper.params.items()]
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path

    from medft.config.compose import CONF_DIR

    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(CONF_DIR)))  # for glob(*)
    parsed = OverridesParser.create(config_loader=loader).parse_overrides(params)
    return BasicSweeper.split_arguments(parsed, None)[0]


@pytest.mark.parametrize("preset,n_jobs", [("qlora_ablation", 18), ("rank_ablation", 24), ("method_comparison", 30)])
def test_every_job_of_every_preset_composes_and_validates(preset, n_jobs):
    from medft.config.compose import compose_train
    from medft.config.validate import validate

    jobs = preset_jobs(preset)
    assert len(jobs) == n_jobs
    header = (ROOT / "conf" / "experiment" / f"{preset}.yaml").read_text()
    assert f"python train.py -m experiment={preset}" in header and "CPU" in header  # command + expected time
    configs = [compose_train([f"experiment={preset}", *job]) for job in jobs]
    for cfg in configs:
        validate(cfg)
        assert cfg.name == preset
    from omegaconf import OmegaConf

    distinct = {
        yaml.safe_dump(
            {
                "q": OmegaConf.to_container(c.quantization, enum_to_str=True),
                "p": OmegaConf.to_container(c.peft_method, enum_to_str=True),
                "seed": c.seed,
            }
        )
        for c in configs
    }
    assert len(distinct) == n_jobs  # no two jobs of a preset train the same thing


def test_rank_ablation_keeps_alpha_2r_or_fixed():
    from medft.config.compose import compose_train
    from medft.config.derived import lora_alpha

    scaled = compose_train(["experiment=rank_ablation", "peft_method.r=64", "peft_method.alpha_per_rank=2"])
    fixed = compose_train(["experiment=rank_ablation", "peft_method.r=64", "peft_method.alpha_per_rank=null"])
    assert (lora_alpha(scaled.peft_method), lora_alpha(fixed.peft_method)) == (128, 16)


def test_optimizing_a_test_split_is_refused():
    from medft.config.compose import compose_train
    from medft.config.errors import ConfigError
    from medft.config.validate import validate

    with pytest.raises(ConfigError, match="validation"):
        validate(compose_train(["optimized_metric=eval_after.test.acc"]))


# --- sweeps that run -----------------------------------------------------------------------------


def test_grid_sweep_folders_index_failure_and_rerun(tmp_path):
    # optimizer.lr=-1 fails inside the optimizer: a runtime failure, recorded, not fatal to the others.
    first = sweep(tmp_path, "peft_method.r=4,8", "optimizer.lr=0.001,-1")
    assert first.returncode == 1, first.stdout + first.stderr
    sweep_dir = only_sweep_dir(tmp_path)
    assert sweep_dir.name.startswith("optimizer.lr=0.001,-1,peft_method.r=4,8,dataset.eval_limit=8")
    index = json.loads((sweep_dir / "sweep.json").read_text())
    assert index["swept"] == ["peft_method.r", "optimizer.lr"]
    status = {j["name"]: j["status"] for j in index["jobs"]}
    assert status == {
        "optimizer.lr=0.001,peft_method.r=4": "finished",
        "optimizer.lr=-1,peft_method.r=4": "failed",
        "optimizer.lr=0.001,peft_method.r=8": "finished",
        "optimizer.lr=-1,peft_method.r=8": "failed",
    }
    failed = next(j for j in index["jobs"] if j["status"] == "failed")
    assert "learning rate" in failed["error"]["message"] and failed["wall_s"] > 0
    assert "Traceback" in (Path(failed["folder"]) / "error.txt").read_text()
    for name in ("optimizer.lr=0.001,peft_method.r=4", "optimizer.lr=0.001,peft_method.r=8"):
        assert_complete_run_folder(sweep_dir / name)
    finished_mtime = (sweep_dir / "optimizer.lr=0.001,peft_method.r=4" / "metrics.json").stat().st_mtime_ns

    again = sweep(tmp_path, "optimizer.lr=0.001,-1", "peft_method.r=4,8")  # argument order does not matter
    log = again.stdout + again.stderr
    assert again.returncode == 1 and "4 job(s), 2 already finished and skipped, 2 to run" in log
    assert only_sweep_dir(tmp_path) == sweep_dir
    assert (sweep_dir / "optimizer.lr=0.001,peft_method.r=4" / "metrics.json").stat().st_mtime_ns == finished_mtime
    rerun = sweep_dir / "optimizer.lr=-1,peft_method.r=4"
    assert (rerun / "attempts" / "1-failed" / "error.txt").is_file()  # the failed attempt is kept
    assert json.loads((rerun / "job.json").read_text())["attempt"] == 2

    from medft.recipes.report import write_report

    written = write_report([sweep_dir], tmp_path / "report")
    table = written["markdown"].read_text()
    assert "FAILED" in table and "2 job(s) failed" in table and "0 of 1 (1 failed)" in table


def test_sigkill_mid_sweep_then_rerun_finishes_only_the_missing_jobs(tmp_path):
    args = ["peft_method.r=2,4,8", "training.max_steps=60", "training.save_every_steps=5"]
    proc = sweep(tmp_path, *args, wait=False)
    deadline = time.time() + 240
    victim = None
    while time.time() < deadline and victim is None:
        for folder in (tmp_path / "outputs" / "builtin" / "multirun").glob(
            "*/peft_method.r=4/checkpoints/checkpoint-5"
        ):
            if (folder / "trainer_state.json").is_file():
                victim = folder.parents[1]
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert victim is not None, "job 2 never wrote a checkpoint"
    sweep_dir = victim.parent
    assert (sweep_dir / "peft_method.r=2" / "metrics.json").is_file()
    assert not (victim / "metrics.json").exists()
    index = __import__("medft.sweep.index", fromlist=["sweep_status"]).sweep_status(sweep_dir)
    assert {j["name"]: j["status"] for j in index["jobs"]} == {
        "peft_method.r=2": "finished",
        "peft_method.r=4": "interrupted",
        "peft_method.r=8": "pending",
    }
    done_mtime = (sweep_dir / "peft_method.r=2" / "metrics.json").stat().st_mtime_ns

    rerun = sweep(tmp_path, *args)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "3 job(s), 1 already finished and skipped, 2 to run" in rerun.stdout + rerun.stderr
    assert (sweep_dir / "peft_method.r=2" / "metrics.json").stat().st_mtime_ns == done_mtime
    resumed = json.loads((victim / "metrics.json").read_text())["train"]
    assert resumed["resumed_from"] and "checkpoint-" in resumed["resumed_from"] and resumed["steps"] == 60
    for name in ("peft_method.r=2", "peft_method.r=4", "peft_method.r=8"):
        assert_complete_run_folder(sweep_dir / name)


def test_submitit_local_two_jobs_complete_folders(tmp_path):
    result = sweep(tmp_path, "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10", "seed=1,2")
    assert result.returncode == 0, result.stdout + result.stderr
    sweep_dir = only_sweep_dir(tmp_path)
    assert sorted(p.name for p in sweep_dir.iterdir() if not p.name.startswith(".") and p.is_dir()) == [
        "seed=1",
        "seed=2",
    ]
    for name in ("seed=1", "seed=2"):
        assert_complete_run_folder(sweep_dir / name)
    index = json.loads((sweep_dir / "sweep.json").read_text())
    assert "submitit" in index["launcher"].lower() and index["counts"]["finished"] == 2
    a, b = (yaml.safe_load((sweep_dir / n / ".hydra" / "config.yaml").read_text()) for n in ("seed=1", "seed=2"))
    assert (a["seed"], b["seed"]) == (1, 2)


def test_submitit_job_preempted_by_sigusr2_saves_requeues_and_resumes(tmp_path):
    """SLURM's preemption notice as submitit asks for it (SIGUSR2) reaches a training job of a 2-job
    local submitit sweep: the job saves a checkpoint at the step's end, submitit requeues it, the new
    attempt resumes from that checkpoint, and sweep.json shows the requeue."""
    from medft.run.checkpoints import SEAL_FILE

    steps = 60
    proc = sweep(
        tmp_path,
        "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=60",  # submitit calls a signal in the first 80% of this a preemption
        "seed=1,2",
        f"training.max_steps={steps}",
        "training.save_every_steps=4",
        "hardware.num_threads=1",
        wait=False,
    )
    deadline = time.time() + 240
    sealed = []
    while not sealed:
        assert proc.poll() is None and time.time() < deadline, proc.communicate()[0][-3000:]
        sealed = list((tmp_path / "outputs" / "builtin" / "multirun").glob(f"*/seed=1/checkpoints/*/{SEAL_FILE}"))
        time.sleep(0.05)
    victim = sealed[0].parents[2]
    os.kill(json.loads((victim / "job.json").read_text())["pid"], signal.SIGUSR2)  # the job's own process
    output = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, output[-3000:]

    log = (victim / "train.log").read_text()
    assert "SIGUSR2 received (submitit's preemption notice)" in log and "submitit requeues this job" in log
    assert "this job is preempted" in log and "Requeued job" in log  # submitit's own lines
    stopped_at = int(log.split("SIGUSR2: checkpoint ")[1].split(" saved after step ")[1].split(";")[0])
    assert 0 < stopped_at < steps  # stopped mid-training, at a step boundary
    job = json.loads((victim / "job.json").read_text())
    assert (job["status"], job["attempt"], job["requeues"], job["resumed"]) == ("finished", 2, 1, True)
    train = json.loads((victim / "metrics.json").read_text())["train"]
    assert train["resumed_from"].endswith(f"checkpoint-{stopped_at}") and train["steps"] == steps
    index = json.loads((victim.parent / "sweep.json").read_text())
    assert {j["name"]: (j["status"], j["requeues"]) for j in index["jobs"]} == {
        "seed=1": ("finished", 1),
        "seed=2": ("finished", 0),
    }
    for name in ("seed=1", "seed=2"):
        assert_complete_run_folder(victim.parent / name)


def test_joblib_runs_jobs_in_parallel_with_split_threads(tmp_path):
    result = sweep(
        tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "peft_method.r=4,8", "logger=tensorboard"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    sweep_dir = only_sweep_dir(tmp_path)
    cores = os.cpu_count() or 1
    for name in ("peft_method.r=4", "peft_method.r=8"):
        assert_complete_run_folder(sweep_dir / name)
        cfg = yaml.safe_load((sweep_dir / name / ".hydra" / "config.yaml").read_text())
        assert cfg["hardware"]["num_threads"] is None  # the saved config is the user's; the split is logged
        assert f"{max(1, cores // 2)} torch thread(s) per job" in (sweep_dir / name / "train.log").read_text()
        # one tensorboard run per job: `tensorboard --logdir <sweep folder>` browses the sweep
        assert list((sweep_dir / name / "tensorboard").glob("events.out.tfevents.*"))


def test_optuna_two_trials_optimize_validation(tmp_path):
    result = sweep(tmp_path, "hparams_search=optuna", "hydra.sweeper.n_trials=2", "name=search")
    assert result.returncode == 0, result.stdout + result.stderr
    study = tmp_path / "outputs" / "search" / "multirun" / "optuna_search_search"
    trials = sorted(p for p in study.iterdir() if p.name.startswith("trial_"))
    assert [t.name for t in trials] == ["trial_0", "trial_1"]
    configs = [yaml.safe_load((t / ".hydra" / "config.yaml").read_text()) for t in trials]
    searched = [
        (c["optimizer"]["lr"], c["peft_method"]["r"], c["peft_method"]["alpha"], c["peft_method"]["dropout"])
        for c in configs
    ]
    assert searched[0] != searched[1]
    values = []
    for trial in trials:
        assert_complete_run_folder(trial)
        metrics = json.loads((trial / "metrics.json").read_text())
        values.append(metrics["eval_after"]["validation"]["acc"])
    best = yaml.safe_load((study / "optimization_results.yaml").read_text())
    assert best["best_value"] == max(values)  # the objective is the validation split's accuracy
    assert json.loads((study / "sweep.json").read_text())["counts"]["finished"] == 2

    # The same command with one more trial: the seeded sampler proposes the same first two, which
    # are read back from their folders, and only the third trains.
    mtimes = [(t / "metrics.json").stat().st_mtime_ns for t in trials]
    more = sweep(tmp_path, "hparams_search=optuna", "hydra.sweeper.n_trials=3", "name=search")
    assert more.returncode == 0, more.stdout + more.stderr
    assert (more.stdout + more.stderr).count("Already finished") == 2
    assert [(t / "metrics.json").stat().st_mtime_ns for t in trials] == mtimes
    assert_complete_run_folder(study / "trial_2")
