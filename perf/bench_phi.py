"""Recall and precision of medft's PHI scanner per kind, beside presidio's pattern recognizers and
philter-lite where they run, on the synthetic note set tests/fixtures/phi_notes.jsonl.

    PYTHONPATH=. python perf/bench_phi.py [--notes tests/fixtures/phi_notes.jsonl] [--json out.json]
        [--baseline OTHER_CHECKOUT/medft/data/phi.py] [--public /work/shared/data]

Span level (medft.data.phi_eval): a gold span counts as found when every character of it lies in
some span the tool reports, whatever kind it gives it; a reported span is correct when it overlaps
a gold span. Rows are kinds (presidio's entities mapped to medft's names); n = gold spans of the
kind / spans the tool reported as that kind. A tool that cannot run here gets its reason printed.
--baseline adds another version of medft's scanner (a phi.py from another checkout) as a column;
--public counts the spans each medft scanner reports on public QA text (MedMCQA, PubMedQA, MedQuAD
copies in that folder: questions, options, explanations, abstracts), where nearly every span is a
false alarm, since that text has no patient in it.
presidio: pip install -e .[phi-bench]. The table for the committed set is in
docs/results/phi-scanner/index.md.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import sys
import time
from collections import Counter
from pathlib import Path

from medft.data import phi_eval

ROOT = Path(__file__).resolve().parents[1]


def philter_finder():
    """philter-lite's own detect_phi with its bundled configuration; raises what stops it offline."""
    import os

    import philter_lite

    filters = philter_lite.load_filters(
        os.path.join(os.path.dirname(philter_lite.__file__), "configs", "philter_delta.toml")
    )

    def find(text: str):
        # philter keeps what its include map holds and masks the rest: the rest is what it found.
        include_map, _, _ = philter_lite.detect_phi(text, patterns=filters)
        return [("PHI", start, stop) for start, stop in sorted(include_map.get_complement(text).items())]

    find("Seen by Dr. Okafor on 3/14.")  # fails here, not mid-table, when its tagger data is missing
    return find


def _load(name: str, make):
    try:
        return make(), None
    except Exception as err:  # the reason a tool cannot run here is a result too
        first_line = str(err).strip().splitlines()
        reason = next((line.strip() for line in first_line if line.strip() and set(line.strip()) != {"*"}), "")
        return None, f"{type(err).__name__}: {reason}"


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def baseline_finder(phi_py: Path):
    """medft's scanner as another checkout has it (its phi.py only needs the standard library)."""
    spec = importlib.util.spec_from_file_location("medft_phi_baseline", phi_py)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return lambda text: [(span.kind, span.start, span.end) for span in module.scan(text)]


def load_tools(baseline: Path | None = None) -> dict:
    """name -> (finder or None, why it cannot run)."""
    tools = {"medft": (phi_eval.medft_finder, None)}
    if baseline:
        tools["medft baseline"] = (baseline_finder(baseline), None)
    tools["presidio (patterns)"] = _load("presidio", phi_eval.presidio_finder)
    tools["philter-lite"] = _load("philter-lite", philter_finder)
    return tools


def public_texts(folder: Path) -> dict[str, list[list[str]]]:
    """name -> records -> their text fields, each scanned on its own as the PHI guard does."""
    sets = {}
    with open(folder / "medmcqa" / "dev_first3000.json", encoding="utf-8") as f:
        sets["MedMCQA dev_first3000 (question, options, exp)"] = [
            [str(row.get(k) or "") for k in ("question", "opa", "opb", "opc", "opd", "exp")]
            for row in map(json.loads, f)
        ]
    pubmedqa = json.loads((folder / "pubmedqa" / "ori_pqal_trainpool.json").read_text(encoding="utf-8"))
    sets["PubMedQA trainpool (question, contexts)"] = [
        [r["QUESTION"], "\n".join(r["CONTEXTS"])] for r in pubmedqa.values()
    ]
    csv.field_size_limit(sys.maxsize)
    with open(folder / "medquad" / "medquad_trainpool.csv", encoding="utf-8", newline="") as f:
        sets["MedQuAD trainpool (question, answer)"] = [[row["Question"], row["Answer"]] for row in csv.DictReader(f)]
    return sets


def print_public(folder: Path, tools: dict) -> None:
    scanners = {name: finder for name, (finder, _) in tools.items() if name.startswith("medft")}
    print("\n## spans reported on public QA text (no patient in it: nearly all are false alarms)\n")
    print("| text | records | " + " | ".join(scanners) + " |")
    print("|---|---|" + "---|" * len(scanners))
    for name, records in public_texts(folder).items():
        cells = []
        for finder in scanners.values():
            kinds = Counter(kind for fields in records for text in fields for kind, _, _ in finder(text))
            cells.append(f"{sum(kinds.values())} ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})")
        print(f"| {name} | {len(records)} | " + " | ".join(cells) + " |")


def run(notes_path: Path, tools: dict, subset: str | None = None) -> dict:
    lines = [json.loads(line) for line in notes_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    notes = [phi_eval.parse_marked(line["marked"]) for line in lines if subset is None or line["source"] == subset]
    results = {"notes": len(notes), "tools": {}}
    for name, (finder, reason) in tools.items():
        if finder is None:
            results["tools"][name] = {"error": reason}
            continue
        start = time.perf_counter()
        table = phi_eval.score(notes, finder)
        results["tools"][name] = {"table": table, "seconds": round(time.perf_counter() - start, 2)}
    return results


def print_table(results: dict) -> None:
    ran = {name: tool for name, tool in results["tools"].items() if "table" in tool}
    kinds = sorted({kind for tool in ran.values() for kind in tool["table"]}, key=lambda k: (k == "ALL", k))
    header = ["kind", "n gold"] + [f"{name} {what}" for name in ran for what in ("recall", "precision", "n found")]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for kind in kinds:
        first = next(tool["table"].get(kind) for tool in ran.values() if kind in tool["table"])
        cells = [kind, str(first["gold"])]
        for tool in ran.values():
            row = tool["table"].get(kind, {"gold": 0, "found": 0, "predicted": 0, "correct": 0})
            cells += [_cell(phi_eval.recall(row)), _cell(phi_eval.precision(row)), str(row["predicted"])]
        print("| " + " | ".join(cells) + " |")
    for name, tool in results["tools"].items():
        print(
            f"{name}: "
            + (
                f"{tool['seconds']} s for {results['notes']} notes"
                if "table" in tool
                else f"did not run: {tool['error']}"
            )
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=Path, default=ROOT / "tests" / "fixtures" / "phi_notes.jsonl")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--baseline", type=Path, help="another checkout's medft/data/phi.py, as a column")
    parser.add_argument("--public", type=Path, help="folder with the public QA copies (see /work/shared/data)")
    args = parser.parse_args(argv)
    tools, everything = load_tools(args.baseline), {}
    for subset, title in ((None, "all notes"), ("held_out", "held-out notes only (never used to write the patterns)")):
        results = run(args.notes, tools, subset)
        print(f"\n## {title}: {results['notes']} notes\n")
        print_table(results)
        everything[subset or "all"] = results
    if args.json:
        args.json.write_text(json.dumps(everything, indent=1))
    if args.public:
        print_public(args.public, tools)
    return 0


if __name__ == "__main__":
    sys.exit(main())
