"""Throughput suite: medft's training (and scoring) vs a plain TRL SFTTrainer and the machine's peak.

    python perf/bench_train.py [--steps 12] [--repeats 3] [--model smollm2-135m]
        [--variants default int8 nf4 ...] [--ablation] [--eval] [--profile FILE] [overrides ...]

In one run on one machine it prints:
- the machine's fp32 matmul rate, measured here at the model's own training shapes (the peak);
- medft's default configuration vs a plain TRL `SFTTrainer` with the same model, data, LoRA
  settings, micro-batch, sequence cap, gradient-checkpointing setting, answer-only loss and
  steps, and the experiment's optimizer, learning-rate schedule, weight decay and clipping so
  that the losses compare; TRL's defaults otherwise, except fp32 on a CPU): non-padding tokens/s (median of the
  repeats), peak memory and the ratio, and whether both reach the same loss: each repeat runs
  under its own seed (LoRA init, data order, dropout), and after training every model's loss
  on one fixed set of training examples is computed by one function, so the seed-to-seed
  spread is the noise the medft-TRL difference is read against (the loss of the last step
  is printed too, but medft's batches grouped by length make its last batch another batch);
- for each variant (`--variants`: int8, nf4, or the optimisations of `--ablation`): tokens/s,
  the step split (forward, backward, optimizer, data and the rest), peak memory and the
  fraction of the matmul peak that the model's arithmetic reaches;
- with `--eval`, the log-likelihood scorer's throughput on the builtin test questions and its
  fraction of the peak; with `--profile FILE`, a torch profiler table of the default run.

Every measurement runs in a fresh process (peak memory is per configuration, nothing is cached
in memory across them); the repeats alternate medft and TRL so they share the machine's noise.
The arithmetic counted per non-padding token: forward 2 x (decoder linear weights) + attention
(4 x layers x width x mean length) + the vocabulary projection at supervised positions only
(both TRL and medft project only those); backward the same again for the input gradients
(frozen weights take none), plus 2 x the trainable weights; full fine-tuning adds the weight
gradients (another 2 x all weights).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install

# Each optimisation with the override that switches it off, in the order they were added; row i of
# `--ablation` keeps the first i on, so the table shows what each one contributes on its own.
OPTIMISATIONS = [
    ("head on labelled positions only", "hardware.compact_lm_head=false"),
    ("batches grouped by length", "training.group_by_length=false"),
    ("adapter dropout masks from SFC64", "hardware.fast_dropout=false"),
]
PLAIN = [off for _, off in OPTIMISATIONS]  # TRL as shipped on a CPU
ABLATION = {
    "plain: random batches, head on every position": PLAIN,
    **{
        f"+ {name}" + (" (the default)" if i == len(OPTIMISATIONS) else ""): PLAIN[i:]
        for i, (name, _) in enumerate(OPTIMISATIONS, start=1)
    },
    "+ compiled decoder layers": ["hardware.compile=regional"],
}
VARIANTS = {
    "default": [],
    "int8": ["quantization=int8"],
    "nf4": ["quantization=nf4"],
    "bf16 autocast": ["hardware.precision=bf16"],
    **ABLATION,
}


def _common(cfg):
    from medft.data.load import load_splits
    from medft.models.resolve import resolve_model

    resolved = resolve_model(cfg.model, cfg.cache_dir, cfg.seed)
    return resolved, load_splits(cfg.dataset)["train"]


def _compose(overrides: list[str], steps: int):
    from medft.config.compose import compose_train

    return compose_train(
        overrides
        + [
            f"training.max_steps={steps}",
            "logger=none",
            "training.logging_steps=1",
            f"training.save_every_steps={steps + 1}",
        ]
    )


def run_medft(overrides: list[str], steps: int, profile: str | None = None) -> dict:
    import torch
    from transformers import set_seed

    from medft import builders
    from medft.data.sampling import shuffle_length_groups
    from medft.objectives.sft import tokenize_split

    cfg = _compose(overrides, steps)
    if cfg.hardware.num_threads:
        torch.set_num_threads(cfg.hardware.num_threads)
    resolved, records = _common(cfg)
    tokenizer = builders.load_tokenizer(cfg.model, resolved)
    model = builders.load_model(cfg, resolved)
    fixed = fixed_set(records, tokenizer, cfg)
    untrained = fixed_set_loss(model, fixed)  # where both sides start from
    set_seed(cfg.seed)  # as the recipe does: the adapter's initial weights follow the seed
    model = builders.wrap_for_training(model, cfg)
    data, _ = tokenize_split(records, tokenizer, cfg)
    with tempfile.TemporaryDirectory() as out:
        trainer = builders.sft_trainer(cfg, model, tokenizer, data, Path(out))
        shuffle_length_groups(trainer)  # as the recipe's build_trainer does
        result = _timed_train(trainer, profile)
    return {
        **result,
        **_flops_per_token(model, cfg, result),
        "fixed_set_loss": fixed_set_loss(model, fixed),
        "untrained_fixed_set_loss": untrained,
    }


def run_trl_baseline(overrides: list[str], steps: int, profile: str | None = None) -> dict:
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from medft import prompts
    from medft.builders import load_tokenizer, target_modules
    from medft.config.derived import grad_accumulation

    cfg = _compose(overrides, steps)
    resolved, records = _common(cfg)
    data = Dataset.from_list(
        [
            {
                "prompt": prompts.prompt_messages(r, cfg.model.system_prompt),
                "completion": [{"role": "assistant", "content": prompts.target_text(r)}],
            }
            for r in records
        ]
    )
    lora, opt = cfg.peft_method, cfg.optimizer
    peft_config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=target_modules(lora, cfg.model),
        bias=lora.bias,
        task_type="CAUSAL_LM",
    )
    with tempfile.TemporaryDirectory() as out:
        args = SFTConfig(
            output_dir=out,
            max_steps=steps,
            per_device_train_batch_size=cfg.hardware.micro_batch_size,
            gradient_accumulation_steps=grad_accumulation(cfg),
            max_length=cfg.training.max_seq_len,
            gradient_checkpointing=cfg.hardware.gradient_checkpointing,
            bf16=False,
            use_cpu=True,
            report_to=[],
            include_num_input_tokens_seen="non_padding",
            save_strategy="no",
            logging_steps=1,
            seed=cfg.seed,
            data_seed=cfg.seed,
            # The experiment's optimisation (not TRL's defaults of lr 2e-5, linear decay, no warmup), so
            # that the two losses can be compared at all; none of these changes the speed of a step.
            optim=opt.name,
            learning_rate=opt.lr,
            weight_decay=opt.weight_decay,
            warmup_steps=opt.warmup_ratio,
            lr_scheduler_type=opt.scheduler,
            max_grad_norm=opt.max_grad_norm,
        )
        tokenizer = load_tokenizer(cfg.model, resolved)
        trainer = SFTTrainer(
            model=resolved.path, args=args, train_dataset=data, peft_config=peft_config, processing_class=tokenizer
        )
        result = _timed_train(trainer, profile)
        return {
            **result,
            **_flops_per_token(trainer.model, cfg, result),
            "fixed_set_loss": fixed_set_loss(trainer.model, fixed_set(records, tokenizer, cfg)),
        }


FIXED_SET = 64  # training examples every trained model is scored on afterwards


def fixed_set(records, tokenizer, cfg):
    """The first FIXED_SET training examples as medft's prompt module encodes them (TRL's chat template
    renders the same messages: the same token ids), with their answer masks."""
    from medft.objectives.sft import encode_records

    return encode_records(records[:FIXED_SET], tokenizer, cfg)


def fixed_set_loss(model, encoded) -> float:
    """Mean cross-entropy per answer token of `model` on `encoded`, one example at a time (no padding),
    in eval mode (no dropout): the same function for the medft and the TRL model."""
    import torch

    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for example in encoded:
            ids = torch.tensor([example.input_ids])
            logits = model(input_ids=ids).logits[0, :-1].float()
            mask = torch.tensor(example.completion_mask[1:], dtype=torch.bool)
            total += float(torch.nn.functional.cross_entropy(logits[mask], ids[0, 1:][mask], reduction="sum"))
            count += int(mask.sum())
    model.train(was_training)
    return total / count


class StepTimer:
    """Splits each optimizer step into forward, backward, optimizer and the rest (data, clipping, logging).

    The forward is timed by hooks on the outermost module, forward + backward by wrapping
    `trainer.training_step`, the optimizer between the trainer's pre/post optimizer callbacks.
    """

    def __init__(self, trainer):
        from transformers import TrainerCallback

        self.totals = {"forward": 0.0, "backward": 0.0, "optimizer": 0.0, "step": 0.0}
        self.supervised = 0
        timer = self
        original = trainer.training_step

        def training_step(model, inputs, *args, **kwargs):
            labels = inputs.get("labels")
            if labels is not None:
                timer.supervised += int((labels[:, 1:] != -100).sum())
            started = time.perf_counter()
            timer._forward = 0.0
            loss = original(model, inputs, *args, **kwargs)
            timer.totals["backward"] += time.perf_counter() - started - timer._forward
            return loss

        trainer.training_step = training_step
        root = trainer.model
        root.register_forward_pre_hook(lambda *_: setattr(self, "_forward_start", time.perf_counter()))
        root.register_forward_hook(lambda *_: self._add_forward())

        class Callback(TrainerCallback):
            def on_step_begin(self, *_, **__):
                timer._step_start = time.perf_counter()

            def on_pre_optimizer_step(self, *_, **__):
                timer._optimizer_start = time.perf_counter()

            def on_optimizer_step(self, *_, **__):
                timer.totals["optimizer"] += time.perf_counter() - timer._optimizer_start

            def on_step_end(self, *_, **__):
                timer.totals["step"] += time.perf_counter() - timer._step_start

        trainer.add_callback(Callback())

    def _add_forward(self):
        elapsed = time.perf_counter() - self._forward_start
        self._forward += elapsed
        self.totals["forward"] += elapsed

    def split(self, wall: float) -> dict:
        t = self.totals
        return {
            "forward_s": t["forward"],
            "backward_s": t["backward"],
            "optimizer_s": t["optimizer"],
            "other_s": wall - t["forward"] - t["backward"] - t["optimizer"],
        }


def _timed_train(trainer, profile: str | None = None) -> dict:
    timer = StepTimer(trainer)
    start = time.perf_counter()
    if profile:
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as torch_profile

        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            trainer.train()
        Path(profile).parent.mkdir(parents=True, exist_ok=True)
        Path(profile).write_text(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=40))
    else:
        trainer.train()
    wall = time.perf_counter() - start
    tokens = trainer.state.num_input_tokens_seen
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return {
        "tokens": tokens,
        "wall_s": wall,
        "tokens_per_s": tokens / wall,
        "supervised": timer.supervised,
        "final_loss": losses[-1] if losses else float("nan"),
        **timer.split(wall),
    }


def _linear_sizes(model) -> tuple[int, int, int]:
    """(decoder linear weights, vocabulary x width of the head, trainable weights) of a (wrapped) model."""
    import torch

    head = model.get_output_embeddings()
    decoder = 0
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and module is not head and "lora_" not in name:
            decoder += module.in_features * module.out_features
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return decoder, head.in_features * head.out_features, trainable


def _flops_per_token(model, cfg, result: dict) -> dict:
    decoder, head, trainable = _linear_sizes(model)
    arch = cfg.model.arch
    mean_len = result["tokens"] / max(1, cfg.training.max_steps * cfg.training.batch_size)
    attention = 4 * arch.n_layers * arch.hidden_size * mean_len
    supervised_share = result["supervised"] / max(1, result["tokens"])
    forward = 2 * decoder + attention + 2 * head * supervised_share
    full = cfg.peft_method.method in ("full", "freeze")
    backward = forward + (2 * (decoder + head) if full else 2 * trainable)
    return {"flops_per_token": forward + backward}


def matmul_peak_gflops(model_name: str, repeats: int = 5) -> float:
    """The best fp32 matmul rate at the model's own training shapes (micro-batch x 64 tokens)."""
    import torch

    from medft.config.compose import compose_train

    cfg = compose_train([f"model={model_name}", "logger=none"])
    d, ffn = cfg.model.arch.hidden_size, cfg.model.arch.intermediate_size
    rows = cfg.hardware.micro_batch_size * 64
    best = 0.0
    for n, k in ((ffn, d), (d, ffn), (d, d)):
        a, b = torch.randn(rows, k), torch.randn(k, n)
        torch.mm(a, b)
        for _ in range(repeats):
            started = time.perf_counter()
            for _ in range(10):
                torch.mm(a, b)
            best = max(best, 10 * 2 * rows * k * n / (time.perf_counter() - started) / 1e9)
    return best


