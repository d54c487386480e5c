"""The results site (`python -m medft report FOLDER... --html OUT`) on a real tiny-random sweep: the
files it writes, the item rows against `items/*.jsonl`, the PHI rule, and the pages opened in a
real headless Chromium (the system package, driven by Playwright): table numbers equal table.csv,
a filter hides rows, a run page draws its curves, the item browser counts every item; a
4,183-question browser's load time is measured and printed. Screenshots go to tests/artifacts/site/.
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from medft.cli import report_main
from medft.config.compose import compose_train
from medft.data.phi import scrub
from medft.site.browser import find_chromium
from medft.site.build import build_site
from medft.site.item_rows import counts, may_show_text, run_items

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("MEDFT_TEST_ARTIFACTS", ROOT / "tests" / "artifacts")) / "site"
SWEEP = [
    "model=tiny-random",
    "logger=tensorboard",
    "training.logging_steps=1",  # a point per step: the run page has curves to draw
    "training.batch_size=4",
    "hardware.micro_batch_size=4",
    "training.max_steps=3",
    "training.save_every_steps=3",
    "dataset.eval_limit=8",
    "dataset.max_samples=32",
    "peft_method.r=4,8",
]
MEDMCQA_VALIDATION = 4183  # questions in MedMCQA's validation split, the harness's test set


def _lines(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip())


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("site-sweep")
    command = [sys.executable, str(ROOT / "train.py"), "-m", f"output_root={root}/outputs", f"cache_dir={root}/cache"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command + SWEEP, cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (found,) = [p for p in (root / "outputs" / "builtin" / "multirun").iterdir() if p.is_dir()]
    return found


@pytest.fixture(scope="module")
def site(sweep_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site-out")
    code = report_main([str(sweep_dir), "--out", str(out / "report"), "--html", str(out / "site")])
    assert code == 0
    return out


def _site_runs(site: Path) -> dict[str, dict]:
    text = (site / "site" / "data" / "runs.js").read_text()
    return json.loads(text[text.index("=") + 1 : text.rstrip().rindex(";")])


def _site_items(site: Path, slug: str) -> list[dict]:
    text = (site / "site" / "data" / f"items_{slug}.js").read_text()
    payload = text[text.index(f"[{json.dumps(slug)}]=") + len(json.dumps(slug)) + 3 : text.rstrip().rindex(";")]
    return json.loads(payload)["items"]


def test_site_is_self_contained_and_counts_every_item(site, sweep_dir):
    out = site / "site"
    pages = sorted(out.rglob("*.html"))
    assert {p.name for p in pages} >= {"index.html", "compare.html"}
    assert len(list((out / "runs").glob("*.html"))) == len(list((out / "items").glob("*.html"))) == 2
    plotly_js = [p for p in out.rglob("*.js") if "Plotly" in p.read_text()[:20000] and p.stat().st_size > 1_000_000]
    assert [p.relative_to(out).as_posix() for p in plotly_js] == ["assets/plotly.min.js"]  # once per site
    for page in pages:  # nothing fetched from a network at view time
        html = page.read_text()
        assert not re.search(r"""(src|href)=["']https?://""", html), page
        assert len(html) < 2_000_000, f"{page} inlines what belongs in assets/"
    runs = _site_runs(site)
    for slug, run in runs.items():
        folder = sweep_dir / run["name"]
        items = _site_items(site, slug)
        # every set is scored after training (validation only after), so the after files list every item
        assert len(items) == sum(_lines(p) for p in (folder / "items").glob("after_*.jsonl")) > 0
        assert all(i["question"] and i["options"] for i in items)  # the builtin set is not notes: text shown
        assert run["config"]["peft_method.r"] == run["name"].split("peft_method.r=")[1].split(",")[0]


