"""What a run tells its user: loss lines in train.log, a closing summary table, no progress-bar `\\r`
or unactionable warnings in a log file, and on a resume one continuous TensorBoard / W&B run."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from conftest import TINY, tiny_llama
from transformers import TrainerCallback

from medft.builders import training_arguments
from medft.data.records import Record
from medft.evaluation.multiple_choice import score_multiple_choice
from medft.recipes.train import run
from medft.runtime import progress
from medft.runtime.notices import BNB_LOGGER, silence_unactionable_notices

ROOT = Path(__file__).resolve().parent.parent
NUMBER = r"\d+(?:\.\d+)?(?:e[-+]?\d+)?"
INTERVAL = rf"{NUMBER} \[{NUMBER}, {NUMBER}\]"
# The closing table's last column (medft.evaluation.baselines.verdict_cell).
VERSUS_MAJORITY = r"(?:COLLAPSE, )?(?:better|no better|less accurate|no more accurate|not significantly more accurate)"


# --- a run whose output goes to a file ---------------------------------------------------------


@pytest.fixture(scope="module")
def file_run(tmp_path_factory):
    """train.py with stdout and stderr in a file, as under a scheduler: (run folder, captured bytes)."""
    root = tmp_path_factory.mktemp("file-run")
    args = [
        *TINY,
        f"cache_dir={root / 'cache'}",
        f"output_root={root / 'out'}",
        "name=logs",
        "training.logging_steps=1",
        "dataset.eval_limit=6",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    with open(root / "stdout.txt", "w") as out:
        result = subprocess.run(
            [sys.executable, str(ROOT / "train.py"), *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=600,
        )
    captured = (root / "stdout.txt").read_bytes()
    assert result.returncode == 0, captured[-3000:].decode()
    (run_dir,) = (root / "out" / "logs").iterdir()
    return run_dir, captured


def test_no_progress_bar_redraws_in_a_log_file(file_run):
    run_dir, captured = file_run
    # Bytes: reading text would turn each `\r` into a newline.
    assert b"\r" not in captured and b"\r" not in (run_dir / "train.log").read_bytes()


def test_no_python_warnings_on_a_default_run(file_run):
    output = file_run[1].decode()
    assert [line for line in output.splitlines() if re.search(r"\w+Warning: ", line)] == []


def test_each_logging_step_is_a_line_in_train_log(file_run):
    run_dir, captured = file_run
    train_log = (run_dir / "train.log").read_text()
    for step in (1, 2):
        assert re.search(
            rf"step {step}/2: loss {NUMBER}, lr {NUMBER}, grad norm {NUMBER}, .*, \d+ tokens/s$",
            train_log,
            re.MULTILINE,
        ), train_log[-3000:]
    assert b"'train_runtime'" not in captured  # transformers' printed log dicts: replaced by these lines


def test_the_run_ends_with_a_summary_table(file_run):
    run_dir, captured = file_run
    train_log = (run_dir / "train.log").read_text()
    assert "Finished. Scores before -> after training:" in train_log
    for name in ("test", "control"):
        assert re.search(
            rf"^{name}\s+6\s+acc\s+{INTERVAL}\s+->\s+{INTERVAL}\s+{NUMBER}\s+{VERSUS_MAJORITY}$",
            train_log,
            re.MULTILINE,
        )
    assert re.search(rf"^validation\s+6\s+acc\s+-\s+->\s+{INTERVAL}\s+-\s+{VERSUS_MAJORITY}$", train_log, re.MULTILINE)
    assert re.search(
        r"^Training: 2 steps, \d+ tokens at \d+ tokens/s in .*; wall clock .*; peak memory \d+ MB$",
        train_log,
        re.MULTILINE,
    )
    assert train_log.rstrip().endswith(f"Run folder: {run_dir}")
    assert f"Run folder: {run_dir}".encode() in captured  # the console shows the same lines


def test_the_summary_shows_each_tasks_headline_and_benchmarks():
    """Generative tasks have no `acc`: their headline (exact match here) is shown with its interval;
    a benchmark scored before and after gets a row with its paired p-value; a skipped one none."""
    from medft.run.run_summary import run_summary

    def scored(value, low, high, key="acc"):
        return {"n": 40, key: value, f"{key}_ci95": [low, high]}

    metrics = {
        "eval_before": {"test": scored(0.1, 0.04, 0.23, "exact_match")},
        "eval_after": {"test": scored(0.35, 0.22, 0.5, "exact_match")},
        "benchmarks_before": {"pubmedqa": scored(0.5, 0.35, 0.65), "medqa": {"skipped": "no data"}},
        "benchmarks_after": {"pubmedqa": scored(0.6, 0.45, 0.74), "medqa": {"skipped": "no data"}},
        "paired": {"test": {"p_value": 0.0041}, "benchmark:pubmedqa": {"p_value": 0.27}},
        "train": {"steps": 10, "tokens": 5000, "tokens_per_s": 250.0, "wall_s": 20.0, "peak_mem_mb": 700.0},
        "run_wall_s": 125.0,
    }
    lines = run_summary(metrics, Path("outputs/x/t")).splitlines()
    assert re.split(r"\s{2,}", lines[2]) == [
        "test",
        "40",
        "exact_match",
        "0.100 [0.040, 0.230]",
        "->",
        "0.350 [0.220, 0.500]",
        "0.0041",
        "-",  # no label summary: a generative task has no majority class
    ]
    assert re.split(r"\s{2,}", lines[3]) == [
        "benchmark:pubmedqa",
        "40",
        "acc",
        "0.500 [0.350, 0.650]",
        "->",
        "0.600 [0.450, 0.740]",
        "0.27",
        "-",
    ]
    assert lines[4:] == [
        "Training: 10 steps, 5000 tokens at 250 tokens/s in 20.0 s; wall clock 2m05s; peak memory 700 MB",
        "Run folder: outputs/x/t",
    ]


# --- progress bars follow the terminal ---------------------------------------------------------


def test_progress_auto_draws_bars_only_when_output_is_a_terminal(tiny_cfg, tmp_path):
    leader, follower = os.openpty()
    saved = sys.stdout, sys.stderr
    with os.fdopen(follower, "w") as terminal, open(tmp_path / "run.log", "w") as log_file:
        try:
            sys.stdout = sys.stderr = terminal
            on_terminal = progress.bars_wanted("auto"), progress.bars_wanted("never")
            sys.stdout = log_file  # e.g. `python train.py > run.log`
            into_file = progress.bars_wanted("auto"), progress.bars_wanted("always")
        finally:
            sys.stdout, sys.stderr = saved
    os.close(leader)
    assert on_terminal == (True, False) and into_file == (False, True)
    # The trainer's own bar follows the same setting (here stdout is pytest's capture, not a terminal).
    args = {
        p: training_arguments(tiny_cfg(f"progress={p}"), tmp_path, 1)["disable_tqdm"]
        for p in ("auto", "always", "never")
    }
    assert args == {"auto": True, "always": False, "never": True}


def test_progress_auto_keeps_bars_in_a_notebook(tmp_path, monkeypatch):
    """medft.api runs in notebooks, whose output is no terminal but whose bars are widgets."""
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))  # IPython's profile folders go here
    from traitlets.config import Config

    config = Config()
    config.IPKernelApp.parent_handle = 0  # the section a Jupyter kernel's app adds to its shell's config
    config.HistoryManager.enabled = False  # no history database
    saved = sys.stdout
    with open(tmp_path / "out.txt", "w") as not_a_terminal:
        try:
            sys.stdout = not_a_terminal
            plain = progress.bars_wanted("auto")
            InteractiveShell.instance(config=config)
            try:
                in_kernel = progress.bars_wanted("auto")
            finally:
                InteractiveShell.clear_instance()
        finally:
            sys.stdout = saved
    assert (plain, in_kernel) == (False, True)


def test_progress_switch_covers_medfts_scoring_bars(monkeypatch, capsys):
    monkeypatch.setitem(progress._shown, "bars", progress.bars_on())  # restored after the test
    model, tokenizer = tiny_llama()
    records = [
        Record(question="Antidote for opioids?", answer="naloxone", options=("naloxone", "atropine"), answer_index=0)
    ]
    for mode, drawn in (("always", True), ("never", False)):
        progress.set_progress(mode)
        score_multiple_choice(model.eval(), tokenizer, records, None, 128, desc="scoring-bar")
        assert ("scoring-bar" in capsys.readouterr().err) == drawn, mode


# --- warnings a user cannot act on -------------------------------------------------------------


def test_unactionable_notices_are_silenced_narrowly(caplog):
    """The bitsandbytes kernels notice (as bitsandbytes 0.50 logs it at import on AVX512-BF16 CPUs) is
    dropped on runs without quantization only; peft's deprecated-property FutureWarning always; any
    other message of the same logger or category still shows."""
    bnb = logging.getLogger(BNB_LOGGER)
    notice = (
        "Failed to load CPU gemm_4bit_forward from kernels-community: %s. Please make sure you already "
        "`pip install kernels` and the kernels >= 0.11.1"
    )
    try:
        silence_unactionable_notices("none")
        with caplog.at_level(logging.WARNING, logger=BNB_LOGGER):
            bnb.warning(notice, "No module named 'kernels'")
            bnb.warning("another bitsandbytes warning")
        assert [r.getMessage() for r in caplog.records] == ["another bitsandbytes warning"]
        caplog.clear()
        silence_unactionable_notices("nf4")  # a 4-bit run: the notice names a possible speed-up
        with caplog.at_level(logging.WARNING, logger=BNB_LOGGER):
            bnb.warning(notice, "No module named 'kernels'")
        assert len(caplog.records) == 1 and "gemm_4bit_forward" in caplog.records[0].getMessage()
    finally:
        silence_unactionable_notices("nf4")  # leaves the logger as it was

    matmul = logging.getLogger("bitsandbytes.autograd._functions")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=matmul.name):
        for _ in range(3):  # as an int8 run's every 8-bit forward logs it
            matmul.warning("MatMul8bitLt: inputs will be cast from %s to float16 during quantization", "torch.float32")
        matmul.warning("another matmul warning")
    shown = [r.getMessage() for r in caplog.records]
    assert len(shown) <= 2 and shown[-1] == "another matmul warning"  # once a process at most

    model, _ = tiny_llama()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        silence_unactionable_notices("none")
        assert model.is_gradient_checkpointing is False  # what peft reads: transformers warns here
        warnings.warn("something else is deprecated", FutureWarning, stacklevel=1)
    assert [str(w.message) for w in seen] == ["something else is deprecated"]


# --- resume: one continuous logger run ---------------------------------------------------------


class Interrupt(Exception):
    pass


class StopAfterLogging(TrainerCallback):
    """Raises once step `step` is logged (the loggers come first): a crash after the last checkpoint."""

    def __init__(self, step: int):
        self.step = step

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.global_step == self.step and "loss" in (logs or {}):
            raise Interrupt


RESUMED = (
    "training.max_steps=4",
    "training.save_every_steps=2",
    "training.logging_steps=1",
    "eval.validation=false",
    "dataset.eval_limit=6",
)


def interrupted_then_resumed(root: Path, logger: str, between=lambda: None) -> Path:
    """A run stopped after logging step 3 (checkpoint at 2), then resumed to step 4: its folder."""
    from medft.config.compose import compose_train

    def cfg(*extra):
        return compose_train([*TINY, f"cache_dir={root / 'cache'}", f"logger={logger}", *RESUMED, *extra])

    run_dir = root / "run"
    with pytest.raises(Interrupt):
        run(cfg(), run_dir, callbacks=[StopAfterLogging(3)])
    between()
    metrics = run(cfg("resume=true"), run_dir)
    assert metrics["train"]["resumed_from"].endswith("checkpoint-2") and metrics["train"]["steps"] == 4
    return run_dir


@pytest.fixture(scope="module")
def tensorboard_resumed(tmp_path_factory):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = interrupted_then_resumed(tmp_path_factory.mktemp("tb"), "tensorboard")
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    return run_dir, events


def test_resumed_tensorboard_run_has_one_step_axis(tensorboard_resumed):
    run_dir, events = tensorboard_resumed
    # Step 3 was logged, then lost with the interrupted attempt: trained and logged again, shown once.
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2, 3, 4]
    assert len(list((run_dir / "tensorboard").iterdir())) == 2  # one event file per attempt


def test_resumed_tensorboard_token_count_continues(tensorboard_resumed):
    run_dir, events = tensorboard_resumed
    tokens = [e.value for e in events.Scalars("train/num_tokens")]
    final = json.loads((run_dir / "checkpoints" / "checkpoint-4" / "trainer_state.json").read_text())
    assert tokens == sorted(set(tokens)) and tokens[-1] == final["num_input_tokens_seen"]  # not restarted at 0


def test_eval_before_is_plotted_at_step_0(tensorboard_resumed):
    events = tensorboard_resumed[1]
    assert [e.step for e in events.Scalars("eval_before/test_acc")] == [0]
    assert [e.step for e in events.Scalars("eval_after/test_acc")] == [4]


def wandb_history(path: Path) -> list[dict]:
    """The history rows of an offline W&B run file (run-<id>.wandb): a 7-byte header, then LevelDB-log
    records in 32 KiB blocks (4-byte CRC, 2-byte length, 1-byte type), each a wandb protobuf Record."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, block, chunks, rows = 7, 32768, b"", []
    while pos + 7 <= len(data):
        left = block - pos % block
        length, kind = int.from_bytes(data[pos + 4 : pos + 6], "little"), data[pos + 6]
        if left < 7 or kind == 0:  # block trailer or zero padding
            pos += left
            continue
        chunks += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a whole record, or the last piece of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunks)
            chunks = b""
            if record.WhichOneof("record_type") == "history":
                rows.append({"/".join(i.nested_key) or i.key: json.loads(i.value_json) for i in record.history.item})
    return rows