def eval_throughput(overrides: list[str]) -> dict:
    """The log-likelihood scorer on the builtin test questions: context tokens/s and arithmetic per token."""
    import torch

    from medft import builders
    from medft.data.load import load_splits
    from medft.evaluation.loglikelihood import continuation_logprobs
    from medft.evaluation.multiple_choice import scoring_requests
    from medft.models.packed_linear import enable_for_scoring

    cfg = _compose(overrides, 1)
    resolved, _ = _common(cfg)
    tokenizer = builders.load_tokenizer(cfg.model, resolved)
    model = builders.load_model(cfg, resolved).eval()
    enable_for_scoring(model, cfg.hardware)  # as evaluate.py and the recipe's evaluations do
    records = [r for r in load_splits(cfg.dataset)["test"] if r.is_multiple_choice]
    requests = scoring_requests(
        tokenizer, records, cfg.model.system_prompt, cfg.training.max_seq_len, cfg.eval.formulation
    )
    continuation_logprobs(model, requests[:8], tokenizer.pad_token_id, cfg.training.eval_batch_size)  # warm-up
    started = time.perf_counter()
    with torch.inference_mode():
        continuation_logprobs(model, requests, tokenizer.pad_token_id, cfg.training.eval_batch_size)
    wall = time.perf_counter() - started
    tokens = sum(len(r.context) + sum(len(c) for c in r.continuations) for r in requests)
    decoder, head, _ = _linear_sizes(model)
    mean_len = tokens / len(requests)
    scored = sum(1 + sum(len(c) - 1 for c in r.continuations) for r in requests) / tokens
    flops = 2 * decoder + 2 * cfg.model.arch.n_layers * cfg.model.arch.hidden_size * mean_len + 2 * head * scored
    return {
        "questions": len(requests),
        "tokens": tokens,
        "wall_s": wall,
        "tokens_per_s": tokens / wall,
        "flops_per_token": flops,
    }


