"""The command line: bad overrides and bad data fail before anything loads, naming the fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def train(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), f"output_root={cwd}/outputs", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_typo_in_a_key(tmp_path):
    result = train("peft_method.rnak=8", cwd=tmp_path)
    assert result.returncode != 0 and "peft_method.rnak" in result.stderr + result.stdout


def test_wrong_type(tmp_path):
    result = train("peft_method.r=eight", cwd=tmp_path)
    out = result.stderr + result.stdout
    assert result.returncode != 0 and "peft_method.r" in out and "eight" in out


def test_missing_dataset_file_names_the_path(tmp_path):
    result = train("dataset=jsonl", f"dataset.path={tmp_path}/missing.jsonl", cwd=tmp_path)
    assert result.returncode == 2 and f"{tmp_path}/missing.jsonl" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_bad_jsonl_line_names_the_line(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"prompt": "a", "response": "b"}\n{"prompt": "no response"}\n')
    result = train("dataset=jsonl", f"dataset.path={data}", "model=tiny-random", cwd=tmp_path)
    assert result.returncode == 2 and f"{data}:2:" in result.stdout + result.stderr


def test_dry_run_validates_and_loads_nothing(tmp_path):
    result = train("dry_run=true", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run_dirs = list((tmp_path / "outputs" / "builtin").iterdir())
    assert len(run_dirs) == 1 and (run_dirs[0] / ".hydra" / "config.yaml").is_file()
    assert (run_dirs[0] / "train.log").is_file() and not (run_dirs[0] / "metrics.json").exists()
