"""retention=: the shipped general-knowledge set is well formed, MMLU's non-medical subjects load
from local files, a tiny-random run writes before/after numbers with a paired interval next to
the medical gain, and the report shows the gain and the retention change side by side."""

from __future__ import annotations

from collections import Counter

import pytest

from medft.recipes.train import run
from medft.retention import load_general_knowledge, load_retention


def test_general_knowledge_set_is_balanced_and_unambiguous_in_form():
    records = load_general_knowledge()
    assert len(records) == 190
    assert len({r.question for r in records}) == 190  # no question twice
    assert all(len(r.options) == 4 and len(set(r.options)) == 4 for r in records)
    letters = Counter(r.answer_letter for r in records)
    assert max(letters.values()) - min(letters.values()) <= 1  # the answer position carries no signal
    subjects = Counter(r.metadata["subject"] for r in records)
    assert len(subjects) >= 10 and min(subjects.values()) >= 5
    assert {"geography", "physics", "chemistry", "history", "math", "literature"} <= set(subjects)


def test_mmlu_general_reads_local_subjects_round_robin(compose, tmp_path):
    folder = tmp_path / "data" / "test"
    folder.mkdir(parents=True)
    for subject, n in (("astronomy", 5), ("high_school_geography", 3)):
        rows = [f'"{subject} question {i}?",w{i},x{i},y{i},z{i},{"ABCD"[i % 4]}\n' for i in range(n)]
        (folder / f"{subject}_test.csv").write_text("".join(rows))
    cfg = compose(
        [
            "retention=mmlu_general",
            f"retention.path={tmp_path / 'data'}",
            "retention.subjects=[astronomy,high_school_geography]",
            "retention.limit=4",
        ]
    )
    records = load_retention(cfg.retention)
    assert [r.metadata["subject"] for r in records] == ["astronomy", "high_school_geography"] * 2
    assert records[2].answer == "x1" and records[2].answer_index == 1  # astronomy item 1: answer B


def test_mmlu_general_without_its_files_fails_before_training(tiny_cfg, tmp_path):
    from medft.benchmarks.base import BenchmarkSourceError

    cfg = tiny_cfg("retention=mmlu_general", f"retention.path={tmp_path / 'nowhere'}")
    with pytest.raises(BenchmarkSourceError, match="nowhere"):
        run(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "manifest.json").exists()  # nothing loaded, nothing written


def test_a_run_scores_retention_before_and_after(tiny_cfg, tmp_path):
    import json

    cfg = tiny_cfg("retention=general_knowledge", "retention.limit=24", "optimizer.lr=1e-2")
    metrics = run(cfg, tmp_path / "run")
    before, after = metrics["eval_before"]["retention"], metrics["eval_after"]["retention"]
    assert before["n"] == after["n"] == 24 and 0 <= before["acc"] <= 1 and 0 <= after["acc"] <= 1
    paired = metrics["paired"]["retention"]
    assert paired["n"] == 24 and paired["acc_delta"] == pytest.approx(after["acc"] - before["acc"])
    low, high = paired["acc_delta_ci95"]
    assert low <= paired["acc_delta"] <= high
    versus = metrics["paired"]["test_vs_retention"]
    assert versus["difference"] == pytest.approx(metrics["paired"]["test"]["acc_delta"] - paired["acc_delta"])
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["paired"]["retention"] == paired
    assert len(json.loads((tmp_path / "run" / "eval_before.json").read_text())["per_question"]["retention"]) == 24


def test_report_shows_medical_gain_and_retention_change(tmp_path):
    from medft.tables.aggregate import build_table
    from tests.test_report import atomic_write_json, collect, make_job

    sweep = tmp_path / "r"
    for method, gain, change in (("lora", 0.20, -0.01), ("full", 0.10, -0.08)):
        folder = make_job(sweep, [f"peft_method={method}", "seed=1"], "finished", 0.5)
        metrics_file = folder / "metrics.json"
        import json

        metrics = json.loads(metrics_file.read_text())
        metrics["paired"] = {
            "test": {"acc_delta": gain, "acc_delta_ci95": [gain - 0.05, gain + 0.05]},
            "retention": {"acc_delta": change, "acc_delta_ci95": [change - 0.04, change + 0.04]},
        }
        atomic_write_json(metrics_file, metrics)
    atomic_write_json(sweep / "sweep.json", {"swept": ["peft_method", "seed"], "jobs": []})
    table = build_table(*collect([sweep]))
    keys = [c.key for c in table.columns]
    assert keys.index("test_gain") + 1 == keys.index("retention_change")
    rows = {r.settings["peft_method"]: r for r in table.rows}
    assert rows["full"].cells["retention_change"].mean == pytest.approx(-8.0)
    assert rows["full"].cells["retention_change"].ci == pytest.approx((-12.0, -4.0))
    assert "retention_change" in rows["lora"].best and "test_gain" in rows["lora"].best
    from medft.tables.render import to_markdown

    assert "| -8.0 [-12.0, -4.0]† |" in to_markdown(table)
