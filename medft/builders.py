"""The one place config becomes library objects: small pure translators, then the loaders.

Translators (`torch_dtype`, `quantization_config`, `peft_config`, `training_arguments`, `sft_config`) take config
nodes and return transformers / peft / trl objects without side effects, so tests call them
directly. Heavy imports stay inside the functions (nothing happens at import time).
"""

from __future__ import annotations

import logging
from pathlib import Path

from medft.config.choices import EVAL_METRIC_GREATER_IS_BETTER, FULL_WEIGHT_METHODS, PROMPT_LEARNING
from medft.config.derived import (
    grad_accumulation,
    is_reward_model,
    lora_alpha,
    packing_enabled,
    peft_task_type,
    training_length,
)
from medft.config.engines import fsdp_options
from medft.config.errors import UserError
from medft.methods.adalora import adalora_callback, adalora_config
from medft.methods.loftq import loftq_initialise
from medft.methods.lora_plus import loraplus_optimizer
from medft.methods.optimizers import adafactor_optimizer, optimizer_arguments
from medft.methods.prompt_learning import prompt_learning_config
from medft.models import fast_paths
from medft.models.fast_paths import compact_lm_head, installed, liger_enabled
from medft.models.freeze import apply_freeze
from medft.models.packed_linear import enable_for_scoring
from medft.models.quantized_layout import restore_4bit_layout
from medft.models.seq2seq import language_model_class
from medft.models.weights import require_safetensors
from medft.prompts import CHAT_TEMPLATES
from medft.runtime.cpu_fsdp import allow_fsdp_on_cpu
from medft.runtime.progress import bars_wanted

log = logging.getLogger(__name__)

PRECISIONS = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def attention_kernel(hardware_cfg) -> str:
    """`auto`: flash-attention 2 on a GPU in 16-bit when the package is installed, else PyTorch's sdpa."""
    choice = hardware_cfg.attn_implementation
    if choice != "auto":
        return choice

    if hardware_cfg.device == "cuda" and hardware_cfg.precision in ("bf16", "fp16") and installed("flash_attn"):
        return "flash_attention_2"
    return "sdpa"


def torch_dtype(precision: str):
    import torch

    return getattr(torch, PRECISIONS[precision])


def compute_dtype(quant_cfg, hardware_cfg):
    precision = hardware_cfg.precision if quant_cfg.compute_dtype == "auto" else quant_cfg.compute_dtype
    return torch_dtype(precision)


def quantization_config(quant_cfg, hardware_cfg):
    """BitsAndBytesConfig for nf4 / fp4 / int8, None for none."""
    if quant_cfg.method == "none":
        return None
    from transformers import BitsAndBytesConfig

    if quant_cfg.method == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=quant_cfg.method,
        bnb_4bit_use_double_quant=quant_cfg.double_quant,
        bnb_4bit_compute_dtype=compute_dtype(quant_cfg, hardware_cfg),
    )


def target_modules(peft_cfg, model_cfg):
    modules = peft_cfg.target_modules or list(model_cfg.lora_target_modules)
    if modules == ["all-linear"] or modules == "all-linear":
        return "all-linear"
    return list(modules)


LORA_CONFIG_FLAGS = {  # method of the LoRA family -> what it changes in peft's LoraConfig
    "lora": {},
    "dora": {"use_dora": True},  # weight-decomposed: a trained magnitude per output (Liu et al. 2024)
    "rslora": {"use_rslora": True},  # scale alpha/sqrt(r): stable at high rank (Kalajdzievski 2023)
    "pissa": {"init_lora_weights": "pissa"},  # adapters start at the top singular vectors (Meng et al. 2024)
    "olora": {"init_lora_weights": "olora"},  # orthonormal QR initialisation (Büyükakyüz 2024)
    "lora_plus": {},  # plain LoRA weights; B's higher learning rate is in the optimizer (medft.methods.lora_plus)
    "loftq": {},  # plain LoRA on a 4-bit model, then re-initialised to the quantization error (medft.methods.loftq)
}


REWARD_HEAD = "score"  # the linear head AutoModelForSequenceClassification puts on Llama-style models