def test_notes_show_no_record_text_unless_scrubbed(tmp_path):
    notes_data = ["dataset=mimic_notes", f"dataset.path={tmp_path / 'NOTEEVENTS.csv'}", "model=tiny-random"]
    notes = compose_train(notes_data)
    assert may_show_text(notes)[0] is False
    scrubbed = compose_train([*notes_data, "dataset.transforms=[scrub_phi]"])
    assert may_show_text(scrubbed)[0] is True
    run = tmp_path / "run"
    (run / "benchmarks").mkdir(parents=True)
    line = {"id": "n1", "question": "Seen 03/04/2021 by Dr Smith", "reference": "ref", "prediction": "pred text"}
    (run / "benchmarks" / "after_notes.jsonl").write_text(json.dumps(line) + "\n")
    rows, why = run_items(run, notes)
    assert rows[0]["question"] == "" and rows[0]["after"]["text"] == "" and "scrub_phi" in why[0]
    rows, why = run_items(run, scrubbed)
    assert rows[0]["question"] == scrub(line["question"]) and "[DATE]" in rows[0]["question"]  # as the run saw it
    assert rows[0]["after"]["text"] == "pred text" and rows[0]["after"]["rouge_l"] == 0.0


def test_a_lone_run_folder_is_read_against_the_defaults(sweep_dir, tmp_path):
    run = next(p for p in sweep_dir.iterdir() if p.name.startswith("peft_method.r=4"))
    written = build_site([run], tmp_path / "one")
    page = written[next(k for k in written if k.startswith("run:"))].read_text()
    assert "the defaults" in page
    diff = page[page.index("<h2>Config</h2>") : page.index("<h2>Training curves</h2>")]
    assert "peft_method.r" in diff and "training.logging_steps" in diff and "output_root" not in diff


# --- in a real browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def page():
    binary = find_chromium()
    if binary is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium, or MEDFT_CHROMIUM=/path/to/chrome)")
    playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the test extra)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=binary)
        tab = browser.new_page(viewport={"width": 1400, "height": 900})
        errors: list[str] = []
        tab.on("pageerror", lambda err: errors.append(str(err)))
        tab.errors = errors
        yield tab
        browser.close()
    assert not errors, errors


def test_sweep_table_equals_table_csv_and_filters(site, page):
    page.goto((site / "site" / "index.html").as_uri())
    expected = list(csv.DictReader((site / "report" / "table.csv").open()))
    rows = page.query_selector_all("#results tbody tr.setting")
    assert len(rows) == len(expected) == 2
    compared = 0
    for row, want in zip(rows, expected):
        for cell in row.query_selector_all("td[data-key]"):
            key, value = cell.get_attribute("data-key"), cell.get_attribute("data-value")
            assert float(value) == pytest.approx(float(want[f"{key}_mean"]))
            shown = float(cell.inner_text().split()[0].replace(",", ""))
            assert shown == pytest.approx(float(want[f"{key}_mean"]), abs=0.51)  # as printed: 0-2 digits
            compared += 1
    assert compared >= 10
    assert page.query_selector_all("td.best") and page.query_selector("tr.base-model")
    page.screenshot(path=str(ARTIFACTS / "sweep.png"), full_page=True)
    page.select_option("select[data-filter='0']", "8")
    visible = [r for r in page.query_selector_all("#results tbody tr.setting") if r.is_visible()]
    assert len(visible) == 1 and visible[0].query_selector("td").inner_text() == "8"
    assert page.inner_text("#visible-count") == "1 of 2 settings shown"


def test_run_page_draws_the_training_curves(site, page):
    run_page = sorted((site / "site" / "runs").glob("*.html"))[0]
    page.goto(run_page.as_uri())
    traces = page.evaluate(
        "Array.from(document.querySelectorAll('#curves .js-plotly-plot')).map(d => [d.layout.title.text, d.data[0].x.length])"
    )
    titles = {t for t, _ in traces}
    assert any("loss" in t for t in titles) and any("learning_rate" in t for t in titles), titles
    assert all(n >= 2 for _, n in traces)
    assert "paired p" in page.inner_text("main") and "measured peak" in page.inner_text("main")
    page.screenshot(path=str(ARTIFACTS / "run.png"), full_page=True)


