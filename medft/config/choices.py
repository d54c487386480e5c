"""The one list of each kind of choice: Enums the schemas use, so a wrong value fails at compose time.

`optimizer.name=adamm` fails while Hydra composes, with the full key and the accepted values, like
`peft_method=lroa` does. Each Enum is a `str` whose name is its value: a member compares, hashes,
formats and serialises (JSON) as the plain string, so code reads `cfg.peft_method.method == "lora"`
and the YAML a run saves is unchanged. Groups of choices that code branches on (the LoRA family,
the methods that train whole weights, the pair objectives...) are defined here once, from the Enums.
"""

from __future__ import annotations

from enum import Enum


class Choice(str, Enum):
    """A config value from a fixed list; behaves as its string everywhere."""

    def __init__(self, value: str):
        if self.name != value:  # dict lookups and hashing rely on name == value
            raise ValueError(f"{type(self).__name__}.{self.name} must equal its value {value!r}")

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    def __repr__(self) -> str:
        return repr(self.value)


def values(choice: type[Choice]) -> tuple[str, ...]:
    return tuple(member.value for member in choice)


# --- model ---------------------------------------------------------------------------------------
class ModelSource(Choice):
    packaged = "packaged"  # a GGUF inside a pip package, converted once to safetensors
    hub = "hub"
    local = "local"
    random = "random"  # tiny-random: built in-process from the architecture sizes


class ChatTemplate(Choice):
    native = "native"
    chatml = "chatml"
    gemma = "gemma"
    baichuan = "baichuan"
    flan = "flan"  # plain instruction text, no turn markers: what Flan-T5 was tuned on
    plain = "plain"  # no roles: prompt + eos + response + eos (the reference API's format for base models)


class Architecture(Choice):
    causal = "causal"  # decoder-only: the prompt and the answer are one sequence (Llama, Gemma, Qwen...)
    seq2seq = "seq2seq"  # encoder-decoder (T5): the prompt is the encoder's input, the answer the decoder's


class SaveStrategy(Choice):
    steps = "steps"  # a checkpoint every training.save_every_steps
    epoch = "epoch"  # a checkpoint at the end of every pass over the training split


# --- data ----------------------------------------------------------------------------------------
class DatasetKind(Choice):
    builtin = "builtin"
    jsonl = "jsonl"
    preference_jsonl = "preference_jsonl"
    text = "text"
    pubmedqa = "pubmedqa"
    medqa = "medqa"
    medmcqa = "medmcqa"
    mmlu_medical = "mmlu_medical"
    medquad = "medquad"
    diagnosis_builtin = "diagnosis_builtin"
    notes_builtin = "notes_builtin"
    ner_builtin = "ner_builtin"
    cmeee = "cmeee"
    huatuo = "huatuo"
    mimic_notes = "mimic_notes"
    mixture = "mixture"
    files = "files"


class FileFormat(Choice):
    auto = "auto"  # from the extension: .jsonl/.json -> json, .csv, .parquet
    json = "json"
    csv = "csv"
    parquet = "parquet"


BENCHMARK_KINDS = ("pubmedqa", "medqa", "medmcqa", "mmlu_medical", "medquad")  # datasets read by a benchmark's loader
NER_KINDS = ("ner_builtin", "cmeee")  # entity-annotated text: needs task=ner
FILE_KINDS = ("jsonl", "mimic_notes")  # kinds that read the user's own file (dataset.path)
ROLES = ("train", "validation", "test")  # dataset=files: the role each file (or hub split) plays


class PhiPolicy(Choice):
    guard = "guard"
    allow = "allow"


class ContaminationAction(Choice):
    fail = "fail"
    drop = "drop"
    drop_own = "drop_own"  # drop repeats of the dataset's own held-out questions; refuse a benchmark's
    warn = "warn"


class Balance(Choice):
    none = "none"
    oversample = "oversample"
    resample = "resample"


class Transform(Choice):
    scrub_phi = "scrub_phi"
    abbreviations = "abbreviations"
    terminology = "terminology"
    augment = "augment"


class AugmentMethod(Choice):
    synonym = "synonym"
    mask = "mask"


class EntityOffsets(Choice):
    auto = "auto"
    inclusive = "inclusive"
    exclusive = "exclusive"


class HuatuoLayout(Choice):
    auto = "auto"
    lite = "lite"
    encyclopedia = "encyclopedia"


class StoppingStrategy(Choice):
    first_exhausted = "first_exhausted"
    all_exhausted = "all_exhausted"
    all_exhausted_without_replacement = "all_exhausted_without_replacement"


# --- task ----------------------------------------------------------------------------------------
class Scorer(Choice):
    multiple_choice = "multiple_choice"
    diagnosis = "diagnosis"
    clinical_note = "clinical_note"
    ner = "ner"


class Targets(Choice):
    answer = "answer"
    all = "all"


class ZhTokenizer(Choice):
    chars = "chars"
    jieba = "jieba"


# --- PEFT methods --------------------------------------------------------------------------------
class PeftMethod(Choice):
    lora = "lora"
    dora = "dora"
    rslora = "rslora"
    pissa = "pissa"
    olora = "olora"
    loftq = "loftq"
    lora_plus = "lora_plus"
    adalora = "adalora"
    vera = "vera"
    ia3 = "ia3"
    prompt_tuning = "prompt_tuning"
    prefix_tuning = "prefix_tuning"
    p_tuning = "p_tuning"
    full = "full"
    freeze = "freeze"