def peft_config(peft_cfg, model_cfg, total_steps: int | None = None, task: str = "CAUSAL_LM"):
    """A peft config for adapter methods; None for full and freeze fine-tuning. `total_steps`: AdaLoRA's schedule.

    `task="SEQ_CLS"` (reward models): peft's sequence-classification adapter, whose new head trains whole;
    `task="SEQ_2_SEQ_LM"`: an encoder-decoder's (T5), whose forward takes decoder inputs and labels.
    """
    method = peft_cfg.method
    if method in FULL_WEIGHT_METHODS:
        return None
    if method in PROMPT_LEARNING:
        return prompt_learning_config(peft_cfg)
    from peft import IA3Config, LoraConfig, TaskType, VeraConfig

    targets = target_modules(peft_cfg, model_cfg)
    if method in LORA_CONFIG_FLAGS:
        head = {"modules_to_save": [REWARD_HEAD]} if task == "SEQ_CLS" else {}
        return LoraConfig(
            task_type=TaskType[task],
            r=peft_cfg.r,
            lora_alpha=lora_alpha(peft_cfg),
            lora_dropout=peft_cfg.dropout,
            target_modules=targets,
            bias=peft_cfg.bias,
            **LORA_CONFIG_FLAGS[method],
            **head,
            **adapted_layers(peft_cfg, model_cfg),
        )
    if method == "vera":
        return VeraConfig(
            task_type=TaskType[task],
            r=peft_cfg.r,
            target_modules=targets,
            vera_dropout=peft_cfg.dropout,
            bias=peft_cfg.bias,
        )
    if method == "adalora":
        return adalora_config(peft_cfg, targets, total_steps or 1)
    if method == "ia3":
        return IA3Config(
            task_type=TaskType[task],
            target_modules=targets,
            feedforward_modules=list(peft_cfg.feedforward_modules or []),
        )
    raise ValueError(f"peft_method.method={method!r} has no builder")


def adapted_layers(peft_cfg, model_cfg) -> dict:
    """peft's `layers_to_transform` for `peft_method.last_layers=N`: the top N decoder layers; {} for all."""

    last = peft_cfg.get("last_layers")
    if last is None:
        return {}
    n_layers = model_cfg.arch.n_layers
    if not 1 <= last <= n_layers:
        raise UserError(
            f"peft_method.last_layers={last}: model {model_cfg.name} has {n_layers} decoder layers; "
            f"give 1..{n_layers}, or peft_method.last_layers=null to adapt every layer"
        )
    return {"layers_to_transform": list(range(n_layers - last, n_layers))}


def report_to(logger_cfg) -> list[str]:
    # TensorBoard is attached by the pipeline with its own writer (one folder for train and eval).
    return ["wandb"] if logger_cfg.name == "wandb" else []


def training_arguments(cfg, output_dir: Path, grad_accum: int) -> dict:
    """The TrainingArguments fields every objective shares (SFTConfig, DPOConfig, KTOConfig, ORPOConfig).

    One translator, so an objective differs from SFT only in its own fields (`trainer_config`).
    Evaluation, early stopping and best-checkpoint fields come from `medft.objectives.controls`.
    """

    hardware, training = cfg.hardware, cfg.training
    by, length = training_length(cfg)
    on_cpu = hardware.device == "cpu"
    return dict(
        output_dir=str(output_dir),
        seed=cfg.seed,
        data_seed=cfg.seed,
        use_cpu=on_cpu,
        # TRL defaults to bf16 and checkpointing; both are set from the profile instead. transformers 5
        # names checkpointing `activation_checkpointing` (`gradient_checkpointing` warns on every run).
        # bf16 weights, or bf16 autocast over fp32 weights (hardware.autocast, resolved by check_environment).
        bf16=hardware.precision == "bf16" or hardware.get("autocast") == "bf16",
        fp16=hardware.precision == "fp16",
        activation_checkpointing=hardware.gradient_checkpointing,
        per_device_train_batch_size=hardware.micro_batch_size,
        per_device_eval_batch_size=hardware.micro_batch_size,
        gradient_accumulation_steps=grad_accum,
        # One of the two decides (medft.config.derived.training_length); transformers reads epochs when max_steps <= 0.
        max_steps=length if by == "max_steps" else -1,
        num_train_epochs=length if by == "epochs" else 1.0,
        max_length=training.max_seq_len,
        train_sampling_strategy="group_by_length" if training.group_by_length else "random",
        **optimizer_arguments(cfg.optimizer),  # optim, optim_args, learning rate, schedule, clipping
        logging_nan_inf_filter=False,  # a NaN loss is logged as NaN (NonFiniteGuard stops the run), not hidden
        logging_steps=training.logging_steps,
        save_strategy=training.get("save_strategy", "steps"),
        save_steps=training.save_every_steps,  # read only with save_strategy=steps
        # Rotation is medft's CheckpointSeal's: it deletes old checkpoints only once the new one is sealed.
        save_total_limit=None,
        report_to=report_to(cfg.logger),
        include_num_input_tokens_seen="non_padding",
        dataloader_num_workers=hardware.dataloader_workers,
        ddp_find_unused_parameters=False,  # every LoRA weight is used each step; the search costs a pass
        disable_tqdm=not bars_wanted(cfg.get("progress", "auto")),  # progress=auto: a bar only on a terminal
        use_liger_kernel=liger_enabled(hardware),
        # transformers builds its FSDP plugin from these, not from accelerate's environment
        **({"fsdp": True, "fsdp_config": fsdp_options(hardware)} if hardware.distributed == "fsdp" else {}),
        **evaluation_arguments(training),
    )


