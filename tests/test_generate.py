"""medft.recipes.generate: one answer, and a chat driven through two turns on stdin like a person would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def generate_cfg(run_dir, *overrides):
    from medft.config.compose import compose_named

    return compose_named("generate", [f"run_dir={run_dir}", "sampling.max_new_tokens=6", *overrides])


def test_chat_two_turns_through_stdin(trained_tiny_run):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "medft",
            "generate",
            f"run_dir={trained_tiny_run}",
            "mode=chat",
            "sampling.max_new_tokens=6",
        ],
        input="What does insulin do?\nAnd glucagon?\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert out.startswith("NOTICE: research output") and "not medical advice" in out
    assert out.count("assistant> ") == 2  # two responses, then end of input ends the session
    assert out.rstrip().endswith("you>")


def test_exit_command_history_and_greedy_answers(trained_tiny_run, capsys):
    from medft.recipes.generate import answer_once, chat, load_for_generation

    cfg = generate_cfg(trained_tiny_run, "stream=false")
    bot = load_for_generation(cfg)
    lines = iter(["What does insulin do?", "", "/reset", "Why?", "/exit", "never read"])
    turns = chat(bot, cfg.sampling, stream=False, read=lambda prompt: next(lines))
    assert [t["role"] for t in turns] == ["user", "assistant"] and turns[0]["content"] == "Why?"  # /reset forgot
    assert next(lines) == "never read"  # /exit stopped reading
    first = answer_once(bot, "Why?", cfg.sampling, stream=False)
    assert first == turns[1]["content"]  # greedy: the same prompt gives the same answer
    assert "not medical advice" in capsys.readouterr().out


def test_bad_generate_settings_are_refused(trained_tiny_run, tmp_path):
    from medft.config.errors import UserError
    from medft.recipes.generate import run
    from medft.run.saved_model import RunDirError

    with pytest.raises(UserError, match='prompt="..."'):
        run(generate_cfg(trained_tiny_run))
    with pytest.raises(RunDirError, match="no training run there"):
        run(generate_cfg(tmp_path, "prompt=hi"))
