"""Runs you can trust: a config that cannot mean what it says is refused at compose time, naming the
key, its value and the fix (issue "Runs you can trust", points 7, 8, 9, 17)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException

from medft.config.compose import compose_train
from medft.config.errors import ConfigError
from medft.config.validate import validate

ROOT = Path(__file__).resolve().parents[1]


def medft(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "medft", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def refusal(*overrides: str) -> str:
    with pytest.raises(ConfigError) as err:
        validate(compose_train(list(overrides)), dry_run=True)
    return str(err.value)


# --- 7: a `+` override cannot add a key the schema does not declare ------------------------------
@pytest.mark.parametrize(
    "override,key,hint",
    [
        ("+peft_method.rnak=8", "peft_method.rnak", "peft_method.r"),
        ("+training.epoch=3", "training.epoch", "training.epochs"),
        ("++optimizer.lrr=0.1", "optimizer.lrr", "optimizer.lr?"),
        ("+model.arch.hiden_size=8", "model.arch.hiden_size", "model.arch.hidden_size"),
    ],
)
def test_an_added_key_outside_the_schema_is_refused_by_name(override, key, hint):
    message = refusal(override)
    assert message.startswith(f"{key}: no such key") and hint in message


def test_a_plus_on_a_key_of_another_optimizer_family_says_how_to_set_it(tmp_path):
    """Before composing, `optimizer` is the base schema; momentum is SGD's and RMSprop's field, so the fix
    is choosing the family and dropping the `+`, which the message spells out as a command that runs."""
    result = medft("train", "+optimizer.momentum=0.9", "dry_run=true", f"output_root={tmp_path}/out", cwd=tmp_path)
    assert result.returncode == 2 and "no such key" not in result.stderr, result.stderr
    assert "momentum is a key of optimizer=sgd, optimizer=rmsprop" in result.stderr
    assert "e.g. optimizer=sgd optimizer.momentum=0.9" in result.stderr
    fixed = medft(
        "train", "optimizer=sgd", "optimizer.momentum=0.9", "dry_run=true", f"output_root={tmp_path}/o", cwd=tmp_path
    )
    assert fixed.returncode == 0, fixed.stderr


def test_a_plus_typo_on_the_command_line_writes_nothing(tmp_path):
    result = medft("train", "+peft_method.rnak=8", "dry_run=true", f"output_root={tmp_path}/out", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "peft_method.rnak: no such key" in result.stderr and "did you mean peft_method.r?" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()  # no .hydra/config.yaml carrying the typo


def test_schemas_are_not_options_of_their_groups(tmp_path):
    with pytest.raises(ConfigCompositionException, match="Could not find 'model/schema'"):
        compose_train(["model=schema"])
    help_text = medft("train", "--help", cwd=tmp_path).stdout
    groups = [
        line
        for line in help_text.splitlines()  # `group: option, option, ...` lines
        if line.startswith(("model: ", "peft_method: ", "dataset: ")) and ", " in line
    ]
    assert len(groups) == 3 and not any("schema" in line for line in groups)


# --- 8: training.epochs trains epochs; max_steps and epochs together are refused -----------------
def test_epochs_alone_trains_epochs(tmp_path):
    from medft.recipes.train import run

    cfg = compose_train(
        [
            "model=tiny-random",
            "logger=none",
            "training.epochs=1",
            "training.batch_size=4",
            "hardware.micro_batch_size=4",
            "dataset.max_samples=12",
            "dataset.eval_limit=4",
            "eval.before=false",
            "eval.after=false",
            "eval.validation=false",
            "training.save_every_steps=100",
            f"cache_dir={tmp_path / 'cache'}",
        ]
    )
    assert run(cfg, tmp_path / "run")["train"]["steps"] == 3  # 12 records / batch 4, one pass


def test_neither_set_trains_the_documented_default_and_both_set_is_refused():
    from medft.builders import training_arguments
    from medft.config.derived import DEFAULT_MAX_STEPS

    args = training_arguments(compose_train([]), Path("x"), 1)
    assert (args["max_steps"], DEFAULT_MAX_STEPS) == (160, 160)
    message = refusal("training.max_steps=40", "training.epochs=2")
    assert "drop training.epochs=2 to train 40 steps" in message and "drop training.max_steps=40" in message
    assert "training.epochs" in refusal("peft_method=adalora", "training.epochs=2")


def test_dry_run_says_which_length_applies(caplog, tmp_path):
    from medft.recipes.train import prepare

    caplog.set_level("INFO")
    prepare(compose_train(["dry_run=true", "training.epochs=2"]), tmp_path)
    assert "Training length: 2 epoch(s) (training.epochs=2)" in caplog.text


# --- 9: every number in its range, at compose time -----------------------------------------------
def numeric_fields() -> list[tuple[type, str]]:
    """(schema, field) of every int or float field of every schema dataclass medft declares; a field a
    schema inherits (SgdConfig.lr) belongs to the base that declares it (OptimizerConfig)."""
    import dataclasses
    import typing

    import medft.config.optimizer_schema
    import medft.config.run_schema
    import medft.config.schema

    found = []
    for module in (medft.config.schema, medft.config.run_schema, medft.config.optimizer_schema):
        for schema in vars(module).values():
            if not (dataclasses.is_dataclass(schema) and schema.__module__ == module.__name__):
                continue
            hints = typing.get_type_hints(schema)
            inherited = {
                f.name
                for base in schema.__mro__[1:]
                if dataclasses.is_dataclass(base)
                for f in dataclasses.fields(base)
            }
            for field in dataclasses.fields(schema):
                if field.name in inherited:
                    continue
                if {int, float} & {hints[field.name], *typing.get_args(hints[field.name])}:
                    found.append((schema, field.name))
    return found


def test_every_numeric_field_of_every_schema_has_a_range():
    from medft.config.ranges import RANGES

    fields = numeric_fields()
    assert len(fields) > 80  # the walk found the schemas
    assert [f"{s.__name__}.{n}" for s, n in fields if n not in RANGES.get(s, {})] == []
    assert [f"{s.__name__}.{n}" for s in RANGES for n in RANGES[s] if (s, n) not in fields] == []  # no stale entry


@pytest.mark.parametrize(
    "override,needle",
    [
        ("optimizer.lr=-1", "optimizer.lr=-1.0: must be in (0, 1]"),
        ("optimizer.lr=nan", "optimizer.lr=nan: must be in (0, 1] and finite"),
        ("optimizer.lr=inf", "optimizer.lr=inf: must be in (0, 1] and finite"),
        ("optimizer.lr=0", "optimizer.lr=0.0: must be in (0, 1]"),
        ("peft_method.dropout=1.5", "peft_method.dropout=1.5: must be in [0, 1)"),
        ("hardware.num_threads=-1", "hardware.num_threads=-1: must be >= 1"),
        ("hardware.mmap_threshold_mb=64", "hardware.mmap_threshold_mb=64: must be in [1, 32]"),
        ("dataset.test_fraction=1.2", "dataset.test_fraction=1.2: must be in [0, 1)"),
        ("dataset.validation_fraction=-0.1", "dataset.validation_fraction=-0.1: must be in [0, 1)"),
        ("training.max_seq_len=1", "training.max_seq_len=1: must be >= 2"),
        ("training.batch_size=0", "training.batch_size=0: must be >= 1"),
        ("training.max_steps=-1", "training.max_steps=null trains by training.epochs"),
        ("model.arch.n_layers=0", "model.arch.n_layers=0: must be >= 1"),
    ],
)
def test_a_number_out_of_range_is_refused_naming_key_value_and_range(override, needle):
    assert needle in refusal(override)


def test_split_fractions_must_leave_training_records():
    message = refusal("dataset.validation_fraction=0.5", "dataset.test_fraction=0.5")
    assert "dataset.validation_fraction=0.5 + dataset.test_fraction=0.5 = 1 leaves no training records" in message


def test_a_mixture_component_is_range_checked_by_its_index():
    message = refusal(
        "dataset=mixture",
        "dataset.components=[{name: builtin, weight: 1}, {name: builtin, weight: 1, label: b, test_fraction: 0.95}]",
    )
    assert "dataset.components[1].validation_fraction=0.1 + dataset.components[1].test_fraction=0.95" in message


def test_a_rank_above_the_adapted_layers_is_refused():
    message = refusal("model=tiny-random", "peft_method.r=100000")
    assert "peft_method.r=100000 exceeds 32" in message and "v_proj is 64 x 32" in message
    assert "peft_method.r=16" in message
    validate(compose_train(["model=tiny-random", "peft_method.r=32"]))  # at the bound: an update of full rank
    assert "peft_method.adalora_init_r=64 exceeds 32" in refusal(
        "model=tiny-random", "peft_method=adalora", "peft_method.adalora_init_r=64"
    )


# --- 17: trust_remote_code runs only at a commit, never at a branch or tag -----------------------
@pytest.mark.parametrize("revision", ["main", "v2.0", "2ce8919", "refs/pr/1"])
def test_remote_code_needs_a_commit_not_a_branch(revision):
    cfg = compose_train(["model=baichuan2-7b", "model.trust_remote_code=true", f"model.revision={revision}"])
    with pytest.raises(ConfigError, match=f"model.revision={revision} is not a commit id"):
        validate(cfg)
    validate(
        compose_train(
            [
                "model=baichuan2-7b",
                "model.trust_remote_code=true",
                "model.revision=" + "2ce891951e000c36c65442608a0b95fd09b405dc",
            ]
        )
    )
