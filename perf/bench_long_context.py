"""Letter-choice scoring on long clinical vignettes (MedQA-style, 150-600 tokens, " A".." D"): medft's
scorer at several batch shapes against a harness-style pass, same model, same items, one process.

    python perf/bench_long_context.py --model smollm2-135m --items 48 --batch-sizes 1 8 32

The items are built from fixed sentences (seeded), in the MedQA fixtures' format, so the script needs
no data. The harness-style pass is what lm-evaluation-harness 0.4 computes for a single-token
continuation: one unpadded forward per question over the context with the whole vocabulary
projection at every position. Printed: seconds per question of each setting, its speed-up over the
harness-style pass, and the largest log-likelihood difference (every prediction must agree).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SENTENCES = (
    "A 54-year-old man comes to the emergency department because of crushing chest pain for two hours.",
    "He has a history of hypertension, type 2 diabetes mellitus, and hyperlipidemia.",
    "His medications include metformin, lisinopril, and atorvastatin.",
    "He has smoked one pack of cigarettes daily for 30 years and drinks alcohol occasionally.",
    "His temperature is 37.2 C, pulse is 110/min, respirations are 22/min, and blood pressure is 150/95 mm Hg.",
    "Physical examination shows diaphoresis and jugular venous distention; crackles are heard at both lung bases.",
    "An electrocardiogram shows ST-segment elevations in leads II, III, and aVF.",
    "Laboratory studies show a hemoglobin concentration of 13.1 g/dL and a serum troponin I of 4.2 ng/mL.",
    "Two days after admission, she develops fever, dysuria, and right costovertebral angle tenderness.",
    "A chest x-ray shows bilateral hilar lymphadenopathy and reticular opacities in the upper lobes.",
    "Her mother had breast cancer at the age of 45 years, and her sister has hypothyroidism.",
    "Urinalysis shows numerous white blood cells, white blood cell casts, and gram-negative rods.",
    "The patient appears pale and lethargic; mucous membranes are dry and capillary refill is delayed.",
    "A lumbar puncture is performed; cerebrospinal fluid analysis shows a neutrophilic pleocytosis.",
)
OPTIONS = ("Aspirin", "Intravenous ceftriaxone", "Percutaneous coronary intervention", "Observation only")


def vignettes(n: int, seed: int = 0):
    """`n` MedQA-format records whose contexts spread over ~150-600 tokens."""
    from medft.data.records import Record

    rnd = random.Random(seed)
    records = []
    for i in range(n):
        body = " ".join(rnd.choice(SENTENCES) for _ in range(rnd.randint(6, 26)))
        question = f"{body} Which of the following is the most appropriate next step in management?"
        records.append(Record(question, OPTIONS[i % 4], OPTIONS, i % 4, metadata={"id": f"long-{i}"}))
    return records


def harness_style(model, requests):
    """One unpadded forward per question, every position's full log-softmax (lm-evaluation-harness)."""
    import torch

    out = []
    with torch.no_grad():
        for r in requests:
            logits = model(input_ids=torch.tensor([r.context]), use_cache=False).logits
            logprobs = torch.log_softmax(logits.float(), dim=-1)[0, -1]
            out.append([float(logprobs[c[0]]) for c in r.continuations])
    return out


def timed(fn, repeats: int):
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    import numpy as np
    import torch

    from medft.config.compose import compose_evaluate
    from medft.evaluation.harness_scoring import harness_requests
    from medft.evaluation.loglikelihood import continuation_logprobs
    from medft.recipes.evaluate import load_for_evaluation

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--items", type=int, default=48)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 8, 16, 32])
    parser.add_argument("--repeats", type=int, default=2, help="best of N (the machine may be shared)")
    parser.add_argument(
        "--override", action="append", default=[], help="a medft override, e.g. hardware.packed_linear=false"
    )
    args = parser.parse_args()

    cfg = compose_evaluate([f"model={args.model}", *args.override])
    model, tokenizer, _ = load_for_evaluation(cfg, cfg.model, cfg.quantization, None)
    model.eval()
    records = vignettes(args.items)
    requests, _ = harness_requests(tokenizer, records, "medqa", [[] for _ in records], 2048)
    lengths = sorted(len(r.context) for r in requests)
    print(
        f"{args.model}: {len(requests)} items, context tokens {lengths[0]}-{lengths[-1]} (median {lengths[len(lengths) // 2]}),"
        f" continuations {sorted({len(c) for r in requests for c in r.continuations})} token(s); torch threads {torch.get_num_threads()}"
    )
    reference_s, reference = timed(lambda: harness_style(model, requests), args.repeats)
    settings = [(f"batch {b}, right-padded, no mask", {"batch_size": b}) for b in args.batch_sizes]
    settings += [
        (f"batch {b}, left-padded, mask (the earlier path)", {"batch_size": b, "causal_padding": False})
        for b in args.batch_sizes
    ]
    print("| setting | s / question | speed-up vs harness-style | max abs dLL | same predictions |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| harness-style (unpadded, full logits) | {reference_s / len(requests):.3f} | 1.00x | 0 | {len(requests)}/{len(requests)} |"
    )
    for label, kwargs in settings:
        seconds, scores = timed(
            partial(continuation_logprobs, model, requests, tokenizer.pad_token_id, **kwargs), args.repeats
        )
        a, b = np.asarray(scores), np.asarray(reference)
        same = int((a.argmax(1) == b.argmax(1)).sum())
        print(
            f"| medft {label} | {seconds / len(requests):.3f} | {reference_s / seconds:.2f}x | {np.abs(a - b).max():.1e} | {same}/{len(requests)} |"
        )


if __name__ == "__main__":
    main()
