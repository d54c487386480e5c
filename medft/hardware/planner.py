"""Peak memory of a training run, from config alone (no download, no weights loaded).

The estimate adds what a step holds at its peak:
- weights: linear layers at the quantization's bits (4-bit: NF4/FP4 + block constants, with
  or without double quantization; int8: 1 byte + a row scale), everything else (embeddings,
  norms, an untied head) at the compute precision, or fp32 once a quantized model is prepared
  for training (peft's `prepare_model_for_kbit_training` upcasts them);
- trainable weights, their gradients and the optimizer's states (AdamW 8 bytes a parameter,
  8-bit AdamW 2, SGD with momentum 4, Lion 4: medft/hardware/optimizer_state.py);
- activations saved for backward per token and layer, counted from the architecture
  (norms, q/k/v and their rotary copies, attention output, the gated MLP, LoRA dropout
  copies), or only the layer inputs with gradient checkpointing plus one layer recomputed;
- logits: the vocabulary projection at the compute precision (and its fp32 copy in the loss
  when that precision is 16-bit);
- on CPU, the process itself (Python, torch, transformers, TRL) and, while a quantized model
  loads, the full-precision checkpoint pages.
Three constants (`ACTIVATION_FACTOR` for torch and bitsandbytes layers, `CPU_RUNTIME_MB`) are
fitted to measured CPU peaks (the factors on SmolLM2, the runtime on tiny-random) and checked on another
model (perf/bench_memory.py; docs/results/memory-planner has the table). They are not yet checked against
a GPU's max_memory_allocated; torchtune's published Llama-2-7B LoRA and QLoRA training peaks are
reproduced within 8% (tests/test_memory_planner.py).
Sharded engines (ZeRO-3, FSDP) divide weights, gradients and optimizer states by the world size; ZeRO-3
holds the whole model gathered during a step (under 1e9 parameters), ZeRO-2 adds its fp32 master partition,
and both fill a gradient reduce bucket. Checked per rank on 2 CPU processes, SmolLM2 LoRA and full
fine-tuning with every batch at the planned shape: within 14% (docs/results/distributed-cpu).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from medft.config.arch_shapes import LLAMA_MLP, layer_count, linear_shapes, llama_shapes, targeted_shapes
from medft.config.arch_shapes import head_dim as _head_dim
from medft.config.choices import FULL_WEIGHT_METHODS
from medft.config.engines import SHARDED_STATE, rank_mmap_threshold_mb
from medft.hardware.optimizer_state import state_bytes_per_param

MiB, GiB = 2**20, 2**30
PRECISION_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
BLOCK = 64  # bitsandbytes 4-bit block size: one absmax constant per 64 weights
DQ_BLOCK = 256  # double quantization: one fp32 constant per 256 8-bit absmax constants
# Fitted on SmolLM2-135M (LoRA r=16, fp32, micro-batch 4, 128 and 256 tokens, none/int8/nf4) and
# checked on Gemma-3-270M: every estimate within 13% of the measured peak (docs/results/memory-planner).
ACTIVATION_FACTOR = {"full_precision": 2.04, "bitsandbytes": 1.80}  # measured / counted activation bytes:
# autograd keeps more than the tensors counted (attention inputs for SDPA, fp32 norm statistics,
# dropout masks); bitsandbytes layers keep a little less than torch's own linear layers.
# The process itself: Python, torch, transformers, TRL, datasets, the tokenizer and the run's own scoring.
# Fitted on tiny-random whole runs, where it is all of the peak (631-703 MB per process, one and two
# processes; imports alone are ~530 MB), and checked on SmolLM2 and Gemma-3 (perf/bench_memory.py).
CPU_RUNTIME_MB = 680.0
# ZeRO-3 gathers a layer's weights for its forward and keeps them for the backward while fewer than
# stage3_max_live_parameters (DeepSpeed's default: 1e9) are live: a model under 1e9 parameters is held
# whole on every rank during the step, its shard only between steps.
ZERO3_LIVE_PARAMETERS = 1e9
# ZeRO-2 and ZeRO-3 copy each gradient into a flat reduce bucket of reduce_bucket_size elements (DeepSpeed's
# default 5e8; accelerate's generated config leaves it unset) and reduce when it is full: a model with fewer
# trainable weights fills it with every full-size gradient each step (stage3.py, `bucket.buffer = torch.empty(
# self.reduce_bucket_size, ...)`, filled in `__add_grad_to_ipg_bucket`; stage_1_and_2.py, `buf_0 = torch.empty(
# int(self.reduce_bucket_size), ...)` in `setup_buckets`, with contiguous_gradients, DeepSpeed's default).
REDUCE_BUCKET = 5e8


@dataclass
class MemoryPlan:
    parts: dict[str, float]  # bytes, in the order printed: what every rank holds at its peak
    budget_bytes: float
    device: str
    notes: list[str] = field(default_factory=list)
    rank0_parts: dict[str, float] = field(default_factory=dict)  # what rank 0 alone adds (sharded engines)

    @property
    def other_ranks_bytes(self) -> float:
        return sum(self.parts.values())

    @property
    def total_bytes(self) -> float:
        """The largest rank's peak: rank 0 where it holds more than the others."""
        return self.other_ranks_bytes + sum(self.rank0_parts.values())

    @property
    def fits(self) -> bool:
        return self.total_bytes <= self.budget_bytes

    def parts_mb(self) -> dict[str, float]:
        return {k: round(v / MiB, 1) for k, v in self.parts.items()}

    def describe(self) -> str:
        unit = GiB if self.budget_bytes >= 4 * GiB else MiB
        name = "GiB" if unit == GiB else "MiB"
        width = max(len(k) for k in self.parts)
        width = max(width, *(len(k) + 8 for k in self.rank0_parts)) if self.rank0_parts else width
        lines = [f"  {k:<{width}}  {v / unit:9.2f} {name}" for k, v in self.parts.items()]
        if self.rank0_parts:
            lines.append(f"  {'total, ranks 1 and up':<{width}}  {self.other_ranks_bytes / unit:9.2f} {name}")
            lines += [f"  {'rank 0: ' + k:<{width}}  {v / unit:9.2f} {name}" for k, v in self.rank0_parts.items()]
        lines.append(
            f"  {'total, rank 0' if self.rank0_parts else 'total':<{width}}  {self.total_bytes / unit:9.2f} {name}  of a {self.budget_bytes / unit:.2f} "
            f"{name} budget ({self.device}): {'fits' if self.fits else 'DOES NOT FIT'}"
        )
        return "\n".join(lines + [f"  note: {n}" for n in self.notes])