def test_item_browser_counts_equal_the_items_files(site, sweep_dir, page):
    runs = _site_runs(site)
    slug, run = next(iter(runs.items()))
    items = _site_items(site, slug)
    page.goto((site / "site" / "items" / f"{slug}.html").as_uri())
    total = sum(_lines(p) for p in (sweep_dir / run["name"] / "items").glob("after_*.jsonl"))
    assert page.inner_text("#item-summary").startswith(f"{total} of {total} items")
    assert len(page.query_selector_all("#items .item")) == min(total, 50)
    tally = counts(items)
    outcome = max(tally, key=tally.get)
    page.select_option("select[data-field='outcome']", outcome)
    assert page.inner_text("#item-summary").startswith(f"{tally[outcome]} of {total} items")
    page.select_option("select[data-field='outcome']", "")
    page.select_option("select[data-field='set']", "control")
    assert page.inner_text("#item-summary").startswith(f"{sum(i['set'] == 'control' for i in items)} of {total}")
    page.screenshot(path=str(ARTIFACTS / "items.png"))
    a, b = list(runs)
    page.goto((site / "site" / "compare.html").as_uri() + f"#a={a}&b={b}")
    page.wait_for_function("document.getElementById('compare-summary').textContent.length > 0")
    assert "peft_method.r" in page.inner_text("#config-diff")
    first, second = _site_items(site, a), _site_items(site, b)
    differ = sum(x["after"]["pred"] != y["after"]["pred"] for x, y in zip(first, second))  # same sets, same order
    assert page.inner_text("#compare-summary").startswith(f"{differ} of {len(first)} items")
    assert len(page.query_selector_all("#compare-items .pair")) == differ
    page.screenshot(path=str(ARTIFACTS / "compare.png"))


def _medmcqa_run(root: Path, n: int) -> Path:
    """A run folder as `benchmark=medmcqa` leaves it, over a synthetic MedMCQA-format dev.json of n questions."""
    rng = random.Random(0)
    subjects = ["Anatomy", "Physiology", "Pharmacology", "Pathology", "Medicine", "Surgery"]
    records = [
        {
            "id": f"q{i}",
            "question": f"Synthetic question {i} about {subjects[i % 6].lower()}: which option is right?",
            **{k: f"option {k[-1]} of {i}" for k in ("opa", "opb", "opc", "opd")},
            "cop": 1 + i % 4,
            "subject_name": subjects[i % 6],
            "choice_type": "single",
        }
        for i in range(n)
    ]
    (root / "dev.json").write_text("".join(json.dumps(r) + "\n" for r in records))
    cfg = compose_train(["model=tiny-random", "benchmark=medmcqa", f"benchmark.path={root / 'dev.json'}"])
    run = root / "run"
    (run / ".hydra").mkdir(parents=True)
    OmegaConf.save(cfg, run / ".hydra" / "config.yaml")
    for tag in ("before", "after"):
        lines = []
        for i in range(n):
            scores = [round(rng.uniform(-9, -1), 4) for _ in range(4)]
            predicted = max(range(4), key=scores.__getitem__)
            lines.append(
                json.dumps(
                    {
                        "id": f"q{i}",
                        "gold": i % 4,
                        "predicted": predicted,
                        "correct": predicted == i % 4,
                        "loglikelihoods": scores,
                    }
                )
            )
        (run / "benchmarks").mkdir(exist_ok=True)
        (run / "benchmarks" / f"{tag}_medmcqa.jsonl").write_text("\n".join(lines) + "\n")
    return run


