"""The base model's scores, computed once (medft/run/score_cache.py): a second run with the same key
reuses them, recorded in the manifest and metrics.json; each part of the key changed recomputes; a
4-job rank sweep scores the base once."""

from __future__ import annotations

import json

import pytest
from test_sweeps import sweep

from medft.data.load import evaluation_sets, load_splits
from medft.models.resolve import resolve_model
from medft.recipes.train import run
from medft.run.score_cache import cache_key, cached_scores, key_parts


def test_second_run_with_same_key_reuses_base_scores(tiny_cfg, tmp_path):
    first = run(tiny_cfg("eval.validation=false"), tmp_path / "first")
    second = run(tiny_cfg("eval.validation=false", "peft_method.r=4"), tmp_path / "second")

    assert first["eval_before_source"]["reused"] is False
    assert first["eval_before_source"]["source"] == str(tmp_path / "first")
    provenance = second["eval_before_source"]
    assert provenance["reused"] is True and provenance["source"] == str(tmp_path / "first")
    assert provenance["key"] == first["eval_before_source"]["key"]
    assert second["eval_before"] == first["eval_before"]
    manifest = json.loads((tmp_path / "second" / "manifest.json").read_text())
    assert manifest["eval_before_source"] == provenance
    # The per-question files come with the scores: the second run folder is as complete as the first.
    for name in ("before_test.jsonl", "before_control.jsonl"):
        assert (tmp_path / "second" / "items" / name).read_text() == (tmp_path / "first" / "items" / name).read_text()
    # The paired test still pairs: after-training scores against the reused before-scores.
    assert 0 <= second["paired"]["test"]["p_value"] <= 1


def test_no_cache_scores_every_time(tmp_path):
    calls = []
    for _ in range(2):
        *_, provenance = cached_scores(None, {"base": {}}, tmp_path, lambda: calls.append(1) or ({}, {}, {}))
        assert provenance["reused"] is False and provenance["cached"] is False
    assert len(calls) == 2 and not list(tmp_path.iterdir())


def _parts(cfg):
    sets = evaluation_sets(load_splits(cfg.dataset), cfg.dataset.eval_limit)
    return key_parts(cfg, resolve_model(cfg.model, cfg.cache_dir, cfg.seed), sets)


CHANGES = {  # one override per part of the key, and the part it must change
    "seed=7": "base",  # tiny-random's weights are drawn from the seed
    "quantization=nf4": "base",
    "dataset.eval_limit=6": "items",
    "eval.formulation=letter": "scorer",
    "training.max_seq_len=128": "scorer",
    "model.system_prompt=You are a careful clinician.": "prompt",
    "hardware.precision=bf16": "precision",
}


def test_each_key_part_changed_recomputes(tiny_cfg, tmp_path):
    calls = []

    def score():
        calls.append(1)
        return {"test": {"acc": 0.5}}, {}, {"test": [True, False]}

    cache = tmp_path / "scores"
    base = _parts(tiny_cfg())
    assert cached_scores(str(cache), base, tmp_path / "a", score)[3]["reused"] is False
    assert cached_scores(str(cache), _parts(tiny_cfg("peft_method.r=4")), tmp_path / "b", score)[3]["reused"] is True
    assert len(calls) == 1
    for override, part in CHANGES.items():
        changed = _parts(tiny_cfg(override))
        assert [name for name in base if base[name] != changed[name]] == [part], override
        before = len(calls)
        provenance = cached_scores(str(cache), changed, tmp_path / "c", score)[3]
        assert provenance["reused"] is False and len(calls) == before + 1, override
        assert provenance["key"] != cache_key(base)


def test_scorer_code_is_part_of_the_key(tiny_cfg):
    parts = _parts(tiny_cfg())
    edited = {**parts, "scorer": {**parts["scorer"], "code": "0" * 64}}  # what any edit of medft/evaluation does
    assert cache_key(edited) != cache_key(parts)


def test_init_from_is_not_cached(tiny_cfg, tmp_path):
    cfg = tiny_cfg(f"init_from={tmp_path}")
    assert key_parts(cfg, resolve_model(cfg.model, cfg.cache_dir, cfg.seed), {}) is None


@pytest.mark.slow
def test_four_job_rank_sweep_scores_the_base_once(tmp_path):
    result = sweep(tmp_path, "peft_method.r=2,4,8,16", "eval.before=true", "eval.validation=false")
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = sorted((tmp_path / "outputs" / "builtin" / "multirun").glob("*/peft_method.r=*"))
    sources = [json.loads((job / "metrics.json").read_text())["eval_before_source"] for job in jobs]
    assert len(sources) == 4 and sum(not s["reused"] for s in sources) == 1
    assert len({s["source"] for s in sources}) == 1 and len(list((tmp_path / "cache" / "scores").glob("*.json"))) == 1