def evaluation_arguments(training_cfg) -> dict:
    """TrainingArguments fields for evaluation, early stopping and best-checkpoint selection."""
    every = training_cfg.get("eval_every_steps", 0) or 0
    if every <= 0:
        return {"eval_strategy": "no"}
    # The recipe resolves `auto` once it knows the validation split; a bare translator call falls back to loss.
    metric = "loss" if training_cfg.eval_metric == "auto" else training_cfg.eval_metric
    return {
        "eval_strategy": "steps",
        "eval_steps": every,
        "metric_for_best_model": metric,  # the trainer prefixes eval_
        "greater_is_better": EVAL_METRIC_GREATER_IS_BETTER[metric],
        # The best checkpoint is also kept out of save_total_limit's rotation (CheckpointSeal passes it on).
        "load_best_model_at_end": bool(training_cfg.load_best),
    }


def trainer_config(config_class, cfg, output_dir: Path, grad_accum: int, **specific):
    """`config_class` (a TRL config) from the shared fields plus the objective's own."""
    if cfg.hardware.device == "cpu" and cfg.hardware.distributed == "fsdp":
        allow_fsdp_on_cpu()  # before the trainer builds its Accelerator (medft.runtime.cpu_fsdp says why)
    return config_class(**{**training_arguments(cfg, output_dir, grad_accum), **specific})


def sft_config(cfg, output_dir: Path, grad_accum: int, **specific):
    """TRL's SFTConfig: the shared fields, the answer-only loss, packing; `specific` overrides (pretrain)."""
    from trl import SFTConfig

    training = cfg.training
    fields = dict(
        completion_only_loss=True,
        # bfd packing turns on padding-free batches: one row per pack with position_ids restarting at
        # each example, which transformers turns into a block-diagonal mask (no cross-example attention).
        packing=packing_enabled(cfg),
        packing_strategy="bfd",
        label_smoothing_factor=training.get("label_smoothing_factor", 0.0),
        neftune_noise_alpha=training.get("neftune_noise_alpha"),
    )
    return trainer_config(SFTConfig, cfg, output_dir, grad_accum, **{**fields, **specific})


def sft_trainer(cfg, model, tokenizer, train_data, output_dir: Path, callbacks=(), eval_data=None, **specific):
    """TRL's SFTTrainer on pre-tokenized data (input_ids + completion_mask), as every run uses it."""
    from trl import SFTTrainer

    args = sft_config(cfg, output_dir, grad_accumulation(cfg), **specific)
    compact_lm_head(cfg.hardware)  # the vocabulary projection at labelled positions only, on CPU too
    return SFTTrainer(
        model=model,
        args=args,
        train_dataset=train_data,
        eval_dataset=eval_data,
        processing_class=tokenizer,
        **method_hooks(cfg, model, args, callbacks),
    )


def method_hooks(cfg, model, args, callbacks) -> dict:
    """The trainer arguments every objective passes the same way: the run's callbacks plus the PEFT method's,
    and medft's optimizer where it builds one (None: the trainer's own scheduler and warmup, as always)."""
    return {
        "callbacks": list(callbacks) + peft_callbacks(cfg, model),
        "optimizers": (peft_optimizer(cfg, model, args), None),
    }


