"""Training throughput: medft's default configuration vs a plain TRL SFTTrainer, side by side.

    python benchmarks/bench_train.py [--steps 12] [--repeats 3] [--model smollm2-135m]

Both train the same model, on the same builtin training records, with the same LoRA settings,
micro-batch, sequence cap, gradient-checkpointing setting and number of steps. The baseline
keeps TRL's defaults for everything else (it tokenizes a conversational prompt/completion
dataset itself, random sampling) except precision: fp32, since TRL's bf16 default is hundreds
of times slower on a CPU without bf16 units. Every repeat runs in a fresh process so peak
memory (max RSS) is per configuration; repeats alternate between the two to share noise.
Prints non-padding tokens per second (median of the repeats), peak memory and the ratios.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install


def _common(cfg):
    from medft.data.load import load_splits
    from medft.models.resolve import resolve_model

    resolved = resolve_model(cfg.model, cfg.cache_dir, cfg.seed)
    return resolved, load_splits(cfg.dataset)["train"]


def run_medft(overrides: list[str], steps: int) -> dict:
    from medft import builders
    from medft.config.compose import compose_train
    from medft.recipe import tokenize_split

    cfg = compose_train(overrides + [f"training.max_steps={steps}", "logger=none"])
    resolved, records = _common(cfg)
    tokenizer = builders.load_tokenizer(cfg.model, resolved)
    model = builders.wrap_for_training(builders.load_model(cfg, resolved), cfg)
    data, _ = tokenize_split(records, tokenizer, cfg)
    with tempfile.TemporaryDirectory() as out:
        return _timed_train(builders.sft_trainer(cfg, model, tokenizer, data, Path(out)))


def run_trl_baseline(overrides: list[str], steps: int) -> dict:
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from medft import prompts
    from medft.builders import load_tokenizer, target_modules
    from medft.config.compose import compose_train
    from medft.config.validate import grad_accumulation

    cfg = compose_train(overrides + [f"training.max_steps={steps}", "logger=none"])
    resolved, records = _common(cfg)
    data = Dataset.from_list([
        {"prompt": prompts.prompt_messages(r, cfg.model.system_prompt),
         "completion": [{"role": "assistant", "content": prompts.target_text(r)}]}
        for r in records
    ])
    lora = cfg.peft_method
    peft_config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                             target_modules=target_modules(lora, cfg.model), bias=lora.bias, task_type="CAUSAL_LM")
    with tempfile.TemporaryDirectory() as out:
        args = SFTConfig(
            output_dir=out, max_steps=steps, per_device_train_batch_size=cfg.hardware.micro_batch_size,
            gradient_accumulation_steps=grad_accumulation(cfg),
            max_length=cfg.training.max_seq_len, gradient_checkpointing=cfg.hardware.gradient_checkpointing,
            bf16=False, use_cpu=True, report_to=[], include_num_input_tokens_seen="non_padding",
            save_strategy="no",
        )
        trainer = SFTTrainer(model=resolved.path, args=args, train_dataset=data, peft_config=peft_config,
                             processing_class=load_tokenizer(cfg.model, resolved))
        return _timed_train(trainer)


def _timed_train(trainer) -> dict:
    start = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - start
    tokens = trainer.state.num_input_tokens_seen
    return {"tokens": tokens, "wall_s": wall, "tokens_per_s": tokens / wall}


def _child(name: str, overrides: list[str], steps: int, queue) -> None:
    import logging

    logging.disable(logging.WARNING)
    result = {"medft": run_medft, "trl": run_trl_baseline}[name](overrides, steps)
    result["peak_mem_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(result)


def measure(name: str, overrides: list[str], steps: int) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(name, overrides, steps, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("overrides", nargs="*", help="config overrides shared by both, e.g. model=tiny-random")
    args = parser.parse_args()

    # Convert/cache the model once, outside the timed runs.
    from medft.config.compose import compose_train

    _common(compose_train(args.overrides))
    results = {"medft": [], "trl": []}
    for repeat in range(args.repeats):
        for name in (("medft", "trl") if repeat % 2 == 0 else ("trl", "medft")):
            result = measure(name, args.overrides, args.steps)
            results[name].append(result)
            print(f"repeat {repeat + 1} {name:5s}: {result['tokens_per_s']:7.1f} tokens/s "
                  f"({result['tokens']} tokens in {result['wall_s']:.1f} s), peak {result['peak_mem_mb']:.0f} MB",
                  flush=True)
    summary = {name: {"tokens_per_s": statistics.median(r["tokens_per_s"] for r in runs),
                      "peak_mem_mb": statistics.median(r["peak_mem_mb"] for r in runs)}
               for name, runs in results.items()}
    print()
    print(f"{'':24s}{'medft default':>16s}{'plain TRL':>14s}{'ratio':>9s}")
    for key, label in (("tokens_per_s", "tokens/s (median)"), ("peak_mem_mb", "peak memory MB")):
        ours, theirs = summary["medft"][key], summary["trl"][key]
        print(f"{label:24s}{ours:16.1f}{theirs:14.1f}{ours / theirs:9.3f}")
    print(f"\nthroughput ratio medft/TRL = {summary['medft']['tokens_per_s'] / summary['trl']['tokens_per_s']:.3f} "
          f"({args.steps} steps x {args.repeats} repeats, overrides: {args.overrides or 'defaults'})")


if __name__ == "__main__":
    main()
