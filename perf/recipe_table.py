"""Label-level results of training runs from their per-question predictions (<run>/items/*.jsonl).

For each arm (a set of run folders that differ only in seed) and each held-out set it reports
accuracy and macro-F1 with intervals, the predicted-label distribution and a collapse flag, next
to the zero-shot model (the `before_` items of a run that scored the base) and the majority
class (always the held-out set's most frequent label: PubMedQA's published 55.2 is this on the
official test). Seeds give mean +/- std and a Student-t 95% interval over seeds; each run also
has percentile-bootstrap intervals over questions, and the seeds' ensemble (mean of their
option probabilities) is scored like one run.

    python perf/recipe_table.py --labels yes,no,maybe \
        --arm "balanced=outputs/pmq_bal" --arm "natural=outputs/pmq_none" --zero-shot "zero-shot=outputs/pmq_bal"

A run counts only when its metrics.json exists (finished). Prints a Markdown table and, with
--json, writes every number to a file.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medft.evaluation.baselines import COLLAPSE_RULE, label_summary  # noqa: E402
from medft.evaluation.bootstrap import mean_ci  # noqa: E402
from medft.evaluation.items import read_items  # noqa: E402


def finished_runs(folder: Path) -> list[Path]:
    return sorted(p.parent for p in Path(folder).glob("*/metrics.json"))


def softmax(values: list[float]) -> list[float]:
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    return [e / sum(exps) for e in exps]


def label_metrics(gold: list[int], predicted: list[int], n_labels: int) -> dict:
    import numpy as np

    # medft's own label summary (macro-F1, its bootstrap interval, the collapse rule), so this table and
    # the run's metrics.json cannot disagree
    summary = label_summary(gold, predicted, [[str(k) for k in range(n_labels)]] * len(gold))
    correct = [int(p == g) for p, g in zip(predicted, gold)]
    return {
        "n": len(gold),
        "acc": float(np.mean(correct)),
        "acc_ci95": mean_ci(correct),
        "macro_f1": summary["macro_f1"],
        "macro_f1_ci95": summary["macro_f1_ci95"],
        "predicted": [predicted.count(k) for k in range(n_labels)],
        "collapsed": summary["collapse"]["flag"],
    }


def seed_summary(values: list[float]) -> dict:
    """mean, sample std and a Student-t 95% interval over seeds."""
    from scipy import stats

    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return {"mean": mean, "std": None, "ci95": [None, None], "n": n}
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)
    return {"mean": mean, "std": std, "ci95": [mean - half, mean + half], "n": n}


def arm_results(runs: list[Path], set_name: str, n_labels: int) -> dict:
    per_run, probabilities, gold = [], None, None
    for run in runs:
        items = read_items(run / "items" / f"after_{set_name}.jsonl")
        metrics = json.loads((run / "metrics.json").read_text())
        config = (run / ".hydra" / "overrides.yaml").read_text().splitlines()
        gold = [row["gold"] for row in items]
        result = label_metrics(gold, [row["predicted"] for row in items], n_labels)
        seed = json.loads((run / "manifest.json").read_text())["seed"]
        result.update(
            run=str(run),
            seed=seed,
            train_wall_s=metrics["train"]["wall_s"],
            run_wall_s=metrics["run_wall_s"],
            tokens_per_s=metrics["train"]["tokens_per_s"],
            truncated=metrics["train"]["truncated_examples"],
            overrides=[o.lstrip("- ") for o in config],
        )
        per_run.append(result)
        probs = [softmax(row["logprobs"]) for row in items]
        probabilities = (
            probs if probabilities is None else [[a + b for a, b in zip(x, y)] for x, y in zip(probabilities, probs)]
        )
    ensemble = label_metrics(gold, [max(range(n_labels), key=p.__getitem__) for p in probabilities], n_labels)
    return {
        "runs": per_run,
        "acc": seed_summary([r["acc"] for r in per_run]),
        "macro_f1": seed_summary([r["macro_f1"] for r in per_run]),
        "ensemble": ensemble,
    }


def zero_shot(run: Path, set_name: str, n_labels: int) -> dict:
    items = read_items(run / "items" / f"before_{set_name}.jsonl")
    return label_metrics([r["gold"] for r in items], [r["predicted"] for r in items], n_labels)


def majority(gold: list[int], n_labels: int) -> dict:
    label = max(range(n_labels), key=gold.count)
    return {**label_metrics(gold, [label] * len(gold), n_labels), "label": label}


def pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def interval(ci) -> str:
    return "" if ci is None or ci[0] is None else f" [{pct(ci[0])}, {pct(ci[1])}]"


def std(summary: dict) -> str:
    return "" if summary["std"] is None else f" ± {pct(summary['std'])}"


def distribution(counts, labels) -> str:
    return " / ".join(f"{label} {count}" for label, count in zip(labels, counts))


def verdict(result: dict, base: dict) -> str:
    """The acceptance test: macro-F1's interval above the majority's macro-F1, accuracy at least its share, no collapse."""
    checks = [
        result["macro_f1_ci95"][0] is not None and result["macro_f1_ci95"][0] > base["macro_f1"],
        result["acc"] >= base["acc"],
        not result["collapsed"],
    ]
    return (
        "pass"
        if all(checks)
        else "fail ("
        + ", ".join(name for name, ok in zip(("macro-F1 interval", "accuracy", "collapse"), checks) if not ok)
        + ")"
    )


def markdown(results: dict, labels: list[str]) -> str:
    base = results["majority"]
    lines = [
        "| model | seeds | acc (%) | macro-F1 (%) | predicted (" + " / ".join(labels) + ") | collapse | vs majority |",
        "|---|---:|---|---|---|---|---|",
    ]
    lines.append(
        f"| majority class ({labels[base['label']]}) | - | {pct(base['acc'])} | {pct(base['macro_f1'])}"
        f"{interval(base['macro_f1_ci95'])} | {distribution(base['predicted'], labels)} | yes | - |"
    )
    for name, z in results.get("zero_shot", {}).items():
        lines.append(
            f"| {name} | - | {pct(z['acc'])}{interval(z['acc_ci95'])} | {pct(z['macro_f1'])}"
            f"{interval(z['macro_f1_ci95'])} | {distribution(z['predicted'], labels)} | "
            f"{'yes' if z['collapsed'] else 'no'} | {verdict(z, base)} |"
        )
    for name, arm in results["arms"].items():
        acc, f1 = arm["acc"], arm["macro_f1"]
        several = len(arm["runs"]) > 1  # one seed: its own row says it all
        if several:
            lines.append(
                f"| {name}: mean of seeds | {acc['n']} | {pct(acc['mean'])}{std(acc)}{interval(acc['ci95'])} | "
                f"{pct(f1['mean'])}{std(f1)}{interval(f1['ci95'])} | - | "
                f"{sum(r['collapsed'] for r in arm['runs'])} of {len(arm['runs'])} | - |"
            )
        for r in arm["runs"]:
            lines.append(
                f"| {name}: seed {r['seed']} | 1 | {pct(r['acc'])}{interval(r['acc_ci95'])} | "
                f"{pct(r['macro_f1'])}{interval(r['macro_f1_ci95'])} | {distribution(r['predicted'], labels)} | "
                f"{'yes' if r['collapsed'] else 'no'} | {verdict(r, base)} |"
            )
        e = arm["ensemble"]
        if several:
            lines.append(
                f"| {name}: ensemble of the seeds | {len(arm['runs'])} | {pct(e['acc'])}{interval(e['acc_ci95'])} | "
                f"{pct(e['macro_f1'])}{interval(e['macro_f1_ci95'])} | {distribution(e['predicted'], labels)} | "
                f"{'yes' if e['collapsed'] else 'no'} | {verdict(e, base)} |"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arm", action="append", default=[], help="NAME=FOLDER: finished runs under FOLDER/*/")
    parser.add_argument(
        "--zero-shot",
        action="append",
        default=[],
        help="NAME=FOLDER: a run (or a folder of runs) that scored the base model (eval.before)",
    )
    parser.add_argument(
        "--labels", required=True, help="comma-separated option names in option order, e.g. yes,no,maybe"
    )
    parser.add_argument("--set", default="test", help="the evaluation set (items/after_<set>.jsonl)")
    parser.add_argument("--json", help="write every number here")
    args = parser.parse_args(argv)
    labels = args.labels.split(",")
    arms = {}
    for spec in args.arm:
        name, folder = spec.split("=", 1)
        runs = finished_runs(Path(folder))
        if runs:
            arms[name] = arm_results(runs, args.set, len(labels))
    zero_shots = {}
    for spec in args.zero_shot:
        name, folder = spec.split("=", 1) if "=" in spec else ("zero-shot", spec)
        folder = Path(folder)
        candidates = (
            [folder]
            if (folder / "items").is_dir()
            else [p.parent.parent for p in sorted(folder.glob(f"*/items/before_{args.set}.jsonl"))]
        )
        if candidates:
            zero_shots[name] = (candidates[0], zero_shot(candidates[0], args.set, len(labels)))
    if not arms and not zero_shots:
        print("no finished runs and no zero-shot scores", file=sys.stderr)
        return 1
    # the majority class of the scored questions: from a tuned run's items, or the base model's
    gold_items = (
        Path(next(iter(arms.values()))["runs"][0]["run"]) / "items" / f"after_{args.set}.jsonl"
        if arms
        else next(iter(zero_shots.values()))[0] / "items" / f"before_{args.set}.jsonl"
    )
    gold = [row["gold"] for row in read_items(gold_items)]
    results = {"labels": labels, "set": args.set, "majority": majority(gold, len(labels)), "arms": arms}
    results["zero_shot"] = {name: summary for name, (_, summary) in zero_shots.items()}
    print(markdown(results, labels))
    print(f"\n{COLLAPSE_RULE[0].upper()}{COLLAPSE_RULE[1:]} (medft.evaluation.baselines).")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