def parameter_counts(arch) -> dict[str, int]:
    shapes = llama_shapes(arch)
    experts = int(arch.get("num_experts", 1) or 1)
    attention = sum(a * b for name, (a, b) in shapes.items() if name not in LLAMA_MLP)
    mlp = sum(a * b for name, (a, b) in shapes.items() if name in LLAMA_MLP)
    router = arch.hidden_size * experts if experts > 1 else 0  # MoE: one score per expert
    linear = arch.n_layers * (attention + experts * mlp + router)
    decoder = int(arch.get("n_decoder_layers", 0) or 0)  # seq2seq: decoder blocks add self- and cross-attention
    linear += decoder * (2 * attention + mlp)
    embed = arch.vocab_size * arch.hidden_size
    head = 0 if arch.tie_word_embeddings else embed
    other = max(0, int(arch.n_params) - linear - embed - head)  # norms, biases
    return {"linear": linear, "embed": embed, "head": head, "other": other}


def quantized_bytes_per_param(method: str, double_quant: bool) -> float | None:
    if method in ("nf4", "fp4"):
        constants = (1 / BLOCK + 4 / (BLOCK * DQ_BLOCK)) if double_quant else 4 / BLOCK
        return 0.5 + constants
    if method == "int8":
        return 1.0  # + one fp32 scale per output row, added by the caller
    return None


def _targets(cfg) -> list[str]:
    return list(targeted_shapes(cfg.peft_method, cfg.model))


def trainable_adapter_params(cfg) -> int:
    """What each method trains, from the architecture (the tests check LoRA, DoRA and IA3 exactly)."""
    arch, peft = cfg.model.arch, cfg.peft_method
    shapes, targets, r = linear_shapes(arch), _targets(cfg), peft.get("r", 16)
    method = peft.method
    if method == "ia3":  # one vector per target: its input size for feed-forward targets, else its output
        feedforward = set(peft.get("feedforward_modules") or [])
        return sum(layer_count(arch, t) * (shapes[t][0] if t in feedforward else shapes[t][1]) for t in targets)
    if method == "vera":  # per target: a scaling vector of size r and one of the output size
        return sum(layer_count(arch, t) * (r + shapes[t][1]) for t in targets)
    if method in ("prompt_tuning", "prefix_tuning", "p_tuning"):
        return prompt_learning_params(arch, peft)
    if method == "adalora":  # LoRA at init_r plus the r "singular values" E per target (pruning masks, keeps shapes)
        r = peft.adalora_init_r
        return sum(layer_count(arch, t) * (r * (shapes[t][0] + shapes[t][1]) + r) for t in targets)
    dora = method == "dora"  # plus a magnitude per output row
    return sum(layer_count(arch, t) * (r * (shapes[t][0] + shapes[t][1]) + dora * shapes[t][1]) for t in targets)


