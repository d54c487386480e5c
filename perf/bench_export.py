"""Do exported models still give the merged model's answers? GGUF (in llama.cpp) and ONNX (in
onnxruntime) against the merged checkpoint in PyTorch, on 20 fixed medical prompts.

    python perf/bench_export.py outputs/<name>/<time> [--gguf-types f32 f16 q8_0] [--threads 2] [--extra-gguf F ...]

For each prompt (perf/data/export_prompts.jsonl) the merged model first answers greedily
(--answer-tokens); every position of prompt + answer is then scored by each export, fed the same
token ids. Reported: top-1 next-token agreement over all positions, max and mean abs logit
difference. Then a chat turn through the f16 GGUF's embedded chat template (llama-cpp-python's
own formatter), which must end at the end-of-turn token, not at the length cap; and the latency
of a full forward pass, onnxruntime vs PyTorch, on the same threads.
Exports are made with `python -m medft export` code (reused when already in <run>/exports/).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without install
PROMPTS = ROOT / "benchmarks" / "data" / "export_prompts.jsonl"


def export(run_dir: Path, fmt: str, overrides: list[str]) -> Path:
    from medft.config.compose import compose_named
    from medft.recipes.export import default_out, run

    out = default_out(run_dir, fmt)
    if (out / "export.json").is_file():
        return out
    return run(compose_named("export", [f"run_dir={run_dir}", f"format={fmt}", *overrides]))


def sequences(merged: Path, system_prompt, answer_tokens: int):
    """(token ids of prompt + greedy answer, reference logits) per prompt, from the merged model."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from medft.prompts import chat_prompt

    tokenizer = AutoTokenizer.from_pretrained(merged)
    model = AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32).eval()
    found = []
    for line in PROMPTS.read_text().splitlines():
        text = chat_prompt(tokenizer, [{"role": "user", "content": json.loads(line)["prompt"]}], system_prompt)
        ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            ids = model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=answer_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
            found.append((ids[0].tolist(), model(input_ids=ids).logits[0].numpy()))
    return found, model, tokenizer


def compare(name: str, refs, logits_of) -> dict:
    import numpy as np

    agree = positions = 0
    max_diff, sum_diff = 0.0, 0.0
    for ids, reference in refs:
        got = np.asarray(logits_of(ids), dtype=np.float32)[: len(ids)]
        agree += int((got.argmax(-1) == reference.argmax(-1)).sum())
        positions += len(ids)
        diff = np.abs(got - reference)
        max_diff, sum_diff = max(max_diff, float(diff.max())), sum_diff + float(diff.mean()) * len(ids)
    return {
        "export": name,
        "positions": positions,
        "top1_agreement": agree / positions,
        "max_abs_logit_diff": max_diff,
        "mean_abs_logit_diff": sum_diff / positions,
    }


def merge_precision(run_dir: Path, merged: Path, refs, merged_model) -> dict:
    """Issue 7's check, with what it takes to read it: the saved merge equals the in-memory one bit for
    bit, and each fp32 path (merged, unmerged) is measured against base + adapter in float64, beside
    the spread fp32 shows for one and the same model under two attention kernels and two thread counts."""
    import copy

    import numpy as np
    import torch
    from safetensors.torch import load_file

    from medft.models.float64_reference import float64_copy
    from medft.run.saved_model import load_run

    folded, _, _ = load_run(run_dir)  # merge=True: the fold merge_and_save saved
    stored, state = load_file(merged / "model.safetensors"), folded.state_dict()
    saved = f"{sum(torch.equal(tensor, state[name]) for name, tensor in stored.items())} of {len(stored)} tensors"
    tied = merged_model.lm_head.weight.data_ptr() == merged_model.model.embed_tokens.weight.data_ptr()
    folded = state = stored = None  # a second model's worth of memory, no longer needed
    live, _, _ = load_run(run_dir, merge=False)
    double = float64_copy(live)
    exact = [(ids, torch_logits(double, ids)) for ids, _ in refs]
    double = None

    def of(model):
        return lambda ids: torch_logits(model, ids)

    rows = [
        compare("base + adapter (PyTorch fp32, unmerged)", refs, of(live)),
        compare("merged fp32 vs base + adapter float64", exact, of(merged_model)),
        compare("base + adapter fp32 vs float64", exact, of(live)),
    ]
    # The alternative merge: W + scale * B @ A summed in float64 and rounded to fp32 once (peft rounds twice)
    rounded_once = copy.deepcopy(live).double().merge_and_unload().float().eval()
    rows.append(compare("merged in float64, rounded once, vs float64", exact, of(rounded_once)))
    rounded_once = None
    merged_model.set_attn_implementation("eager")  # same weights, another order of the same sums
    rows.append(compare("merged fp32, eager vs sdpa attention", refs, of(merged_model)))
    merged_model.set_attn_implementation("sdpa")
    # The floor of the comparison itself: one and the same unmerged model, at another thread count
    # (the matmuls split their sums differently). No two fp32 paths can agree more closely than this.
    threads = torch.get_num_threads()
    other = 1 if threads > 1 else 2
    torch.set_num_threads(other)
    at_other = [(ids, torch_logits(live, ids)) for ids, _ in refs]
    torch.set_num_threads(threads)
    rows.append(compare(f"base + adapter fp32, {other} vs {threads} thread(s)", at_other, of(live)))
    largest = max(float(np.abs(logits).max()) for _, logits in exact)
    hidden = max(largest_hidden_state(merged_model, ids) for ids, _ in refs)
    return {
        "saved_equals_in_memory": saved,
        "head_tied": tied,
        "largest_abs_logit": largest,
        "largest_abs_hidden_state": hidden,
        "fp32_spacing_there": float(np.spacing(np.float32(hidden))),
        "rows": rows,
    }