def test_item_browser_of_4183_questions_loads_and_pages(tmp_path, page):
    run = _medmcqa_run(tmp_path, MEDMCQA_VALIDATION)
    started = time.perf_counter()
    written = build_site([run], tmp_path / "site")
    build_s = time.perf_counter() - started
    items_page = written[next(k for k in written if k.startswith("items:"))]
    started = time.perf_counter()
    page.goto(items_page.as_uri(), wait_until="load")
    page.wait_for_selector("#items .item")
    load_s = time.perf_counter() - started
    timing = page.evaluate(
        "(() => { const t = performance.getEntriesByType('navigation')[0]; return t.loadEventEnd; })()"
    )
    summary = page.inner_text("#item-summary")
    report = {
        "items": MEDMCQA_VALIDATION,
        "build_s": round(build_s, 2),
        "load_s": round(load_s, 3),
        "load_event_ms": round(timing, 1),
    }
    (ARTIFACTS / "item_browser_4183.json").write_text(json.dumps(report, indent=2))
    print(f"\nitem browser, {MEDMCQA_VALIDATION} questions: {report}")
    assert summary.startswith(f"{MEDMCQA_VALIDATION} of {MEDMCQA_VALIDATION} items")
    assert load_s < 60  # a sanity bound, not a speed claim: perf is the printed number
    first = page.inner_text("#items .item .question")
    assert "Synthetic question 0 " in first and len(page.query_selector_all("#items .item")) == 50
    page.click("#pager-top .next")
    assert "Synthetic question 50 " in page.inner_text("#items .item .question")
    page.select_option("select[data-field='subject']", "Anatomy")
    assert page.inner_text("#item-summary").startswith(f"{(MEDMCQA_VALIDATION + 5) // 6} of {MEDMCQA_VALIDATION}")
    page.screenshot(path=str(ARTIFACTS / "items_4183.png"))


def test_failed_and_planned_jobs_keep_their_rows(tmp_path):
    from test_report import make_job  # the report tests' hand-made job folders

    sweep = tmp_path / "multirun" / "s"
    make_job(sweep, ["peft_method.r=4", "seed=1"], "finished", 0.6)
    make_job(sweep, ["peft_method.r=8", "seed=1"], "failed")
    plan = [
        {"name": p.name, "overrides": json.loads((p / "job.json").read_text())["overrides"]} for p in sweep.iterdir()
    ]
    plan.append({"name": "peft_method.r=16,seed=1", "overrides": ["peft_method.r=16", "seed=1"]})
    (sweep / "sweep.json").write_text(json.dumps({"swept": ["peft_method.r", "seed"], "jobs": plan}))
    written = build_site([sweep], tmp_path / "site")
    index = written["index"].read_text()
    assert "FAILED" in index and "0 of 1 (1 pending)" in index and "60.0 [50.0, 70.0]" in index
    failed = next(p for k, p in written.items() if k.startswith("run:") and "r_8" in k).read_text()
    assert "failed" in failed and "CUDA out of memory" in failed


def test_a_sweep_over_different_base_models_gets_one_base_row_each(tmp_path):
    """A quantization ablation scores a different base model per data type: one base row per base
    (told apart by the score-cache key), labelled by the swept key, each the mean of its own jobs."""
    from medft.site.build import base_rows
    from medft.tables.aggregate import build_table
    from medft.tables.collect import JobRecord

    def job(quant: str, seed: int, before: float) -> JobRecord:
        metrics = {
            "eval_before": {"test": {"n": 10, "acc": before}},
            "eval_after": {"test": {"n": 10, "acc": before + 0.1}},
            "eval_before_source": {"key": f"key-{quant}", "reused": seed == 2},
        }
        overrides = {"quantization": quant, "seed": str(seed)}
        return JobRecord("s", f"quantization={quant},seed={seed}", tmp_path, "finished", overrides, metrics)

    jobs = [job("none", 1, 0.5), job("none", 2, 0.5), job("int8", 1, 0.3), job("int8", 2, 0.3)]
    table = build_table(["quantization", "seed"], jobs)
    rows = base_rows(table, jobs)
    assert [label for label, _ in rows] == ["quantization=none", "quantization=int8"]
    assert [row.cells["test_acc"].mean for _, row in rows] == pytest.approx([50.0, 30.0])
    same_base = [job("none", 1, 0.5), job("none", 2, 0.5)]
    ((label, _),) = base_rows(build_table(["seed"], same_base), same_base)
    assert label == ""  # one base: the plain "base model (before training)" row
