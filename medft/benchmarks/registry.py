"""The benchmarks medft knows, and one entry point that loads any of them by name."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from medft.benchmarks.base import BenchmarkData, BenchmarkSourceError
from medft.config.errors import UserError


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str  # registry name: the dataset.kind and the key in BENCHMARKS
    module: str  # medft.benchmarks.<module> exposing load(path, split, hub_id, hub_config)
    hub_id: str  # the hub copy read when no path is given
    hub_config: str | None  # its config name, where it has several
    data_subdir: str  # the folder for this benchmark inside a suite's data_dir
    task: str  # multiple_choice | generative
    harness: str | None  # lm-evaluation-harness prompt format this follows (None: no harness task)
    description: str = ""


BENCHMARKS: dict[str, BenchmarkSpec] = {
    spec.name: spec
    for spec in (
        BenchmarkSpec(
            "pubmedqa",
            "pubmedqa",
            "qiaojin/PubMedQA",
            "pqa_labeled",
            "pubmedqa",
            "multiple_choice",
            "pubmedqa",
            "PubMedQA PQA-L: yes/no/maybe over an abstract; official 500-record test set",
        ),
        BenchmarkSpec(
            "medqa",
            "medqa",
            "GBaker/MedQA-USMLE-4-options",
            None,
            "medqa",
            "multiple_choice",
            "medqa",
            "MedQA-USMLE 4-option: US medical licensing exam questions (1273 test)",
        ),
        BenchmarkSpec(
            "medmcqa",
            "medmcqa",
            "openlifescienceai/medmcqa",
            None,
            "medmcqa",
            "multiple_choice",
            "medmcqa",
            "MedMCQA: Indian medical entrance exams; scored on validation (4183)",
        ),
        BenchmarkSpec(
            "mmlu_medical",
            "mmlu",
            "cais/mmlu",
            None,
            "mmlu",
            "multiple_choice",
            "mmlu",
            "MMLU's six medical subjects (test split, dev few-shot)",
        ),
        BenchmarkSpec(
            "medquad",
            "medquad",
            "keivalya/MedQuad-MedicalQnADataset",
            None,
            "medquad",
            "generative",
            None,
            "MedQuAD consumer health Q&A, free-text answers, split by focus",
        ),
    )
}


def get_spec(name: str) -> BenchmarkSpec:
    if name not in BENCHMARKS:
        raise UserError(f"unknown benchmark {name!r}; known: {sorted(BENCHMARKS)}")
    return BENCHMARKS[name]


def load_benchmark(
    name: str,
    path: str | None = None,
    split: str = "auto",
    data_dir: str | None = None,
    hub_id: str | None = None,
    hub_config: str | None = None,
) -> BenchmarkData:
    """One benchmark's records: from `path` (a native file or folder), else from
    `data_dir/<data_subdir>`, else from the hub (`hub_id`/`hub_config` or the spec's)."""
    spec = get_spec(name)
    if path is None and data_dir is not None:
        folder = Path(data_dir).expanduser() / spec.data_subdir
        if not folder.is_dir():
            raise BenchmarkSourceError(
                f"{name}: no folder {folder} (resolved {folder.resolve()}); data_dir must hold one subfolder "
                f"per benchmark named {', '.join(s.data_subdir for s in BENCHMARKS.values())}, or pass "
                f"benchmark.path=<file or folder>"
            )
        path = str(folder)
    module = importlib.import_module(f"medft.benchmarks.{spec.module}")
    return module.load(
        path,
        split=split,
        hub_id=hub_id or (None if path else spec.hub_id),
        hub_config=hub_config or (None if path else spec.hub_config),
    )


def load_configured(name: str, bench_cfg):
    """Benchmark `name` as a `benchmark` config asks for it (its path only when it is the one member)."""
    single = len(bench_cfg.members) == 1
    return load_benchmark(
        name,
        path=bench_cfg.path if single else None,
        split=bench_cfg.split,
        data_dir=bench_cfg.data_dir,
        hub_id=bench_cfg.hub_id if single else None,
        hub_config=bench_cfg.hub_config if single else None,
    )
