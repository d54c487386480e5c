"""Runs you can trust, beyond the config's own values (points 10, 11, 12, 16 of the "Runs you can trust" issue):
no secret written anywhere, suggestions that are commands, nothing scored is an error, and a run that
would truncate its training data refuses, naming the override."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from medft.config.compose import compose_train
from medft.config.errors import UserError
from medft.config.validate import validate

ROOT = Path(__file__).resolve().parents[1]
SECRET = "planted-Secret-0123456789abcdef"  # made up


def medft(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "medft", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
    )


def files_holding(folder: Path, text: str) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


# --- 16: credentials in URLs and token keys are refused before anything is written ---------------
@pytest.mark.parametrize(
    "override",
    [
        f"hub.endpoint=https://user:{SECRET}@hub.example.org",
        f"hub.endpoint=https://{SECRET}@hub.example.org/api",
        f"+hub.token={SECRET}",
        "+hub.token=12345678901234567890",  # all digits is still a token
    ],
)
def test_a_credential_on_the_command_line_writes_nothing(tmp_path, override):
    result = medft("train", override, "dry_run=true", f"output_root={tmp_path}/out", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "credential" in result.stderr and "HF_TOKEN" in result.stderr
    assert SECRET not in result.stdout + result.stderr and "12345678901234567890" not in result.stderr
    assert not (tmp_path / "out").exists()  # no .hydra/config.yaml, hydra.yaml or overrides.yaml


def test_the_refusal_suggests_the_url_without_its_credentials():
    cfg = compose_train([f"hub.endpoint=https://user:{SECRET}@hub.example.org/api"])
    with pytest.raises(UserError) as err:
        validate(cfg)
    assert "hub.endpoint=https://hub.example.org/api" in str(err.value) and SECRET not in str(err.value)


def test_hub_command_errors_are_masked(tmp_path):
    folder = tmp_path / SECRET  # an error that names this path would print the token
    folder.mkdir()
    result = medft("hub", str(folder), "hub.repo_id=alice/x", cwd=tmp_path, HF_TOKEN=SECRET)
    assert result.returncode == 2 and "not a finished training run" in result.stderr
    assert SECRET not in result.stdout + result.stderr and "***" in result.stderr
    result = medft("hub", str(tmp_path), f"hub.endpoint=https://u:{SECRET}@h.example.org", cwd=tmp_path)
    assert result.returncode == 2 and "hub.endpoint=https://h.example.org" in result.stderr
    assert SECRET not in result.stdout + result.stderr
    result = medft("hub", str(tmp_path), "hub.token=abcdefgh12345", cwd=tmp_path)
    assert result.returncode == 2 and "HF_TOKEN" in result.stderr and "abcdefgh12345" not in result.stderr


def test_a_logged_url_loses_its_credentials():
    import logging

    from medft.config.secrets import RedactSecrets

    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "cannot reach %s", (f"https://u:{SECRET}@h/x",), None)
    RedactSecrets().filter(record)
    assert record.getMessage() == "cannot reach https://***@h/x"


# --- 12: evaluate reads every benchmark file before the model loads; scoring nothing is an error --
def evaluate(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return medft("evaluate", f"output_root={cwd}/outputs", f"cache_dir={cwd}/cache", *args, cwd=cwd)


def test_a_suite_of_which_nothing_can_be_read_is_refused_before_loading(tmp_path):
    (tmp_path / "empty").mkdir()
    result = evaluate(
        "model=tiny-random", "benchmark=medical_suite", f"benchmark.data_dir={tmp_path / 'empty'}", cwd=tmp_path
    )
    out = result.stdout + result.stderr
    assert result.returncode == 2, out[-2000:]
    assert "none of its 5 benchmarks could be read, so nothing would be scored" in out
    assert "benchmark.data_dir=<a folder holding pubmedqa/, medqa/, medmcqa/, mmlu/, medquad/>" in out
    assert "Loaded " not in out and not list(tmp_path.rglob("results.json"))


def test_a_missing_benchmark_file_is_found_before_the_model_loads(tmp_path):
    # qwen2.5-0.5b comes from the hub, which tests cannot reach: loading it first would fail on that instead
    result = evaluate("model=qwen2.5-0.5b", "benchmark=medqa", f"benchmark.path={tmp_path}/none.jsonl", cwd=tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode == 2 and f"{tmp_path}/none.jsonl" in out, out[-2000:]
    assert "qwen" not in out.replace("model=qwen2.5-0.5b", "").lower()  # the model was never touched


# --- 11: a suggestion in a message is a command that works ---------------------------------------
CONF = ROOT / "conf"
GROUPS = sorted(p.name for p in CONF.iterdir() if p.is_dir() and p.name != "hydra")


def suggestion_problems(message: str, compose: bool = True) -> list[str]:
    """Every `group=option` of `message` names an option file; every `a.b=value` composes (`compose`)."""
    import re

    from hydra.errors import HydraException

    problems = []
    for key, value in re.findall(r"(?<![\w./%-])([a-z_]+(?:\.[a-z_]+)*)=([^\s,;()]+)", message):
        value = value.rstrip(".:").strip("'\"")
        if value.startswith(("<", "...", "%")):
            continue  # a placeholder the user fills in
        if "." not in key:
            if key in GROUPS and not (CONF / key / f"{value}.yaml").is_file():
                problems.append(f"{key}={value}: no conf/{key}/{value}.yaml")
            continue
        if not compose:
            continue
        try:
            compose_train([f"{key}={value}"])
        except HydraException as err:
            problems.append(f"{key}={value}: {str(err).splitlines()[0]}")
    return problems


def test_the_suggestion_checker_catches_a_wrong_option():
    assert suggestion_problems("use optimizer=adamw_torch, or peft_method.r=eight") == [
        "optimizer=adamw_torch: no conf/optimizer/adamw_torch.yaml",
        "peft_method.r=eight: Error merging override peft_method.r=eight",
    ]
    assert suggestion_problems("use optimizer=adamw peft_method.r=8 model.revision=<sha>") == []


def test_every_group_option_in_an_error_message_of_the_code_exists():
    """The literal parts of every raised or logged message in medft/."""
    import ast

    literals = []
    for path in (ROOT / "medft").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            message = (
                node.exc
                if isinstance(node, ast.Raise)
                else node
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("warning", "error", "info")
                )
                else None
            )
            literals += [
                (path.name, sub.value)
                for sub in ast.walk(message or ast.Pass())
                if isinstance(sub, ast.Constant) and isinstance(sub.value, str)
            ]
    assert len(literals) > 500
    problems = [(name, p) for name, text in literals for p in suggestion_problems(text, compose=False)]
    assert problems == [], problems
    assert [(name, p) for name, text in literals for p in unknown_keys_in(text)] == []


def unknown_keys_in(text: str) -> list[str]:
    """`key=value` pairs whose key no command's config has (`split=all` where `benchmark.split=all` is meant);
    a %-formatted value is a report of a setting, not a suggestion."""
    import re

    from medft.api.keywords import LATE, SEED_KEYWORDS
    from medft.config.optimizer_schema import STORE_NAMES
    from medft.config.unknown_keys import ROOT_SCHEMAS, unknown_key

    # each optimizer option has its own schema: optimizer.momentum is a key of optimizer=sgd's
    optimizer_keys = {f"optimizer.{name}" for schema in STORE_NAMES.values() for name in schema.__dataclass_fields__}
    api_keywords = {*SEED_KEYWORDS, *LATE}  # MedicalPEFTTrainer(model_name=..., device_map=...): Python keywords
    found = []
    for key, value in re.findall(r"(?<![\w./%-])([a-z_]+(?:\.[a-z_]+)*)=([^\s,;()]+)", text):
        if value.startswith("%") or key in GROUPS or key in NOT_CONFIG_KEYS or key.startswith("hydra."):
            continue
        if key in optimizer_keys or key in api_keywords:
            continue
        if all(unknown_key(schema, key) is not None for schema in ROOT_SCHEMAS.values()):
            found.append(f"{key}={value}")
    return found


NOT_CONFIG_KEYS = {"weights_only"}  # torch.load's argument, named in medft/run/trust.py's refusal


def test_the_key_checker_catches_a_bare_key():
    assert unknown_keys_in("pass split=auto, or use benchmark.split=all or dataset.source_split=all") == ["split=auto"]


def test_the_memory_fit_message_suggests_real_overrides():
    from medft.config.errors import ConfigError
    from medft.hardware.fit import check_plan

    cfg = compose_train(
        [
            "model=llama2-7b",
            "peft_method=full",
            "quantization=none",
            "hardware=consumer-24g",
            "training.max_seq_len=256",
            "hardware.micro_batch_size=4",
        ]
    )
    with pytest.raises(ConfigError) as err:
        check_plan(cfg)
    assert "optimizer.name=adamw_torch" in str(err.value) and suggestion_problems(str(err.value)) == []


def test_the_printed_launch_commands_expand_main_ip(tmp_path):
    result = medft(
        "launch", "--print", "hardware=multi-node", "training.batch_size=64", f"output_root={tmp_path}", cwd=tmp_path
    )
    lines = [line.split(":", 1)[1] for line in result.stdout.splitlines() if line.startswith("# node")]
    assert len(lines) == 2, result.stdout + result.stderr
    expanded = subprocess.run(
        ["bash", "-c", f"MAIN_IP=10.1.2.3; printf '%s\\n' {lines[1]}"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert expanded[expanded.index("--main_process_ip") + 1] == "10.1.2.3"


# --- 10: max_seq_len follows the data, and a run that would cut its training records refuses -----
@pytest.mark.parametrize(
    "overrides,expected",
    [
        ([], 256),
        (["dataset=pubmedqa"], 1024),
        (["dataset=medmcqa"], 256),
        (["dataset=medquad"], 1024),
        (["task=clinical_note"], 256),
        (["dataset=mimic_notes"], 2048),
        (["dataset=pubmedqa", "training.max_seq_len=768"], 768),
    ],
)
def test_the_default_max_seq_len_follows_the_dataset(overrides, expected):
    assert compose_train(overrides).training.max_seq_len == expected


def test_a_run_says_where_its_max_seq_len_comes_from(caplog, tmp_path):
    from medft.recipes.train import prepare

    caplog.set_level("INFO")
    prepare(compose_train(["dry_run=true", "task=clinical_note"]), tmp_path)
    assert "training.max_seq_len=256 (dataset=notes_builtin's default, dataset.max_seq_len)" in caplog.text


def notes_tokenizer(tmp_path):
    from medft import builders
    from medft.models.resolve import resolve_model

    cfg = compose_train(["model=tiny-random", "task=clinical_note"])
    return builders.load_tokenizer(cfg.model, resolve_model(cfg.model, str(tmp_path / "cache"), 0))


def test_a_run_that_would_truncate_its_training_records_refuses_before_loading(tmp_path):
    """The 32 synthetic notes are 580-664 tokens for tiny-random's byte tokenizer: 256 cuts every one."""
    from medft.config.errors import ConfigError
    from medft.recipes.train import run

    cfg = compose_train(
        [
            "model=tiny-random",
            "task=clinical_note",
            "training.max_seq_len=256",
            "training.max_steps=1",
            "logger=none",
            "eval.before=false",
            "eval.after=false",
            "eval.validation=false",
            f"cache_dir={tmp_path / 'cache'}",
        ]
    )
    with pytest.raises(ConfigError) as err:
        run(cfg, tmp_path / "run")
    assert str(err.value).startswith(
        "training.max_seq_len=256 truncates 32 of 32 training records (100.0%), more "
        "than training.max_truncated_fraction=0.05"
    )
    assert "training.max_seq_len=704 (keeps all 32 whole)" in str(err.value)
    assert not (tmp_path / "run" / "manifest.json").exists()  # refused before the manifest and the model


def test_the_refusal_names_a_limit_for_95_percent_and_the_threshold_is_a_setting(tmp_path):
    from medft.config.errors import ConfigError
    from medft.data.load import load_splits
    from medft.objectives.truncation import check_truncation

    tokenizer = notes_tokenizer(tmp_path)
    cfg = compose_train(["model=tiny-random", "task=clinical_note", "training.max_seq_len=600"])
    train = load_splits(cfg.dataset)["train"]
    with pytest.raises(ConfigError) as err:
        check_truncation(cfg, train, tokenizer)
    message = str(err.value)
    assert "training.max_seq_len=704 (keeps all 32 whole)" in message and "training.max_truncated_fraction=" in message
    accept = message.rsplit("training.max_truncated_fraction=", 1)[1]
    cut = check_truncation(
        compose_train(
            [
                "model=tiny-random",
                "task=clinical_note",
                "training.max_seq_len=600",
                f"training.max_truncated_fraction={accept}",
            ]
        ),
        train,
        tokenizer,
    )
    assert 0 < cut < 32
    assert (
        check_truncation(
            compose_train(["model=tiny-random", "task=clinical_note", "training.max_seq_len=704"]), train, tokenizer
        )
        == 0
    )