def largest_hidden_state(model, ids) -> float:
    """The largest value on the residual stream: where fp32's spacing between numbers is widest."""
    import torch

    with torch.no_grad():
        states = model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states
    return max(float(h.abs().max()) for h in states)


def torch_logits(model, ids):
    import torch

    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0].numpy()


def llama_logits(path: Path, threads: int):
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=1024, logits_all=True, n_threads=threads, verbose=False)

    def logits_of(ids):
        llm.reset()
        llm.eval(ids)
        return llm.scores[: len(ids)]

    return logits_of


def chat_turn(path: Path, system_prompt: str, threads: int) -> dict:
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=1024, n_threads=threads, verbose=False)  # chat_format from the GGUF
    started = time.time()
    result = llm.create_chat_completion(
        messages=[
            {"role": "system", "content": system_prompt},
            {"role": "user", "content": "What is the first-line treatment for anaphylaxis?"},
        ],
        max_tokens=200,
        temperature=0.0,
    )
    choice = result["choices"][0]
    return {
        "finish_reason": choice["finish_reason"],
        "tokens": result["usage"]["completion_tokens"],
        "seconds": round(time.time() - started, 2),
        "reply": choice["message"]["content"],
        "template_in_gguf": "tokenizer.chat_template" in llm.metadata,
    }