def llama_parameter_sizes(arch) -> list[tuple[str, int]]:
    """(name, size) of every parameter as transformers names them in a Llama-layout model (Mistral,
    SmolLM2; Gemma and Qwen add a few norms or biases, under 0.1% of a layer), so a name pattern
    can be counted from the config alone."""
    h = arch.hidden_size
    sizes = [("model.embed_tokens.weight", arch.vocab_size * h)]
    for i in range(arch.n_layers):
        for name, (n_in, n_out) in linear_shapes(arch).items():
            block = "self_attn" if name in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp"
            sizes.append((f"model.layers.{i}.{block}.{name}.weight", n_in * n_out))
        sizes += [
            (f"model.layers.{i}.input_layernorm.weight", h),
            (f"model.layers.{i}.post_attention_layernorm.weight", h),
        ]
    sizes.append(("model.norm.weight", h))
    if not arch.tie_word_embeddings:
        sizes.append(("lm_head.weight", arch.vocab_size * h))
    return sizes


def freeze_trained_names(cfg) -> list[str]:
    """What peft_method=freeze trains, by the same rules as medft/models/freeze.py, on the names above."""
    arch, peft = cfg.model.arch, cfg.peft_method
    first = arch.n_layers - int(peft.get("trainable_layers", 0))
    head = "lm_head.weight" if not arch.tie_word_embeddings else "model.embed_tokens.weight"
    chosen = []
    for name, _ in llama_parameter_sizes(arch):
        parts = name.split(".")
        in_last = parts[1] == "layers" and int(parts[2]) >= first
        if (
            in_last
            or (name == "model.norm.weight" and peft.get("train_final_norm", True))
            or (name == head and peft.get("train_lm_head", False))
            or any(fnmatchcase(name, p) for p in peft.get("trainable_modules") or [])
        ):
            chosen.append(name)
    return chosen


def freeze_trainable_params(cfg) -> int:
    chosen = set(freeze_trained_names(cfg))
    return sum(size for name, size in llama_parameter_sizes(cfg.model.arch) if name in chosen)


def layers_keeping_activations(cfg) -> int:
    """Decoder layers whose activations autograd keeps: all of them, except under freeze, where the
    layers before the first trained parameter see no input that needs a gradient."""
    if cfg.peft_method.method != "freeze":  # seq2seq: the encoder's blocks and the decoder's
        return cfg.model.arch.n_layers + int(cfg.model.arch.get("n_decoder_layers", 0) or 0)
    names = freeze_trained_names(cfg)
    if any(not n.startswith(("model.layers.", "model.norm.", "lm_head.")) for n in names):
        return cfg.model.arch.n_layers  # the embeddings train: every layer's input needs a gradient
    trained_layers = [int(n.split(".")[2]) for n in names if n.startswith("model.layers.")]
    return cfg.model.arch.n_layers - min(trained_layers) if trained_layers else 0