def peft_optimizer(cfg, model, args):
    """The optimizer medft builds instead of the trainer's own, else None: LoRA+'s (a PEFT method's), or
    Adafactor with its config fields (transformers' own handler fixes two of them)."""
    if cfg.peft_method.method == "lora_plus":
        return loraplus_optimizer(cfg, model, args)
    if cfg.optimizer.name == "adafactor":
        return adafactor_optimizer(cfg, model, args)
    return None


def peft_callbacks(cfg, model) -> list:
    """TrainerCallbacks a PEFT method needs each step (AdaLoRA's rank allocation)."""
    if cfg.peft_method.method != "adalora":
        return []

    return [adalora_callback(model)]


def load_tokenizer(model_cfg, resolved):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(
        resolved.path, revision=model_cfg.revision, trust_remote_code=model_cfg.trust_remote_code
    )
    if model_cfg.chat_template in CHAT_TEMPLATES:
        tokenizer.chat_template = CHAT_TEMPLATES[model_cfg.chat_template]
    elif not tokenizer.chat_template:
        log.warning(
            "model %s has no chat template of its own: using ChatML as plain text "
            "(set model.chat_template=chatml to silence this)",
            model_cfg.name,
        )
        tokenizer.chat_template = CHAT_TEMPLATES["chatml"]
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token  # only attention-masked; never a target
    return tokenizer


def load_model(cfg, resolved):
    """The base model in the profile's precision, quantized by bitsandbytes when asked (or Unsloth's).

    objective=reward: the same weights under a one-output sequence-classification head (new, seeded).
    """
    from transformers import AutoModelForSequenceClassification

    if fast_paths.unsloth_available(cfg):
        return fast_paths.unsloth_load(cfg, resolved)
    quant = quantization_config(cfg.quantization, cfg.hardware)
    dtype = torch_dtype(cfg.hardware.precision)
    kwargs = {"num_labels": 1} if is_reward_model(cfg) else {}
    if quant is not None:
        kwargs["quantization_config"] = quant
        kwargs["device_map"] = {"": "cpu" if cfg.hardware.device == "cpu" else 0}

    require_safetensors(resolved.path, "model.path")  # a clear refusal before transformers' own
    model_class = AutoModelForSequenceClassification if is_reward_model(cfg) else language_model_class(cfg.model)
    model = model_class.from_pretrained(
        resolved.path,
        revision=cfg.model.revision,
        dtype=dtype,
        attn_implementation=attention_kernel(cfg.hardware),
        trust_remote_code=cfg.model.trust_remote_code,
        use_safetensors=True,
        **kwargs,
    )
    if quant is None and cfg.hardware.device != "cpu":
        model = model.to("cuda")
    return model


def wrap_for_training(model, cfg):
    """Attach the PEFT method (or unfreeze everything for full fine-tuning, the chosen part for freeze)."""
    if cfg.peft_method.method == "freeze":
        return apply_freeze(model, cfg.peft_method)
    from medft.models.fast_dropout import use_fast_dropout

    by, length = training_length(cfg)  # AdaLoRA's schedule needs steps: validate refuses it with epochs
    peft = peft_config(
        cfg.peft_method,
        cfg.model,
        total_steps=int(length) if by == "max_steps" else None,
        task=peft_task_type(cfg),
    )
    if fast_paths.loaded_by_unsloth(model):
        return fast_paths.unsloth_wrap(model, cfg, peft)
    if peft is None:
        for param in model.parameters():
            param.requires_grad_(True)
        return model
    from peft import get_peft_model, prepare_model_for_kbit_training

    if cfg.quantization.method != "none":
        restore_4bit_layout(model)
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.hardware.gradient_checkpointing)
    if getattr(peft, "prompt_tuning_init", None) == "TEXT":
        peft.tokenizer_name_or_path = model.config._name_or_path  # the run's tokenizer, saved beside its weights
    model = get_peft_model(model, peft)
    if cfg.peft_method.method == "loftq":
        loftq_initialise(model)
    use_fast_dropout(model, cfg.hardware)  # before compiling: the compiled layers trace the swapped modules
    fast_paths.compile_layers(model, cfg.hardware)
    enable_for_scoring(model, cfg.hardware)  # evaluations before/after training pack the weights they score with
    return model


def count_parameters(model) -> tuple[int, int]:
    if hasattr(model, "get_nb_trainable_parameters"):  # peft: counts 4-bit packed weights unpacked
        return model.get_nb_trainable_parameters()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