@pytest.fixture(scope="module")
def wandb_resumed(tmp_path_factory):
    """Offline W&B files of an interrupted and resumed run: (saved run id, history rows per attempt)."""
    import wandb

    with pytest.MonkeyPatch.context() as env:
        env.setenv("WANDB_MODE", "offline")
        env.setenv("WANDB_SILENT", "true")
        for key in ("WANDB_DIR", "WANDB_NAME", "WANDB_PROJECT", "WANDB_RUN_ID", "WANDB_RESUME", "WANDB_RUN_GROUP"):
            env.delenv(key, raising=False)  # what the run sets is removed afterwards
        # The interrupted attempt's process would end there; in one test process its W&B run is closed instead.
        run_dir = interrupted_then_resumed(tmp_path_factory.mktemp("wandb"), "wandb", between=wandb.finish)
    saved = run_dir / "wandb_run.json"
    run_id = json.loads(saved.read_text())["id"] if saved.is_file() else None
    attempts = sorted((run_dir / "wandb").glob("offline-run-*"))
    return run_id, attempts, [wandb_history(next(a.glob("run-*.wandb"))) for a in attempts]


def test_resumed_wandb_run_keeps_its_id(wandb_resumed):
    run_id, attempts, _ = wandb_resumed
    assert run_id and len(attempts) == 2 and all(a.name.endswith(f"-{run_id}") for a in attempts)


def test_resumed_wandb_run_continues_steps_and_token_count(wandb_resumed):
    first, second = wandb_resumed[2]
    losses = [
        {r["train/global_step"]: r["train/num_tokens"] for r in rows if "train/loss" in r} for rows in (first, second)
    ]
    assert list(losses[0]) == [1, 2, 3] and list(losses[1]) == [3, 4]
    assert losses[1][3] == losses[0][3]  # the token counter continues from the checkpoint's count


def test_wandb_plots_eval_before_at_step_0(wandb_resumed):
    steps_of = {key: r["train/global_step"] for r in wandb_resumed[2][1] for key in r if key.startswith("eval_")}
    assert steps_of["eval_before/test_acc"] == 0 and steps_of["eval_after/test_acc"] == 4