def _linear(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out  # weight and bias


def prompt_learning_params(arch, peft) -> int:
    """Virtual tokens and their encoders, as peft builds them (its PromptEmbedding, PrefixEncoder, PromptEncoder)."""
    tokens, h, e = peft.num_virtual_tokens, arch.hidden_size, peft.get("encoder_hidden_size", 128)
    if peft.method == "prompt_tuning":
        return tokens * h
    if peft.method == "prefix_tuning":  # a key and a value per layer; peft sizes them for the KV heads
        kv = arch.n_kv_heads * _head_dim(arch)
        if peft.get("prefix_projection", False):
            return tokens * kv + _linear(kv, e) + _linear(e, arch.n_layers * 2 * kv)
        return tokens * arch.n_layers * 2 * kv
    if peft.get("encoder_type", "MLP") == "LSTM":  # 2 bidirectional layers (peft's default), then a 2-layer head
        lstm = sum(2 * 4 * (n_in * e + e * e + 2 * e) for n_in in (h, 2 * e))
        return tokens * h + lstm + _linear(2 * e, 2 * e) + _linear(2 * e, h)
    return tokens * h + _linear(h, e) + _linear(e, e) + _linear(e, h)


def activation_elements_per_token_layer(cfg) -> float:
    """Tensors one decoder layer keeps for backward, per token, in elements."""
    arch = cfg.model.arch
    h, i, hd = arch.hidden_size, arch.intermediate_size, _head_dim(arch)
    q, kv = arch.n_heads * hd, arch.n_kv_heads * hd
    attention = 2 * h + (q + 2 * kv) + (q + kv) + q  # norm in/out, q/k/v, rotary q/k, attention output
    per_expert = 4 * i if arch.get("mlp", "gated") == "gated" else 2 * i  # gate, up, act(gate), product | up, act
    mlp = 2 * h + per_expert * int(arch.get("experts_per_token", 1) or 1)  # norm in/out + the experts a token uses
    lora = 0.0
    if cfg.peft_method.method not in FULL_WEIGHT_METHODS and cfg.peft_method.get("dropout", 0) > 0:
        shapes = linear_shapes(arch)
        lora = sum(shapes[t][0] for t in _targets(cfg))  # dropout makes one copy of each target's input
    return attention + mlp + lora


def plan_training(cfg, micro_batch: int | None = None) -> MemoryPlan:
    """The peak-memory plan of `cfg` (a composed train config); `micro_batch` overrides the profile's."""
    arch, hw = cfg.model.arch, cfg.hardware
    precision = PRECISION_BYTES[hw.precision]
    batch = micro_batch or hw.micro_batch_size
    tokens = batch * cfg.training.max_seq_len
    counts = parameter_counts(arch)
    full = cfg.peft_method.method in FULL_WEIGHT_METHODS  # the base's own weights train: no adapter copy
    quant = cfg.quantization.method
    world = max(1, int(hw.get("devices_per_node", 1)) * int(hw.get("n_nodes", 1)))
    engine = hw.get("distributed", "none")
    sharded = SHARDED_STATE.get(engine, set())
    notes = []

    per_param = quantized_bytes_per_param(quant, cfg.quantization.get("double_quant", True))
    non_linear = counts["embed"] + counts["head"] + counts["other"]
    if per_param is None:
        weights = int(arch.n_params) * precision
    else:
        weights = counts["linear"] * per_param + non_linear * 4  # kbit preparation upcasts the rest to fp32
        if quant == "int8":
            weights += sum(layer_count(arch, name) * out for name, (_, out) in linear_shapes(arch).items()) * 4

    if full:
        trainable = int(arch.n_params) if cfg.peft_method.method == "full" else freeze_trainable_params(cfg)
        grad_bytes = precision
        # states follow the weights' dtype; factored/projected states scale with the weight matrices' side
        state_bytes = state_bytes_per_param(cfg.optimizer, arch.hidden_size) * precision / 4
    else:
        trainable = trainable_adapter_params(cfg)
        grad_bytes = 4  # adapters train in fp32; an adapter matrix's smaller side is the rank
        state_bytes = state_bytes_per_param(cfg.optimizer, cfg.peft_method.get("r", 16))
    offload = bool(hw.get("optimizer_offload", False))

    factor = ACTIVATION_FACTOR["bitsandbytes" if per_param is not None else "full_precision"]
    per_layer = activation_elements_per_token_layer(cfg) * precision * factor
    kept = layers_keeping_activations(cfg)
    if hw.gradient_checkpointing:
        activations = tokens * (kept * arch.hidden_size * precision + (per_layer if kept else 0))
    else:
        activations = tokens * kept * per_layer
    # The logits at the compute precision, plus their fp32 copy in the loss when that precision is lower
    # (measured on CPU: one fp32 copy is alive at the peak, not three).
    logits = tokens * arch.vocab_size * (precision + (4 if precision < 4 else 0))

    states = trainable * state_bytes
    parts = {
        "weights": weights,
        "adapter weights" if not full else "trainable copy": 0.0 if full else trainable * 4.0,
        "gradients": trainable * grad_bytes,
        "optimizer states": 0.0 if offload else states,
        "activations": activations,
        "logits": logits,
    }
    for part in sharded:  # per rank: its shard
        parts[part] /= world
    # only the touched part of a DeepSpeed reduce bucket is resident: all the gradients of a model smaller than it
    reduce_bucket = min(trainable, REDUCE_BUCKET) * grad_bytes
    if engine == "deepspeed_zero3" and world > 1:
        live = min(weights, weights * ZERO3_LIVE_PARAMETERS / max(1, int(arch.n_params)))
        parts["gathered weights (ZeRO-3)"] = max(0.0, live - parts["weights"])
        parts["gradient reduce bucket (ZeRO-3)"] = reduce_bucket
        # ...and reduce-scatters the bucket's gradients as one flat, rank-interleaved copy of them
        # (reduce_scatter_coalesced in deepspeed/runtime/comm/coalesced_collectives.py:
        # `tensor_partition_flat_buffer = instrument_w_nvtx(torch.cat)(tensor_partitions_lst_with_padding)`)
        parts["reduce-scatter copy (ZeRO-3)"] = parts["gradient reduce bucket (ZeRO-3)"]
        if hw.device == "cpu":
            # Full-size layer tensors pass through glibc's heap (blocks under its mmap threshold) and leave it a
            # model's size larger: the weights ZeRO-3 gathers (its first step, while it records the module order,
            # releases each layer's weights after the forward and gathers them again for the backward:
            # `release_sub_module` in deepspeed/runtime/zero/partitioned_param_coordinator.py) and, under full
            # fine-tuning, the full gradients autograd allocates before the hook copies them into the bucket.
            # Measured on SmolLM2, 2 processes: LoRA and full fine-tuning ranks ~0.4-0.55 GB over the terms
            # above, with the 4 MiB threshold or glibc's default (docs/results/distributed-cpu); full fine-tuning came
            # down to the terms above with MALLOC_MMAP_THRESHOLD_=131072. A GPU's caching allocator reuses them.
            parts["full-size layer tensors kept (ZeRO-3, CPU heap)"] = max(weights, trainable * grad_bytes)
    if engine == "deepspeed_zero2" and world > 1:
        if not offload:
            # ZeRO-1/2 clone their partition of the trainable weights into an fp32 master copy, even when the
            # weights are fp32 already (deepspeed/runtime/zero/stage_1_and_2.py, single_partition_of_fp32_groups)
            parts["fp32 master partition (ZeRO-2)"] = trainable * 4.0 / world
        # measured on SmolLM2 full fine-tuning, 2 CPU processes: the ranks peaked ~450 MB over the plan without
        # this term (docs/results/distributed-cpu)
        parts["gradient reduce bucket (ZeRO-2)"] = reduce_bucket
    if full:
        parts.pop("trainable copy")
    if hw.device == "cpu":
        parts["runtime (Python, torch)"] = CPU_RUNTIME_MB * MiB
        if per_param is not None:
            # The fp32 checkpoint's pages are resident while it is quantized: a load-time peak.
            load_extra = int(arch.n_params) * 4 - (parts["weights"] - 0)
            train_extra = parts["gradients"] + parts["optimizer states"] + activations + logits
            if load_extra > train_extra:
                parts["checkpoint pages while loading"] = load_extra - train_extra
                notes.append("the peak is while loading: the full-precision checkpoint is read before quantizing")
    if offload:
        # ZeRO-Offload keeps the states (and an fp32 copy of the trainable weights) in host memory, sharded
        # too; on a CPU device host memory is the process's own, so they count toward its peak.
        host = (states + trainable * 4.0) / (world if "optimizer states" in sharded else 1)
        if hw.device == "cpu":
            parts["offloaded states (host)"] = host
        notes.append(f"optimizer states ({host / GiB:.2f} GiB per rank) offloaded to CPU memory")
    rank0 = {}
    if "weights" in sharded and world > 1:
        # After training, rank 0 alone loads an unsharded copy (base + trained weights) to save and score
        # (medft.run.sharded.whole_model) while its shards are still held: measured on SmolLM2, FSDP with
        # LoRA and full fine-tuning, rank 0 peaks this much above the other ranks.
        rank0["unsharded copy after training"] = weights + (0.0 if full else trainable * 4.0)
    if sharded and world > 1:
        notes.append(
            f"{', '.join(sorted(sharded))} sharded over {world} processes ({hw.distributed}): per-rank figures"
        )
        if hw.device == "cpu" and rank_mmap_threshold_mb(cfg) is None:
            # Measured on 16-step SmolLM2 runs, 2 processes, every batch at the planned shape, glibc's dynamic
            # threshold: FSDP2 full fine-tuning ranks peaked at up to 1.58x this plan, FSDP2 LoRA ranks at up to
            # 1.27x (docs/results/distributed-cpu).
            notes.append(
                "glibc's heap keeps the engine's freed buffers: 16-step SmolLM2 runs peaked at up to "
                f"{'1.6' if full else '1.3'}x these figures; hardware.mmap_threshold_mb=4 keeps them out"
            )
    return MemoryPlan(
        parts=parts, budget_bytes=hw.memory_budget_gb * GiB, device=hw.device, notes=notes, rank0_parts=rank0
    )
