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
    return subprocess.run([sys.executable, "-m", "medft", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})


def refusal(*overrides: str) -> str:
    with pytest.raises(ConfigError) as err:
        validate(compose_train(list(overrides)), dry_run=True)
    return str(err.value)


# --- 7: a `+` override cannot add a key the schema does not declare ------------------------------
@pytest.mark.parametrize("override,key,hint", [
    ("+peft_method.rnak=8", "peft_method.rnak", "peft_method.r"),
    ("+training.epoch=3", "training.epoch", "training.epochs"),
    ("++optimizer.lrr=0.1", "optimizer.lrr", "optimizer.lr?"),
    ("+model.arch.hiden_size=8", "model.arch.hiden_size", "model.arch.hidden_size"),
])
def test_an_added_key_outside_the_schema_is_refused_by_name(override, key, hint):
    message = refusal(override)
    assert message.startswith(f"{key}: no such key") and hint in message


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
    groups = [line for line in help_text.splitlines()  # `group: option, option, ...` lines
              if line.startswith(("model: ", "peft_method: ", "dataset: ")) and ", " in line]
    assert len(groups) == 3 and not any("schema" in line for line in groups)
