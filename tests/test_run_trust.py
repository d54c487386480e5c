"""Runs you can trust, beyond the config's own values (issue "Runs you can trust", points 10, 11, 12, 16):
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
    return subprocess.run([sys.executable, "-m", "medft", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT), **env})


def files_holding(folder: Path, text: str) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


# --- 16: credentials in URLs and token keys are refused before anything is written ---------------
@pytest.mark.parametrize("override", [
    f"hub.endpoint=https://user:{SECRET}@hub.example.org",
    f"hub.endpoint=https://{SECRET}@hub.example.org/api",
    f"+hub.token={SECRET}",
    "+hub.token=12345678901234567890",  # all digits is still a token
])
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
