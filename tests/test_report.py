"""`medft.report` on hand-built sweep folders: numbers over seeds, intervals, best cells, failed and
unfinished jobs shown, and the four outputs (Markdown, LaTeX, CSV, PNG)."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest
import yaml

from medft.cli import report_main as main
from medft.recipes.report import write_report
from medft.runtime.files import atomic_write_json
from medft.tables.aggregate import build_table
from medft.tables.collect import ReportInputError, collect


def make_job(
    sweep: Path,
    overrides: list[str],
    status: str,
    acc: float | None = None,
    mem: float = 1000.0,
    choices: dict | None = None,
) -> Path:
    name = ",".join(o for o in overrides if not o.startswith("training."))
    folder = sweep / name
    (folder / ".hydra").mkdir(parents=True)
    values = {o.split("=")[0]: o.split("=")[1] for o in overrides}
    (folder / ".hydra" / "config.yaml").write_text(
        yaml.safe_dump({"seed": int(values.get("seed", 1)), "peft_method": {"r": int(values.get("peft_method.r", 16))}})
    )
    (folder / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"runtime": {"choices": choices or {}}}}))
    job = {"status": status, "overrides": overrides, "attempt": 1, "pid": 0, "host": "elsewhere"}
    if status == "failed":
        job["error"] = {"type": "RuntimeError", "message": "CUDA out of memory\nmore lines"}
    atomic_write_json(folder / "job.json", job)
    if status == "finished":
        atomic_write_json(
            folder / "metrics.json",
            {
                "eval_after": {"test": {"n": 100, "acc": acc, "acc_ci95": [acc - 0.1, acc + 0.1]}},
                "train": {
                    "trainable_params": 1_000_000,
                    "peak_mem_mb": mem,
                    "model_footprint_mb": mem / 2,
                    "wall_s": 60.0,
                    "tokens_per_s": 100.0,
                },
            },
        )
    return folder


@pytest.fixture
def sweep_dir(tmp_path):
    sweep = tmp_path / "multirun" / "peft_method.r=4,8,seed=1,2"
    # r=4: two seeds; r=8: one seed finished, one failed; r=16: planned, not started.
    make_job(sweep, ["peft_method.r=4", "seed=1"], "finished", 0.54, mem=900)
    make_job(sweep, ["peft_method.r=4", "seed=2"], "finished", 0.56, mem=1100)
    make_job(sweep, ["peft_method.r=8", "seed=1"], "finished", 0.70, mem=1500)
    make_job(sweep, ["peft_method.r=8", "seed=2"], "failed")
    plan = [
        {"name": p.name, "overrides": json.loads((p / "job.json").read_text())["overrides"]}
        for p in sorted(sweep.iterdir())
    ]
    plan += [{"name": "peft_method.r=16,seed=1", "overrides": ["peft_method.r=16", "seed=1"]}]
    atomic_write_json(sweep / "sweep.json", {"swept": ["peft_method.r", "seed"], "jobs": plan})
    return sweep


def test_cells_are_mean_std_and_t_interval_over_seeds(sweep_dir):
    table = build_table(*collect([sweep_dir]))
    assert table.setting_keys == ["peft_method.r"]
    rows = {r.settings["peft_method.r"]: r for r in table.rows}
    assert list(rows) == ["4", "8", "16"]  # the plan's order
    two = rows["4"].cells["test_acc"]
    assert two.n == 2 and two.mean == pytest.approx(55.0) and two.std == pytest.approx(math.sqrt(2))
    half = 12.706204736 * math.sqrt(2) / math.sqrt(2)  # t(0.975, df=1) x std / sqrt(n)
    assert two.ci == pytest.approx((55 - half, 55 + half)) and two.interval == "seeds"
    one = rows["8"].cells["test_acc"]
    assert one.n == 1 and one.std is None and one.ci == pytest.approx((60.0, 80.0)) and one.interval == "items"
    assert "test_acc" in rows["8"].best and "peak_mem_mb" in rows["4"].best  # higher acc, lower memory
    assert "trainable_params" not in rows["4"].best | rows["8"].best  # no direction, never "best"
    assert rows["16"].cells == {} and rows["16"].count("pending") == 1


def test_accuracy_intervals_stay_within_0_and_100(tmp_path):
    from medft.tables.aggregate import discover_columns, make_cell

    sweep = tmp_path / "s"
    jobs = [make_job(sweep, [f"seed={i}"], "finished", acc) for i, acc in ((1, 0.10), (2, 0.90))]
    swept, records = collect([sweep])
    column = next(c for c in discover_columns(records) if c.key == "test_acc")
    cell = make_cell(records, column)
    assert len(jobs) == 2 and cell.ci == (0.0, 100.0)  # t over 2 seeds would give [-458, 558]


def test_outputs_show_failures_and_unfinished_jobs(sweep_dir, tmp_path):
    written = write_report([sweep_dir], tmp_path / "out")
    markdown = written["markdown"].read_text()
    assert "| 8 | 1 of 2 (1 failed) | **70.0 [60.0, 80.0]†**" in markdown
    assert "| 16 | 0 of 1 (1 pending) | …" in markdown
    assert "1 job(s) failed" in markdown and "CUDA out of memory" in markdown and "more lines" not in markdown
    latex = written["latex"].read_text()
    assert r"\toprule" in latex and r"\bottomrule" in latex and r"\textbf{70.0" in latex and r"$\pm$" in latex
    assert r"peft\_method.r" in latex
    rows = list(csv.DictReader(io.StringIO(written["csv"].read_text())))
    by_r = {r["peft_method.r"]: r for r in rows}
    assert float(by_r["4"]["test_acc_mean"]) == pytest.approx(55.0) and by_r["4"]["test_acc_n"] == "2"
    assert by_r["8"]["failed"] == "1" and by_r["16"]["pending"] == "1" and by_r["16"]["test_acc_mean"] == ""
    jobs = written["jobs"].read_text()
    assert "failed" in jobs and "RuntimeError" in jobs
    assert {p.name for p in written["plots"]} == {
        "test_acc_vs_r.png",
        "test_acc_vs_peak_mem_mb.png",
        "test_acc_vs_model_mem_mb.png",
    }
    for plot in written["plots"]:
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_quantization_choice_labels_rows_and_memory_plot(tmp_path):
    sweep = tmp_path / "q"
    for quant, acc, mem in (("none", 0.6, 2000), ("nf4_no_dq", 0.55, 700)):
        make_job(sweep, [f"quantization={quant}", "seed=1"], "finished", acc, mem, choices={"quantization": quant})
    atomic_write_json(sweep / "sweep.json", {"swept": ["quantization", "seed"], "jobs": []})
    table = build_table(*collect([sweep]))
    assert [r.settings["quantization"] for r in table.rows] == ["nf4_no_dq", "none"]  # no plan: folder order
    written = write_report([sweep], tmp_path / "out")
    assert "test_acc_vs_peak_mem_mb.png" in {p.name for p in written["plots"]}


def test_a_folder_without_jobs_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportInputError, match="no jobs here"):
        collect([tmp_path / "empty"])
    assert main([str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "no such folder" in capsys.readouterr().err
