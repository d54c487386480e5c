"""Optional speed-ups, each detected at run time and falling back to the plain path with one notice.

- `hardware.compact_lm_head=true` (default): TRL's fused LM head projects onto the vocabulary
  only the positions with a training label on Triton devices, but on every position elsewhere
  (its comment: to keep tile shapes fixed for compilers such as Neuron). On a CPU nothing is
  compiled, so that is pure waste: for the builtin data ~85% of the positions carry no label,
  and the head (49k x 576 for SmolLM2, forward + recomputed backward) was a third of each step.
  The patch makes that one decision, in `trl.trainer.utils`, also compact on CPU; the kernels
  (torch ops off Triton) and the log-probabilities at labelled positions are unchanged.
- `hardware.compile=regional`: `torch.compile` of each decoder layer in place (regional
  compilation: the layers share one compiled graph, so the cold start is one layer's, and the
  state-dict keys do not change, so adapters save and load as before). Fuses the elementwise
  work around the matmuls (RMSNorm, RoPE, SiLU x up, LoRA's scale-and-add), which on a CPU is
  a large share of a small model's step.
- `hardware.fast_kernels=auto`: Liger kernels (fused linear cross-entropy, RMSNorm, RoPE,
  SwiGLU) through transformers' `use_liger_kernel` when `liger-kernel` is installed and the
  run is on a GPU (its kernels are Triton: GPU only).
- `backend=unsloth`: Unsloth's `FastLanguageModel` loads the model and attaches LoRA, for the
  models and methods it supports, on a GPU with `unsloth` installed.
Flash-attention is chosen with the attention kernel (`hardware.attn_implementation=auto`,
`medft.hardware.device`).
"""

from __future__ import annotations

import importlib.util
import logging

log = logging.getLogger(__name__)

UNSLOTH_METHODS = ("lora", "rslora")  # what FastLanguageModel.get_peft_model expresses one to one


def installed(package: str) -> bool:
    """Whether `package` can be imported, without importing it (a dotted name whose parent is missing: False)."""
    try:
        return importlib.util.find_spec(package) is not None
    except ModuleNotFoundError:
        return False


def _on_gpu(hardware) -> bool:
    import torch

    return hardware.device == "cuda" and torch.cuda.is_available()


def liger_enabled(hardware) -> bool:
    """Whether transformers should patch the model with Liger kernels (`use_liger_kernel`)."""
    choice = hardware.get("fast_kernels", "auto")
    if choice == "none":
        return False
    if not _on_gpu(hardware):
        if choice == "liger":
            log.warning(
                "hardware.fast_kernels=liger: Liger's kernels are Triton (GPU only); plain PyTorch on %s",
                hardware.device,
            )
        return False
    if not installed("liger_kernel"):
        log.warning("Liger kernels not installed (pip install liger-kernel): plain PyTorch kernels")
        return False
    return True


def cpu_option_on(hardware, name: str) -> bool:
    """Whether the CPU-only fast path `hardware.<name>` applies: switched on (the default) and a CPU run."""
    return bool(hardware.get(name, True)) and hardware.device == "cpu"


def compact_lm_head(hardware) -> bool:
    """Make TRL's fused LM head score only labelled positions on CPU too; returns whether it is on."""
    if not cpu_option_on(hardware, "compact_lm_head"):
        return False
    import trl.trainer.utils as trl_utils

    original = getattr(trl_utils, "_use_triton", None)
    if original is None:  # another TRL version: nothing to patch, TRL's own behaviour stands
        log.warning("hardware.compact_lm_head: this TRL has no trl.trainer.utils._use_triton; left as TRL does it")
        return False
    if getattr(original, "_medft_compact", False):
        return True

    def compact_on_cpu(device) -> bool:  # read only by the fused head's "score valid positions only" choice
        return original(device) or device.type == "cpu"

    compact_on_cpu._medft_compact = True
    trl_utils._use_triton = compact_on_cpu
    return True


def compile_layers(model, hardware) -> int:
    """`torch.compile` each decoder layer in place when `hardware.compile=regional`; returns how many."""
    if hardware.get("compile", "none") != "regional":
        return 0
    layers = decoder_layers(model)
    if not layers:
        log.warning(
            "hardware.compile=regional: no decoder layer list found on %s; running uncompiled", type(model).__name__
        )
        return 0
    # dynamic=True: batches grouped by length have many widths; one graph serves them all
    for layer in layers:
        layer.compile(dynamic=True)
    log.info("torch.compile: %d decoder layers compiled in place (first steps include compilation)", len(layers))
    return len(layers)


def decoder_layers(model):
    """The repeated decoder blocks (an nn.ModuleList), through PEFT and task wrappers."""
    import torch

    for module in model.modules():
        children = list(module.children())
        if (
            isinstance(module, torch.nn.ModuleList)
            and len(children) > 1
            and len({type(child) for child in children}) == 1
            and "Layer" in type(children[0]).__name__
        ):
            return module
    return None


def unsloth_available(cfg) -> bool:
    """Whether `backend=unsloth` can run here; otherwise says why, once, and the plain path runs."""
    if cfg.get("backend", "hf") != "unsloth":
        return False
    reasons = []
    if not _on_gpu(cfg.hardware):
        reasons.append("it needs a CUDA GPU")
    if not installed("unsloth"):
        reasons.append("it is not installed (pip install unsloth)")
    if cfg.peft_method.method not in UNSLOTH_METHODS:
        reasons.append(f"peft_method={cfg.peft_method.method} is not one of {', '.join(UNSLOTH_METHODS)}")
    if cfg.quantization.method not in ("none", "nf4"):
        reasons.append(f"quantization={cfg.quantization.method} (Unsloth loads 16-bit or nf4)")
    if reasons:
        log.warning("backend=unsloth: falling back to transformers + peft because %s", "; ".join(reasons))
        return False
    return True


UNSLOTH_MARK = "_medft_unsloth"  # set on a model Unsloth loaded, so the adapter is attached by Unsloth too


def unsloth_load(cfg, resolved):
    """The base model from Unsloth's FastLanguageModel: the same checkpoint and sequence cap."""
    from unsloth import FastLanguageModel

    model, _ = FastLanguageModel.from_pretrained(  # medft's tokenizer (and chat template) is kept
        model_name=resolved.path,
        max_seq_length=cfg.training.max_seq_len,
        dtype=None,  # Unsloth picks bf16 where the GPU has it, else fp16
        load_in_4bit=cfg.quantization.method == "nf4",
        trust_remote_code=cfg.model.trust_remote_code,
    )
    setattr(model, UNSLOTH_MARK, True)
    return model


def loaded_by_unsloth(model) -> bool:
    return bool(getattr(model, UNSLOTH_MARK, False))


def unsloth_wrap(model, cfg, peft_config):
    """LoRA through Unsloth's get_peft_model with medft's settings (rank, alpha, dropout, targets, seed)."""
    from unsloth import FastLanguageModel

    return FastLanguageModel.get_peft_model(
        model,
        r=peft_config.r,
        lora_alpha=peft_config.lora_alpha,
        lora_dropout=peft_config.lora_dropout,
        target_modules=sorted(peft_config.target_modules),
        bias=peft_config.bias,
        use_rslora=bool(peft_config.use_rslora),
        random_state=cfg.seed,
        use_gradient_checkpointing="unsloth" if cfg.hardware.gradient_checkpointing else False,
    )