LORA_FAMILY = ("lora", "dora", "rslora", "pissa", "olora", "lora_plus", "loftq")  # peft's LoraConfig, one flag apart
RANKED_METHODS = (*LORA_FAMILY, "vera")  # the adapter methods with a rank r
PROMPT_LEARNING = ("prompt_tuning", "prefix_tuning", "p_tuning")  # they change the input, not the weights
FULL_WEIGHT_METHODS = ("full", "freeze")  # train the base model's own weights (no adapter): saved whole
REWARD_METHODS = ("lora", "dora", "rslora", "pissa", "olora", "lora_plus", "full")  # can carry a new score head


class EncoderType(Choice):
    MLP = "MLP"
    LSTM = "LSTM"


class Bias(Choice):
    none = "none"
    all = "all"
    lora_only = "lora_only"


# --- quantization and hardware -------------------------------------------------------------------
class QuantMethod(Choice):
    none = "none"
    nf4 = "nf4"
    fp4 = "fp4"
    int8 = "int8"


FOUR_BIT = ("nf4", "fp4")


class ComputeDtype(Choice):
    auto = "auto"
    fp32 = "fp32"
    fp16 = "fp16"
    bf16 = "bf16"


class Device(Choice):
    cpu = "cpu"
    cuda = "cuda"


class Precision(Choice):
    fp32 = "fp32"
    fp16 = "fp16"
    bf16 = "bf16"


class Autocast(Choice):
    auto = "auto"  # bf16 where the CPU has bf16 units that torch uses (medft.hardware.device), else off
    bf16 = "bf16"
    off = "off"


class Distributed(Choice):
    none = "none"
    ddp = "ddp"
    deepspeed_zero2 = "deepspeed_zero2"
    deepspeed_zero3 = "deepspeed_zero3"
    fsdp = "fsdp"


class Attention(Choice):
    auto = "auto"
    sdpa = "sdpa"
    eager = "eager"
    flash_attention_2 = "flash_attention_2"


class Compile(Choice):
    none = "none"
    regional = "regional"


class FastKernels(Choice):
    auto = "auto"
    liger = "liger"
    none = "none"


class Backend(Choice):
    hf = "hf"
    unsloth = "unsloth"


# --- optimizer -----------------------------------------------------------------------------------
class Optimizer(Choice):
    """transformers `optim` names medft is tested with (a test checks each is one of transformers')."""

    adamw_torch = "adamw_torch"
    adamw_torch_fused = "adamw_torch_fused"
    adamw_bnb_8bit = "adamw_bnb_8bit"
    paged_adamw_8bit = "paged_adamw_8bit"
    paged_adamw_32bit = "paged_adamw_32bit"
    adafactor = "adafactor"
    sgd = "sgd"
    rmsprop = "rmsprop"
    lion_32bit = "lion_32bit"  # bitsandbytes Lion
    lion_8bit = "lion_8bit"
    paged_lion_32bit = "paged_lion_32bit"
    paged_lion_8bit = "paged_lion_8bit"
    galore_adamw = "galore_adamw"  # needs galore-torch: pip install -e ".[galore]"
    galore_adamw_8bit = "galore_adamw_8bit"


class GaloreProjection(Choice):
    """GaLore's `proj_type`: which side of a gradient matrix it projects."""

    std = "std"
    reverse_std = "reverse_std"
    right = "right"
    left = "left"
    full = "full"


class Scheduler(Choice):
    """transformers `lr_scheduler_type` names (a test checks each is one of transformers')."""

    linear = "linear"
    cosine = "cosine"
    cosine_with_restarts = "cosine_with_restarts"
    polynomial = "polynomial"
    constant = "constant"
    constant_with_warmup = "constant_with_warmup"
    inverse_sqrt = "inverse_sqrt"
    cosine_with_min_lr = "cosine_with_min_lr"
    warmup_stable_decay = "warmup_stable_decay"


# --- objectives, evaluation, logging -------------------------------------------------------------
class Objective(Choice):
    sft = "sft"
    dpo = "dpo"
    orpo = "orpo"
    kto = "kto"
    pretrain = "pretrain"
    reward = "reward"
    grpo = "grpo"


PREFERENCE_OBJECTIVES = ("dpo", "orpo", "kto")  # policies trained on (prompt, chosen, rejected) pairs
PAIR_OBJECTIVES = (*PREFERENCE_OBJECTIVES, "reward")  # everything that reads pairs (reward: a scorer, not a policy)
ONLINE_OBJECTIVES = ("grpo",)  # policies trained on their own sampled answers, rewarded by the task's scorer


class EvalMetric(Choice):
    auto = "auto"  # mc_acc when the validation split has multiple choice, else loss
    mc_acc = "mc_acc"
    loss = "loss"


EVAL_METRIC_GREATER_IS_BETTER = {"mc_acc": True, "loss": False}


class Formulation(Choice):
    cloze = "cloze"
    letter = "letter"


class Benchmark(Choice):
    pubmedqa = "pubmedqa"
    medqa = "medqa"
    medmcqa = "medmcqa"
    mmlu_medical = "mmlu_medical"
    medquad = "medquad"


class PromptStyle(Choice):
    plain = "plain"
    chat = "chat"


class RetentionKind(Choice):
    none = "none"
    general_knowledge = "general_knowledge"
    mmlu = "mmlu"


class Logger(Choice):
    tensorboard = "tensorboard"
    wandb = "wandb"
    none = "none"


class WandbMode(Choice):
    auto = "auto"
    online = "online"
    offline = "offline"
    disabled = "disabled"


class Progress(Choice):
    """Progress bars, named as `ls --color` / `git --color` name theirs (`on`/`off` would read as YAML booleans)."""

    auto = "auto"  # bars only when stdout and stderr are terminals
    always = "always"
    never = "never"
