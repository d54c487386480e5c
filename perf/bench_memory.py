"""The memory planner's estimate vs the measured peak, side by side, one fresh process per case.

    python perf/bench_memory.py [--models smollm2-135m gemma3-270m] [--quantizations none int8 nf4]
                                      [--seq-lens 128 256] [--micro-batch 4] [--steps 2]

Each case loads the model the way a run does (medft.builders), wraps it with the configured
PEFT method, and trains `--steps` optimizer steps on synthetic sequences of exactly the given
length (every token supervised), in its own process so the peak is that case's alone. The
measured peak is the process's peak resident memory (VmHWM): on CPU that is what the planner
estimates. Prints estimate, measurement and their ratio per case.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install


def overrides_for(model: str, quantization: str, seq_len: int, micro_batch: int, steps: int) -> list[str]:
    return [
        f"model={model}",
        f"quantization={quantization}",
        "logger=none",
        f"training.max_seq_len={seq_len}",
        f"hardware.micro_batch_size={micro_batch}",
        f"training.batch_size={micro_batch}",
        f"training.max_steps={steps}",
        f"training.save_every_steps={steps + 1}",
    ]


def measure_one(overrides: list[str]) -> dict:
    """In this process: load, wrap, train; return peak resident memory after loading and overall."""
    import torch
    from datasets import Dataset

    from medft import builders
    from medft.config.compose import compose_train
    from medft.models.resolve import resolve_model
    from medft.run.memory import peak_memory_mb

    cfg = compose_train(overrides)
    baseline = peak_memory_mb("cpu")
    resolved = resolve_model(cfg.model, cfg.cache_dir, cfg.seed)
    tokenizer = builders.load_tokenizer(cfg.model, resolved)
    model = builders.load_model(cfg, resolved)
    loaded = peak_memory_mb("cpu")
    model = builders.wrap_for_training(model, cfg)
    seq, batch = cfg.training.max_seq_len, cfg.hardware.micro_batch_size
    n = batch * cfg.training.max_steps
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(100, cfg.model.arch.vocab_size - 100, (n, seq), generator=generator).tolist()
    data = Dataset.from_dict({"input_ids": ids, "completion_mask": [[1] * seq for _ in range(n)]})
    with tempfile.TemporaryDirectory() as tmp:
        trainer = builders.sft_trainer(cfg, model, tokenizer, data, Path(tmp))
        trainer.train()
    return {"baseline_mb": baseline, "load_peak_mb": loaded, "peak_mb": peak_memory_mb("cpu")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["smollm2-135m", "gemma3-270m"])
    parser.add_argument("--quantizations", nargs="+", default=["none", "int8", "nf4"])
    parser.add_argument("--seq-lens", nargs="+", type=int, default=[128, 256])
    parser.add_argument("--micro-batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--one", nargs="*", help=argparse.SUPPRESS)  # internal: measure these overrides here
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    if args.one is not None:
        print("RESULT " + json.dumps(measure_one(args.one)))
        return

    from medft.config.compose import compose_train
    from medft.hardware.planner import plan_training

    rows = []
    print(f"{'model':14} {'quant':6} {'seq':>5} {'estimate MB':>12} {'measured MB':>12} {'ratio':>6}")
    for model in args.models:
        for quant in args.quantizations:
            for seq in args.seq_lens:
                overrides = overrides_for(model, quant, seq, args.micro_batch, args.steps)
                out = subprocess.run([sys.executable, __file__, "--one", *overrides], capture_output=True, text=True)
                line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
                if line is None:
                    print(f"{model:14} {quant:6} {seq:>5} FAILED: {out.stderr[-500:]}")
                    continue
                measured = json.loads(line[7:])
                plan = plan_training(compose_train(overrides))
                estimate = plan.total_bytes / 2**20
                rows.append(
                    {
                        "model": model,
                        "quantization": quant,
                        "seq_len": seq,
                        "estimate_mb": estimate,
                        **measured,
                        "ratio": estimate / measured["peak_mb"],
                        "parts_mb": plan.parts_mb(),
                    }
                )
                print(
                    f"{model:14} {quant:6} {seq:>5} {estimate:12.0f} {measured['peak_mb']:12.0f} "
                    f"{estimate / measured['peak_mb']:6.2f}",
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