def _child(name: str, overrides: list[str], steps: int, profile, queue) -> None:
    import logging

    from medft.run.memory import peak_memory_mb

    logging.disable(logging.WARNING)
    if name == "eval":
        result = eval_throughput(overrides)
    else:
        result = {"medft": run_medft, "trl": run_trl_baseline}[name](overrides, steps, profile)
    result["peak_mem_mb"] = peak_memory_mb("cpu")
    queue.put(result)


def measure(name: str, overrides: list[str], steps: int, profile: str | None = None) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(name, overrides, steps, profile, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def same_loss_verdict(results: dict) -> str:
    """The medft-TRL difference of the fixed-set loss against the seed-to-seed spread (Welch's t-test)."""
    import statistics as st

    from scipy import stats

    ours = [r["fixed_set_loss"] for r in results["medft"]]
    theirs = [r["fixed_set_loss"] for r in results["trl"]]
    line = (
        f"fixed-set loss after training: medft {st.mean(ours):.4f} (seeds: {', '.join(f'{x:.4f}' for x in ours)}), "
        f"TRL {st.mean(theirs):.4f} (seeds: {', '.join(f'{x:.4f}' for x in theirs)}); "
        f"difference {st.mean(ours) - st.mean(theirs):+.4f}; before training "
        f"{results['medft'][0]['untrained_fixed_set_loss']:.4f}"
    )
    if len(ours) < 2 or len(theirs) < 2:
        return line + " (one repeat: no seed-to-seed spread to read it against)"
    spread = max(st.stdev(ours), st.stdev(theirs))
    p = stats.ttest_ind(ours, theirs, equal_var=False).pvalue
    return line + f", seed-to-seed SD up to {spread:.4f}, Welch p = {p:.2f}"


def _peak_share(result: dict, peak: float) -> float:
    return result["tokens_per_s"] * result["flops_per_token"] / 1e9 / peak


def paired_ab(shared: list[str], override: str, steps: int, repeats: int, base_seed: int) -> None:
    """One optimisation alone: medft's default against the same with `override`, in pairs run back to
    back (order alternating, one seed per pair), so drift on a noisy machine hits both sides alike."""
    ratios = []
    for repeat in range(repeats):
        seeded = shared + [f"seed={base_seed + repeat}"]
        sides = {}
        for side in ("default", "with") if repeat % 2 == 0 else ("with", "default"):
            sides[side] = measure("medft", seeded + ([override] if side == "with" else []), steps)
        default, changed = sides["default"], sides["with"]
        ratios.append(default["tokens_per_s"] / changed["tokens_per_s"])
        print(
            f"pair {repeat + 1}: default {default['tokens_per_s']:.1f} tokens/s, {override} "
            f"{changed['tokens_per_s']:.1f} tokens/s, ratio {ratios[-1]:.3f}; fixed-set loss "
            f"{default['fixed_set_loss']:.4f} vs {changed['fixed_set_loss']:.4f}; peak "
            f"{default['peak_mem_mb']:.0f} vs {changed['peak_mem_mb']:.0f} MB",
            flush=True,
        )
    print(
        f"\ndefault / ({override}) throughput: median of {repeats} pairs {statistics.median(ratios):.3f} "
        f"(pairs {', '.join(f'{r:.3f}' for r in ratios)}; {sum(r > 1 for r in ratios)} of {repeats} above 1)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument(
        "--variants",
        nargs="*",
        default=[],
        choices=sorted(VARIANTS),
        help="configurations measured once each after the medft/TRL comparison",
    )
    parser.add_argument("--ablation", action="store_true", help="add every optimisation as a variant, in order")
    parser.add_argument("--eval", action="store_true", help="also measure the log-likelihood scorer")
    parser.add_argument("--profile", help="write a torch profiler table of one default run here")
    parser.add_argument(
        "--ab",
        metavar="OVERRIDE",
        help="instead of medft vs TRL: medft's default against medft with OVERRIDE (e.g. "
        "hardware.fast_dropout=false), in --repeats alternating pairs, one seed per pair",
    )
    parser.add_argument("overrides", nargs="*", help="config overrides shared by all, e.g. hardware.num_threads=2")
    args = parser.parse_args()
    shared = [f"model={args.model}", *args.overrides]

    from medft.config.compose import compose_train

    _common(compose_train(shared))  # convert/cache the model once, outside the timed runs
    peak = matmul_peak_gflops(args.model)
    print(f"fp32 matmul peak at {args.model}'s training shapes: {peak:.1f} GFLOP/s", flush=True)
    if args.ab:
        return paired_ab(shared, args.ab, args.steps, args.repeats, compose_train(shared).seed)

    base_seed = compose_train(shared).seed
    results = {"medft": [], "trl": []}
    for repeat in range(args.repeats):
        seeded = shared + [f"seed={base_seed + repeat}"]  # one seed per repeat, the same for both sides
        for name in ("medft", "trl") if repeat % 2 == 0 else ("trl", "medft"):
            r = measure(name, seeded, args.steps)
            results[name].append(r)
            print(
                f"repeat {repeat + 1} {name:5s}: {r['tokens_per_s']:7.1f} tokens/s ({r['tokens']} tokens in "
                f"{r['wall_s']:.1f} s), last-step loss {r['final_loss']:.4f}, fixed-set loss "
                f"{r['fixed_set_loss']:.4f}, peak {r['peak_mem_mb']:.0f} MB, "
                f"{100 * _peak_share(r, peak):.0f}% of peak",
                flush=True,
            )
    summary = {
        name: {
            key: statistics.median(r[key] for r in runs)
            for key in ("tokens_per_s", "peak_mem_mb", "final_loss", "fixed_set_loss")
        }
        for name, runs in results.items()
    }
    print(f"\n{'':28s}{'medft default':>16s}{'plain TRL':>14s}{'ratio':>9s}")
    for key, label in (
        ("tokens_per_s", "tokens/s (median)"),
        ("fixed_set_loss", "fixed-set loss (median)"),
        ("final_loss", "last-step loss (median)"),
        ("peak_mem_mb", "peak memory MB"),
    ):
        ours, theirs = summary["medft"][key], summary["trl"][key]
        print(f"{label:28s}{ours:16.4g}{theirs:14.4g}{ours / theirs:9.3f}")
    ratio = summary["medft"]["tokens_per_s"] / summary["trl"]["tokens_per_s"]
    print(
        f"\nthroughput ratio medft/TRL = {ratio:.3f} ({args.steps} steps x {args.repeats} repeats, overrides: {shared})"
    )
    print(same_loss_verdict(results))

    variants = list(args.variants) + (list(ABLATION) if args.ablation else [])
    if variants:
        print(
            "\n| configuration | tokens/s | forward s | backward s | optimizer s | data+other s | peak MB "
            "| last-step loss | fixed-set loss | % of matmul peak |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for variant in variants:
        r = measure("medft", shared + VARIANTS[variant], args.steps)
        print(
            f"| {variant} | {r['tokens_per_s']:.1f} | {r['forward_s']:.1f} | {r['backward_s']:.1f} "
            f"| {r['optimizer_s']:.1f} | {r['other_s']:.1f} | {r['peak_mem_mb']:.0f} | {r['final_loss']:.4f} "
            f"| {r['fixed_set_loss']:.4f} | {100 * _peak_share(r, peak):.0f}% |",
            flush=True,
        )
    if args.eval:
        r = measure("eval", shared, 1)
        print(
            f"\nscoring: {r['questions']} questions, {r['tokens']} tokens in {r['wall_s']:.1f} s = "
            f"{r['tokens_per_s']:.0f} tokens/s, {100 * _peak_share(r, peak):.0f}% of the matmul peak"
        )
    if args.profile:
        measure("medft", shared, args.steps, args.profile)
        print(f"\nprofile of the default run: {args.profile}")


if __name__ == "__main__":
    main()
