"""The base model's scores, computed once: a content-addressed cache shared by runs and sweep jobs.

A run scores its base model before training. Those numbers depend only on what the key below
holds, so every run and sweep job whose key matches reads them from `<eval.score_cache>/<key>.json`
instead of scoring again (a rank sweep changes only the adapter: its jobs share one entry). Key:

- base: the resolved weights' checksum (a packaged model's GGUF sha256, a random model's architecture
  and seed, a local folder's config and file sizes, a hub id@revision) and the quantization;
- items: the fingerprint of every evaluation set's records and of every configured benchmark's items
  and few-shot pool;
- scorer and prompt: a hash of the source of `medft/evaluation`, `medft/prompts` and `medft/benchmarks`
  (any code change recomputes), the formulation, lengths, batch size, chat template and system prompt,
  and every benchmark setting;
- precision: the profile's device and precision.

Any difference recomputes. Concurrent jobs with the same key (a joblib sweep) take a file lock on the
key, so one scores and the others wait and read. A run that starts from another run's adapter
(`init_from`) is not cached: its "before" model is not a base model.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timezone
from pathlib import Path

from medft.data.fingerprint import fingerprint_records
from medft.evaluation.benchmark_suite import load_sources
from medft.runtime.files import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

PACKAGE = Path(__file__).resolve().parents[1]
SCORING_CODE = ("evaluation", "prompts", "benchmarks")  # packages whose source decides the numbers
ITEM_FOLDERS = ("items", "benchmarks")  # where evaluate_all writes per-question files in a run folder
FORMAT = 1  # of the entry file; a change makes old entries misses


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def code_fingerprint(packages=SCORING_CODE) -> str:
    """sha256 over the source of the scoring packages: the scorer and prompt version."""
    digest = hashlib.sha256()
    for package in packages:
        for path in sorted((PACKAGE / package).rglob("*.py")):
            digest.update(str(path.relative_to(PACKAGE)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _container(node):
    from omegaconf import OmegaConf

    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def benchmark_fingerprint(bench_cfg) -> str | None:
    """The configured benchmarks' items and few-shot pools, as read now; None when there are none."""
    if not bench_cfg.members:
        return None
    loaded, skipped = load_sources(bench_cfg)
    parts = {}
    for name, data in loaded.items():
        parts[name] = data.records
        parts[f"{name}:fewshot"] = data.fewshot_pool or []
    return _digest({"items": fingerprint_records(parts), "skipped": sorted(skipped)})


def key_parts(cfg, resolved_model, sets: dict) -> dict | None:
    """What the base model's scores depend on, part by part; None when they are not cacheable."""
    if cfg.get("init_from"):
        return None
    return {
        "base": {"checksum": resolved_model.checksum, "quantization": _container(cfg.quantization)},
        "items": {"sets": fingerprint_records(sets), "benchmarks": benchmark_fingerprint(cfg.benchmark)},
        "scorer": {
            "code": code_fingerprint(),
            "task": cfg.task.scorer,
            "formulation": cfg.eval.formulation,
            "max_seq_len": cfg.training.max_seq_len,
            "eval_batch_size": cfg.training.eval_batch_size,
            "benchmark": _container(cfg.benchmark),
        },
        "prompt": {"chat_template": cfg.model.chat_template, "system_prompt": cfg.model.system_prompt},
        "precision": {"device": cfg.hardware.device, "precision": cfg.hardware.precision},
    }


def cache_key(parts: dict) -> str:
    return _digest({"format": FORMAT, **parts})


def _item_files(run_dir: Path) -> dict[str, str]:
    files = {}
    for folder in ITEM_FOLDERS:
        for path in sorted((run_dir / folder).glob("before_*.jsonl")):
            files[f"{folder}/{path.name}"] = path.read_text(encoding="utf-8")
    return files


def cached_scores(cache_root: str | None, parts: dict | None, run_dir: Path, score):
    """(summary, benchmarks, per_question, provenance): from the cache when the key matches, else
    `score()` now and stored. `provenance` says which, the key, and the run that computed them."""
    run_dir = Path(run_dir)
    if cache_root is None or parts is None:
        why = "eval.score_cache=null" if cache_root is None else "init_from: the starting model is not a base model"
        return (*score(), {"reused": False, "cached": False, "why": why})
    from filelock import FileLock

    key = cache_key(parts)
    root = Path(cache_root).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    entry_file = root / f"{key}.json"
    with FileLock(str(root / f"{key}.lock")):  # one job of a parallel sweep scores; the others wait and read
        if entry_file.is_file():
            entry = json.loads(entry_file.read_text(encoding="utf-8"))
            for name, text in entry["item_files"].items():
                atomic_write_text(run_dir / name, text)
            log.info("Base model's scores reused from %s (computed by %s)", entry_file, entry["source"])
            provenance = {"reused": True, "key": key, "source": entry["source"], "entry": str(entry_file)}
            return entry["summary"], entry["benchmarks"], entry["per_question"], provenance
        summary, benchmarks, per_question = score()
        entry = {
            "format": FORMAT,
            "key": key,
            "parts": parts,
            "source": str(run_dir),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "summary": summary,
            "benchmarks": benchmarks,
            "per_question": per_question,
            "item_files": _item_files(run_dir),
        }
        atomic_write_json(entry_file, entry)
    log.info("Base model's scores stored in %s for later runs with the same key", entry_file)
    return (
        summary,
        benchmarks,
        per_question,
        {"reused": False, "key": key, "source": str(run_dir), "entry": str(entry_file)},
    )