def latency(refs, torch_model, onnx_model, repeats: int) -> dict:
    def timed(forward) -> list[float]:
        for ids, _ in refs[:2]:
            forward(ids)  # warm-up: first calls allocate
        times = []
        for _ in range(repeats):
            for ids, _ in refs:
                start = time.perf_counter()
                forward(ids)
                times.append(time.perf_counter() - start)
        return times

    def torch_forward(ids):
        torch_logits(torch_model, ids)

    tokens = sum(len(ids) for ids, _ in refs) * repeats
    rows = {}
    for name, forward in (("pytorch", torch_forward), ("onnxruntime", onnx_model.logits)):
        times = timed(forward)
        rows[name] = {"median_ms": 1000 * statistics.median(times), "tokens_per_s": tokens / sum(times)}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--gguf-types", nargs="+", default=["f32", "f16", "q8_0"], help="none: skip GGUF")
    parser.add_argument("--answer-tokens", type=int, default=24)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--gguf-sdist", default=None, help="a local llama-cpp-python sdist (else pip download)")
    parser.add_argument(
        "--extra-gguf",
        nargs="*",
        type=Path,
        default=[],
        help="more GGUF files to score the same way, e.g. another export's q8_0 (gguf.output_tensor_type=q8_0)",
    )
    args = parser.parse_args()

    import importlib.util

    import torch

    from medft.export.onnx import OnnxCausalLM
    from medft.prompts import DEFAULT_SYSTEM_PROMPT
    from medft.run.saved_model import run_weights

    torch.set_num_threads(args.threads)
    run_dir = args.run_dir.expanduser().resolve()
    system = run_weights(run_dir).train_cfg.model.system_prompt or DEFAULT_SYSTEM_PROMPT
    merged = export(run_dir, "merged", [])
    args.gguf_types = [t for t in args.gguf_types if t != "none"]
    gguf = (
        None
        if not args.gguf_types
        else export(
            run_dir,
            "gguf",
            [
                f"gguf.types=[{','.join(args.gguf_types)}]",
                *([f"gguf.sdist={args.gguf_sdist}"] if args.gguf_sdist else []),
            ],
        )
    )
    onnx = export(run_dir, "onnx", [])
    refs, torch_model, _ = sequences(merged, system, args.answer_tokens)

    rows, results = [], {"run_dir": str(run_dir), "prompts": len(refs)}
    if run_weights(run_dir).adapter is not None:  # the merge itself: base + adapter, unmerged, in PyTorch
        results["merge"] = merge_precision(run_dir, merged, refs, torch_model)
        rows.append(results["merge"]["rows"][0])
    have_llama = importlib.util.find_spec("llama_cpp") is not None
    files = json.loads((gguf / "export.json").read_text())["files"] if gguf else []
    for kind in args.gguf_types:
        name = next(f for f in files if f.endswith(f"-{kind}.gguf"))
        if have_llama:
            rows.append(compare(f"gguf {kind} (llama.cpp)", refs, llama_logits(gguf / name, args.threads)))
        else:
            print(f"llama_cpp is not installed: gguf {kind} not compared (pip install llama-cpp-python)")
    for path in args.extra_gguf if have_llama else []:
        rows.append(compare(f"{path.parent.name}/{path.name} (llama.cpp)", refs, llama_logits(path, args.threads)))
    onnx_model = OnnxCausalLM(onnx, threads=args.threads)
    rows.append(compare("onnx (onnxruntime)", refs, lambda ids: onnx_model.logits(ids)[0]))
    results["agreement"] = rows

    print(
        f"\n{len(refs)} prompts, prompt + {args.answer_tokens} greedy answer tokens, vs the merged model "
        "in PyTorch fp32\n"
    )
    print("| export | positions | top-1 agreement | max abs logit diff | mean abs logit diff |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['export']} | {row['positions']} | {100 * row['top1_agreement']:.2f}% | "
            f"{row['max_abs_logit_diff']:.2e} | {row['mean_abs_logit_diff']:.2e} |"
        )

    if "merge" in results:
        merge = results["merge"]
        print(
            f"\nMerge precision: saved merged weights equal the in-memory merge for "
            f"{merge['saved_equals_in_memory']} (bit for bit); head tied to the embedding: {merge['head_tied']}; "
            f"largest |logit| {merge['largest_abs_logit']:.1f}; largest |hidden state| "
            f"{merge['largest_abs_hidden_state']:.0f}, where fp32 numbers are {merge['fp32_spacing_there']:.1e} apart\n"
        )
        print("| comparison | positions | top-1 agreement | max abs logit diff | mean abs logit diff |")
        print("|---|---:|---:|---:|---:|")
        for row in merge["rows"]:
            print(
                f"| {row['export']} | {row['positions']} | {100 * row['top1_agreement']:.2f}% | "
                f"{row['max_abs_logit_diff']:.2e} | {row['mean_abs_logit_diff']:.2e} |"
            )

    if have_llama and files:
        f16 = next((f for f in files if f.endswith("-f16.gguf")), next(f for f in files if f.endswith(".gguf")))
        results["chat"] = chat_turn(gguf / f16, system, args.threads)
        chat = results["chat"]
        print(
            f"\nChat turn through {f16}'s embedded template (template in GGUF: {chat['template_in_gguf']}): "
            f"finish_reason={chat['finish_reason']} after {chat['tokens']} tokens, {chat['seconds']} s"
        )
        print(f"  reply: {chat['reply']!r}")

    results["latency"] = latency(refs, torch_model, onnx_model, args.repeats)
    print(
        f"\nFull forward pass, batch 1, {args.threads} threads, median over {len(refs)} prompts x "
        f"{args.repeats} (mean {sum(len(i) for i, _ in refs) / len(refs):.0f} tokens each):\n"
    )
    print("| runtime | median latency (ms) | tokens/s |")
    print("|---|---:|---:|")
    for name, row in results["latency"].items():
        print(f"| {name} | {row['median_ms']:.1f} | {row['tokens_per_s']:.0f} |")
    out = run_dir / "exports" / "bench_export.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
