"""evaluate.py end to end on tiny-random and the fixture benchmarks: every benchmark of the suite
scored and tabled, a training run's adapter evaluated with the same numbers train.py reported,
and bad input refused with the key or path to fix."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "benchmarks"
FAST = ["benchmark.max_new_tokens=4", "benchmark.batch_size=8"]


def cli(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / script), f"output_root={cwd}/outputs", f"cache_dir={cwd}/cache", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


def only_result(folder: Path) -> tuple[Path, dict]:
    found = list(folder.rglob("results.json"))
    assert len(found) == 1, found
    return found[0].parent, json.loads(found[0].read_text())


def test_suite_scores_every_benchmark_and_writes_the_table(tmp_path):
    result = cli(
        "evaluate.py",
        "model=tiny-random",
        "benchmark=medical_suite",
        f"benchmark.data_dir={FIXTURES}",
        *FAST,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    folder, results = only_result(tmp_path / "outputs" / "evaluate" / "tiny-random")
    assert set(results["benchmarks"]) == {"pubmedqa", "medqa", "medmcqa", "mmlu_medical", "medquad"}
    for name, r in results["benchmarks"].items():
        assert r["n"] > 0 and r["split"] and len(r["data_fingerprint"]) == 64, name
        if r["task"] == "multiple_choice":
            for key in ("acc", "acc_norm", "macro_f1", "ece"):
                assert 0 <= r[key] <= 1, (name, key)
            low, high = r["acc_ci95"]
            assert low <= r["acc"] <= high
            assert r["macro_f1_ci95"][0] <= r["macro_f1"] <= r["macro_f1_ci95"][1], name
            assert 0 < r["majority"]["acc"] <= 1 and 0 < r["chance"]["acc"] < 1, name
            assert sum(r["predicted"].values()) == pytest.approx(1.0) and isinstance(r["collapse"]["flag"], bool)
            assert r["vs_majority"]["n"] == r["n"], name
        else:
            assert 0 <= r["rouge_l"] <= 1 and r["bleu"] is not None
        assert (folder / "items" / f"{name}.jsonl").is_file()
    assert results["benchmarks"]["pubmedqa"]["split"] == "test"  # the fixture has test_ground_truth.json
    assert set(results["benchmarks"]["mmlu_medical"]["per_subject"]) >= {"anatomy", "college_medicine"}
    assert results["timing"]["total_s"] > 0 and results["model"]["name"] == "tiny-random"
    table = (folder / "results.md").read_text()
    assert all(f"| {name} |" in table or f"| {name}‡ |" in table for name in results["benchmarks"])
    assert "| majority % | chance % | macro-F1 % [95% CI] |" in table
    assert "yes " in table and " / maybe " in table  # PubMedQA's predicted shares, by answer
    assert "- pubmedqa" in table and "the majority class '" in table  # in words under the table
    assert "the majority class" in result.stderr + result.stdout  # and in the log
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["git"]["commit"] and manifest["data"]["medqa"]["fingerprint"]


def test_suite_skips_a_benchmark_whose_folder_is_missing(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(FIXTURES / "pubmedqa", data / "pubmedqa")
    result = cli("evaluate.py", "model=tiny-random", f"benchmark.data_dir={data}", *FAST, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    _, results = only_result(tmp_path / "outputs")
    assert results["benchmarks"]["pubmedqa"]["n"] > 0
    for name in ("medqa", "medmcqa", "mmlu_medical", "medquad"):
        assert "no folder" in results["benchmarks"][name]["skipped"]


@pytest.mark.parametrize("method", ["lora", "p_tuning", "prefix_tuning"])
def test_a_training_run_evaluates_to_the_numbers_it_reported(tmp_path, method):
    """train.py benchmark=... and evaluate.py run_dir=... share one code path: equal accuracy.
    LoRA is merged on reload; prompt-learning adapters cannot be (p-tuning saves its encoder's output)."""
    bench = ["benchmark=pubmedqa", f"benchmark.path={FIXTURES / 'pubmedqa'}", *FAST]
    trained = cli("train.py", *TINY, "name=t", f"peft_method={method}", *bench, cwd=tmp_path)
    assert trained.returncode == 0, trained.stdout[-3000:] + trained.stderr[-3000:]
    run_dir = next((tmp_path / "outputs" / "t").iterdir())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    before, after = metrics["benchmarks_before"]["pubmedqa"], metrics["benchmarks_after"]["pubmedqa"]
    assert before["n"] == after["n"] > 0
    assert 0 <= metrics["paired"]["benchmark:pubmedqa"]["p_value"] <= 1
    assert (run_dir / "benchmarks" / "after_pubmedqa.jsonl").is_file()

    evaluated = cli("evaluate.py", f"run_dir={run_dir}", *bench, cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stdout[-3000:] + evaluated.stderr[-3000:]
    _, results = only_result(run_dir / "evaluations")
    assert results["model"]["adapter"].endswith("adapter")
    assert results["benchmarks"]["pubmedqa"]["acc"] == after["acc"]
    assert results["benchmarks"]["pubmedqa"]["acc_norm"] == after["acc_norm"]


def test_bad_benchmark_input_names_the_fix(tmp_path):
    result = cli("evaluate.py", "model=tiny-random", f"benchmark.path={FIXTURES / 'pubmedqa'}", cwd=tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode == 2 and "benchmark.data_dir" in out and "Traceback" not in out

    result = cli(
        "evaluate.py", "model=tiny-random", "benchmark=medqa", f"benchmark.path={tmp_path}/none.jsonl", cwd=tmp_path
    )
    assert result.returncode == 2 and f"{tmp_path}/none.jsonl" in result.stdout + result.stderr

    result = cli("evaluate.py", f"run_dir={tmp_path}/not-a-run", "benchmark=pubmedqa", cwd=tmp_path)
    assert result.returncode == 2 and "not-a-run" in result.stdout + result.stderr

    result = cli("evaluate.py", "model=tiny-random", "benchmark=pubmedqa", "benchmark.prompt_style=fancy", cwd=tmp_path)
    assert result.returncode == 2 and "benchmark.prompt_style" in result.stdout + result.stderr


def test_a_run_dir_that_is_not_a_finished_run_is_refused_before_any_folder_is_made(tmp_path):
    """Hydra creates <run_dir>/evaluations/<time>/ before the job starts, so run_dir is checked
    first (medft.run.folders.resolve_eval_dir): bad input is refused and leaves nothing behind."""
    not_a_run = tmp_path / "not-a-run"
    not_a_run.mkdir()
    (not_a_run / "notes.txt").write_text("mine")
    unfinished = tmp_path / "unfinished"  # a run's config, but training never saved adapter/ or model/
    (unfinished / ".hydra").mkdir(parents=True)
    (unfinished / ".hydra" / "config.yaml").write_text("name: t\nmodel: {name: tiny-random}\n")
    missing = tmp_path / "missing"
    cases = {
        not_a_run: f"missing {not_a_run / '.hydra' / 'config.yaml'}",
        unfinished: "no adapter/ or model/ folder",
        missing: f"missing {missing / '.hydra' / 'config.yaml'}",
    }
    for run_dir, lacks in cases.items():
        before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
        result = cli("evaluate.py", f"run_dir={run_dir}", "benchmark=pubmedqa", cwd=tmp_path)
        out = result.stdout + result.stderr
        assert result.returncode == 2 and "Traceback" not in out, out[-3000:]
        assert f"run_dir={run_dir}:" in out and lacks in out, out[-3000:]  # the folder, and what it lacks
        assert not (run_dir / "evaluations").exists() and not missing.exists()
        assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
