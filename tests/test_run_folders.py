"""Run-folder naming, resume lookup and atomic writes."""

from __future__ import annotations

import pytest

from medft.run.folders import ResumeError, resolve_run_dir
from medft.runtime.files import atomic_save_dir, atomic_write_json


def test_new_run_gets_a_timestamped_folder(tmp_path):
    assert resolve_run_dir(str(tmp_path), "exp", False, "2026-11-25_10-00-00") == str(
        tmp_path / "exp" / "2026-11-25_10-00-00"
    )


def test_resume_true_picks_the_newest_unfinished_run(tmp_path):
    for stamp, finished in [
        ("2026-01-01_00-00-00", False),
        ("2026-01-02_00-00-00", False),
        ("2026-01-03_00-00-00", True),
    ]:
        folder = tmp_path / "exp" / stamp
        (folder / ".hydra").mkdir(parents=True)
        (folder / "started.json").write_text("{}")
        if finished:
            (folder / "metrics.json").write_text("{}")
    assert resolve_run_dir(str(tmp_path), "exp", "true", "now").endswith("2026-01-02_00-00-00")


def test_resume_true_without_unfinished_run_is_a_clear_error(tmp_path):
    with pytest.raises(ResumeError, match="no unfinished run"):
        resolve_run_dir(str(tmp_path), "exp", True, "now")


def test_resume_from_a_folder_that_is_not_a_checkpoint(tmp_path):
    with pytest.raises(ResumeError, match="trainer_state.json"):
        resolve_run_dir(str(tmp_path), "exp", str(tmp_path), "now")


def test_atomic_writes_leave_no_temporaries(tmp_path):
    atomic_write_json(tmp_path / "m.json", {"a": 1})
    atomic_write_json(tmp_path / "m.json", {"a": 2})
    assert (tmp_path / "m.json").read_text().strip().endswith("}")
    atomic_save_dir(tmp_path / "adapter", lambda d: (d.mkdir(), (d / "w").write_text("1")))
    atomic_save_dir(tmp_path / "adapter", lambda d: (d.mkdir(), (d / "w").write_text("2")))
    assert (tmp_path / "adapter" / "w").read_text() == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter", "m.json"]
