"""medft's benchmark scorer against lm-evaluation-harness, same model, same items, one run.

    python perf/bench_eval.py --data-dir ../shared/data --models smollm2-135m gemma3-270m \\
        --benchmarks pubmedqa medmcqa --batch-size 16 [--limit N]
    python perf/bench_eval.py --models smollm2-135m --benchmarks medqa-vignettes --vignettes 150

`medqa-vignettes` writes MedQA-USMLE's file layout with long clinical vignettes built from fixed
sentences (150-600 tokens, one-letter choices; perf/bench_long_context.py), read by both sides as
`medqa`: the MedQA test split is not on this machine and its long contexts are the slow case.

For every (model, benchmark) pair, each side runs in a fresh process (imports, model load and
scoring all counted: "end to end"), one after the other so they never share the CPU, on the
same converted checkpoint, with the same batch size and the same first N items. Printed per
pair: both accuracies and their gap in points, how many predictions agree, the largest
per-choice log-likelihood difference, both wall times and the ratio harness / medft.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without install (the workers inherit nothing else)
NATIVE_FILES = {"pubmedqa": "pubmedqa/ori_pqal_trainpool.json", "medmcqa": "medmcqa/dev_sample.json"}
# MedQA-USMLE's layout with long vignettes built from fixed sentences (perf/bench_long_context.py): the
# test split is not on this machine, and its long contexts with one-letter choices are the slow case.
VIGNETTES = "medqa-vignettes"


def write_vignettes(folder: Path, n: int) -> Path:
    """`n` long-vignette questions as a MedQA `test.jsonl` (question, options A-D, answer, answer_idx)."""
    from bench_long_context import vignettes

    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for record in vignettes(n):
        options = dict(zip("ABCD", record.options, strict=True))
        letter = "ABCD"[record.answer_index]
        lines.append(
            json.dumps(
                {
                    "question": record.question,
                    "options": options,
                    "answer": options[letter],
                    "answer_idx": letter,
                    "meta_info": "step1",
                }
            )
        )
    (folder / "test.jsonl").write_text("\n".join(lines) + "\n")
    return folder / "test.jsonl"


def checkpoint_dir(model: str) -> str:
    """The converted transformers checkpoint both sides load (converted once if needed)."""
    from medft.config.compose import compose_evaluate
    from medft.models.resolve import resolve_model

    cfg = compose_evaluate([f"model={model}"])
    return resolve_model(cfg.model, cfg.cache_dir, cfg.seed).path


def timed_process(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - started
    if result.returncode:
        sys.exit(f"failed: {' '.join(command)}\n{result.stderr[-4000:]}")
    return wall, result.stdout


def medft_worker(args) -> None:
    """One medft evaluation (run as a subprocess by the parent): prints per-item scores as JSON."""
    started = time.perf_counter()
    from medft.config.compose import compose_evaluate
    from medft.evaluation.benchmark_suite import evaluate_benchmarks
    from medft.recipes.evaluate import load_for_evaluation

    overrides = [
        f"model={args.model}",
        f"benchmark={args.benchmark}",
        f"benchmark.path={args.source}",
        f"benchmark.batch_size={args.batch_size}",
    ] + ([f"benchmark.limit={args.limit}"] if args.limit else [])
    overrides += args.medft_override
    cfg = compose_evaluate(overrides)
    model, tokenizer, _ = load_for_evaluation(cfg, cfg.model, cfg.quantization, None)
    loaded = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        results, _ = evaluate_benchmarks(model, tokenizer, cfg.benchmark, items_dir=Path(tmp))
        items = [json.loads(line) for line in (Path(tmp) / f"{args.benchmark}.jsonl").read_text().splitlines()]
    r = results[args.benchmark]
    json.dump(
        {
            "acc": r["acc"],
            "acc_norm": r["acc_norm"],
            "n": r["n"],
            "load_s": loaded - started,
            "evaluate_s": time.perf_counter() - loaded,
            "per_item": [{"gold": i["gold"], "loglikelihoods": i["loglikelihoods"]} for i in items],
        },
        sys.stdout,
    )


def compare(medft: dict, harness: dict) -> dict:
    import numpy as np

    agree, worst = 0, 0.0
    for ours, theirs in zip(medft["per_item"], harness["per_item"]):
        assert ours["gold"] == theirs["gold"], "the two sides disagree about an item's answer"
        a, b = np.asarray(ours["loglikelihoods"]), np.asarray(theirs["loglikelihoods"])
        agree += int(a.argmax() == b.argmax())
        worst = max(worst, float(np.abs(a - b).max()))
    return {"agree": agree, "max_ll_diff": worst}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--models", nargs="+", default=["smollm2-135m", "gemma3-270m"])
    parser.add_argument(
        "--benchmarks", nargs="+", default=["pubmedqa", "medmcqa"], choices=[*sorted(NATIVE_FILES), VIGNETTES]
    )
    parser.add_argument("--vignettes", type=int, default=150, help=f"how many {VIGNETTES} questions to build")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--limit", type=int, default=None, help="first N items (default: all)")
    parser.add_argument(
        "--medft-override",
        action="append",
        default=[],
        help="an override for medft's side only, e.g. hardware.compile=regional (repeatable)",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--benchmark", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return medft_worker(args)

    rows = []
    for model in args.models:
        model_dir = checkpoint_dir(model)
        for bench in args.benchmarks:
            if bench == VIGNETTES:
                source = str(write_vignettes(Path(tempfile.mkdtemp()) / "US", args.vignettes))
            else:
                source = str(Path(args.data_dir) / NATIVE_FILES[bench])
            native = "medqa" if bench == VIGNETTES else bench  # the benchmark both sides read it as
            limit = [f"--limit={args.limit}"] if args.limit else []
            medft_wall, out = timed_process(
                [
                    sys.executable,
                    str(HERE / "bench_eval.py"),
                    "--worker",
                    f"--model={model}",
                    f"--benchmark={native}",
                    f"--source={source}",
                    f"--batch-size={args.batch_size}",
                    *limit,
                    *(f"--medft-override={o}" for o in args.medft_override),
                ]
            )
            medft = json.loads(out)
            harness_wall, out = timed_process(
                [
                    sys.executable,
                    str(HERE / "harness_runner.py"),
                    f"--model-dir={model_dir}",
                    f"--benchmark={native}",
                    f"--source={source}",
                    f"--batch-size={args.batch_size}",
                    "--per-item",
                    *limit,
                ]
            )
            harness = json.loads(out)
            row = {
                "model": model,
                "benchmark": bench,
                "n": medft["n"],
                "medft_acc": medft["acc"],
                "harness_acc": harness["acc"],
                "medft_acc_norm": medft["acc_norm"],
                "harness_acc_norm": harness["acc_norm"],
                **compare(medft, harness),
                "medft_wall_s": medft_wall,
                "harness_wall_s": harness_wall,
                "medft_scoring_s": medft["evaluate_s"],
                "harness_scoring_s": harness["evaluate_s"],
            }
            rows.append(row)
            print(json.dumps(row), flush=True)

    print(f"\nbatch size {args.batch_size}, {'first ' + str(args.limit) if args.limit else 'all'} items, CPU fp32\n")
    print(
        "| model | benchmark | n | acc medft | acc harness | gap (points) | same prediction | max |dLL| "
        "| wall medft s | wall harness s | speed-up (wall) | speed-up (scoring) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['model']} | {r['benchmark']} | {r['n']} | {100 * r['medft_acc']:.1f} | {100 * r['harness_acc']:.1f} "
            f"| {100 * (r['medft_acc'] - r['harness_acc']):+.1f} | {r['agree']}/{r['n']} | {r['max_ll_diff']:.1e} "
            f"| {r['medft_wall_s']:.0f} | {r['harness_wall_s']:.0f} | {r['harness_wall_s'] / r['medft_wall_s']:.2f}x "
            f"| {r['harness_scoring_s'] / r['medft_scoring_s']:.2f}x |"
        )


if __name__ == "__main__":
    main()
