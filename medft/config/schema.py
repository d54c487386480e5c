"""Structured-config schemas for every config group medft owns.

The command roots (medft/config/run_schema.py) type each group node with the class GROUP_SCHEMAS
names for it, so Hydra type-checks every yaml option under conf/<group>/ at compose time:
`peft_method.rnak=8` and `peft_method.r=eight` both fail before anything is loaded, with the full
key in the message. A key added with `+` (which Hydra lets past a schema) is refused by
medft.config.unknown_keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from medft.config.choices import (
    Architecture,
    Attention,
    AugmentMethod,
    Autocast,
    Balance,
    Benchmark,
    Bias,
    ChatTemplate,
    Compile,
    ComputeDtype,
    ContaminationAction,
    DatasetKind,
    Device,
    Distributed,
    EncoderType,
    EntityOffsets,
    FastKernels,
    FileFormat,
    Formulation,
    HuatuoLayout,
    Logger,
    ModelSource,
    Objective,
    Optimizer,
    PeftMethod,
    PhiPolicy,
    Precision,
    PromptStyle,
    QuantMethod,
    RetentionKind,
    Scheduler,
    Scorer,
    StoppingStrategy,
    Targets,
    Transform,
    WandbMode,
    ZhTokenizer,
)
from medft.config.command_choices import BenchmarkSplit, RetentionSplit
from medft.config.data_files_schema import ColumnsConfig, HubSplitsConfig


@dataclass
class ArchConfig:
    """Architecture sizes, so a memory plan or a tiny-random build never needs a download."""

    model_type: str = MISSING  # transformers model_type, e.g. llama, gemma3_text
    n_params: int = MISSING  # total parameters (embeddings included)
    n_layers: int = MISSING  # seq2seq: the encoder's blocks
    n_decoder_layers: int = 0  # seq2seq: the decoder's blocks (each with a cross-attention); 0 for decoder-only
    hidden_size: int = MISSING
    intermediate_size: int = MISSING
    n_heads: int = MISSING
    n_kv_heads: int = MISSING
    vocab_size: int = MISSING
    tie_word_embeddings: bool = False
    head_dim: int | None = None  # None: hidden_size / n_heads (Gemma 3 sets its own)
    mlp: str = "gated"  # gated: gate, up, down (SwiGLU/GeGLU) | plain: up, down only (Phi-2's fc1, fc2)
    num_experts: int = 1  # MoE (Mixtral's num_local_experts): each layer holds this many MLPs
    experts_per_token: int = 1  # MoE top-k: MLPs a token passes through (what activations cost)
    # The model's own linear-layer names where they differ from Llama's, each -> the Llama
    # projections it holds (a fused one holds several): ChatGLM's query_key_value -> [q, k, v].
    module_roles: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class ModelConfig:
    name: str = MISSING
    source: ModelSource = MISSING  # packaged | hub | local | random
    architecture: Architecture = Architecture.causal  # causal (decoder-only) | seq2seq (encoder-decoder, T5)
    hub_id: str | None = None  # used by source=hub
    revision: str | None = None  # hub revision to pin; None = the default branch
    path: str | None = None  # used by source=local: a transformers checkpoint folder
    package: str | None = None  # used by source=packaged: the pip package holding a GGUF
    gguf_file: str | None = None  # the GGUF file name inside that package
    chat_template: ChatTemplate = (
        ChatTemplate.native
    )  # native (the tokenizer's own) | chatml (for base models) | gemma | baichuan | plain (prompt + eos + response)
    system_prompt: str | None = None  # None: the prompt module's medical default
    lora_target_modules: list[str] = field(default_factory=list)
    max_seq_len: int = 2048  # context the model was trained for; training caps below it
    trust_remote_code: bool = False  # true runs the hub repository's own Python code: review it first
    needs_remote_code: bool = False  # the architecture is not in transformers (Baichuan2, ChatGLM3)
    arch: ArchConfig = field(default_factory=ArchConfig)


@dataclass
class AugmentConfig:
    """dataset.transforms=[augment]: variants of rare-label training records (train split only)."""

    target_count: int | None = None  # each label raised to this many train records; None = the largest label's count
    methods: list[AugmentMethod] = field(
        default_factory=lambda: [AugmentMethod.synonym, AugmentMethod.mask]
    )  # synonym swap, entity -> [TYPE]
    label_by: str = "auto"  # a metadata key (qtype, category, subject), answer, answer_letter, or auto
    max_per_record: int = 4  # variants drawn from one record at most: more would repeat it, not add data


@dataclass
class ContaminationConfig:
    """Training questions against the evaluated ones (own validation/test splits, benchmark=...)."""

    enabled: bool = True  # cheap next to training (n-gram sets); off only to train on a benchmark on purpose
    ngram: int = (
        5  # words per n-gram (questions under 2n words: half their length, at least 3): smaller catches more rewording
    )
    item_threshold: float = 0.5  # share of a training question's n-grams in one evaluated question: contaminated
    max_fraction: float = 0.0  # contaminated training share tolerated before `action`
    action: ContaminationAction = (
        ContaminationAction.fail
    )  # fail: refuse the run | drop: remove those training records | warn: report only
    # | drop_own: drop repeats of the dataset's own held-out questions, refuse a benchmark's (MedMCQA repeats questions)


@dataclass
class DatasetConfig:
    name: str = MISSING
    kind: DatasetKind = MISSING  # builtin | jsonl | preference_jsonl | text | mixture | a benchmark: pubmedqa, medqa, medmcqa, mmlu_medical, medquad
    path: str | None = None  # jsonl: the user's file; benchmark: its native file or folder (None = hub)
    train_file: str | None = None  # files: the training file (.jsonl, .json, .csv, .parquet)
    validation_file: str | None = None  # files: None = validation_fraction of the train file
    test_file: str | None = None  # files: None = test_fraction of the train file
    file_format: FileFormat = FileFormat.auto  # files: auto (by extension) | json | csv | parquet
    columns: ColumnsConfig = field(default_factory=ColumnsConfig)  # files: canonical field -> your column
    hub_splits: HubSplitsConfig = field(default_factory=HubSplitsConfig)  # files with hub_id: split per role
    hub_id: str | None = None  # benchmark kinds read from the hub: None = the benchmark's usual repo
    hub_config: str | None = None  # the hub dataset's config name, where it has several
    source_split: str = "train"  # benchmark kinds: which split of the benchmark to train from
    validation_fraction: float = 0.1  # jsonl: share held out for validation (stratified)
    test_fraction: float = 0.1  # jsonl: share held out for the end-of-run evaluation
    stratify_by: str | None = "answer"  # record field the split keeps proportional
    split_seed: int = 0  # fixes the split independently of the training seed
    max_samples: int | None = None  # cap on training records (None = all)
    max_seq_len: int = 512  # training.max_seq_len's default: what this data's records need (measured per option)
    # A record longer than this (question + context + options + answer, in characters) is refused:
    # 1e6 characters is ~250k tokens, beyond any context window here, so it is a broken file (a
    # missing newline or quote), not data; raise it for book-length pretraining documents.
    max_record_chars: int = 1_000_000
    control_fraction: float = 0.12  # builtin: share of facts never trained on, per category
    train_formats: list[str] = field(default_factory=lambda: ["qa"])  # builtin: qa pairs, mc questions
    eval_limit: int | None = None  # cap on evaluated records per split (None = all)
    balance: Balance = (
        Balance.none
    )  # train split only: none | oversample | resample (equal answer classes; medft/data/balance.py)
    transforms: list[Transform] = field(
        default_factory=list
    )  # in order: scrub_phi, abbreviations, terminology, augment
    contains_notes: bool = False  # clinical notes: PHI found refuses the run (unless scrub_phi or phi=allow)
    phi: PhiPolicy = PhiPolicy.guard  # guard: refuse notes with PHI, report the rest | allow: report only, never refuse
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    contamination: ContaminationConfig = field(default_factory=ContaminationConfig)
    offsets: EntityOffsets = (
        EntityOffsets.auto
    )  # cmeee: end_idx convention, auto (read from the data) | inclusive | exclusive
    layout: HuatuoLayout = (
        HuatuoLayout.auto
    )  # huatuo: auto (from the fields) | lite (question, answer) | encyclopedia (questions, answers)
    note_categories: list[str] = field(default_factory=list)  # mimic_notes: CATEGORY / note_type kept (empty: all)
    # mixture: [{name: <dataset option>, weight: <number>, label: <optional>, <that option's keys>: ...}, ...]
    components: list[Any] = field(default_factory=list)
    stopping_strategy: StoppingStrategy = (
        StoppingStrategy.first_exhausted
    )  # mixture: datasets.interleave_datasets' (see medft/data/mixture.py)


@dataclass
class PeftMethodConfig:
    method: PeftMethod = MISSING  # lora | dora | rslora | pissa | olora | loftq | lora_plus | adalora | vera | ia3
    # | prompt_tuning | prefix_tuning | p_tuning | full | freeze
    r: int = 16  # LoRA rank: higher = more capacity, more memory
    alpha: int = 32  # scale = alpha / r
    alpha_per_rank: float | None = None  # set: alpha = alpha_per_rank x r whatever r is (constant scale)
    dropout: float = 0.05
    target_modules: list[str] | None = None  # None: the model config's lora_target_modules
    # LoRA family: adapt only the last N decoder layers (None = all). The backward pass then stops at
    # the lowest adapted layer: on a CPU a step costs about the forward pass plus N/L of the backward.
    last_layers: int | None = None
    bias: Bias = Bias.none  # none | all | lora_only
    feedforward_modules: list[str] | None = None  # ia3: targets scaled on their input, not their output
    trainable_layers: int = 2  # freeze: the last N decoder layers train whole
    trainable_modules: list[str] = field(default_factory=list)  # freeze: parameter-name globs that train too
    train_final_norm: bool = True  # freeze: the norm before the LM head trains
    train_lm_head: bool = False  # freeze: the LM head trains (with tied embeddings: the input embeddings too)
    loraplus_lr_ratio: float = 16.0  # lora_plus: B matrices learn this many times faster than A
    adalora_init_r: int = 12  # adalora: every matrix starts at this rank...
    adalora_target_r: int = 8  # ...and the budget is pruned to this average rank
    adalora_tinit: float = 0.1  # adalora: share of the steps trained at init_r before pruning starts
    adalora_tfinal: float = 0.2  # adalora: share of the steps trained at the final ranks
    adalora_delta_t: int = 5  # adalora: steps between two budget re-allocations
    adalora_orth_reg_weight: float = 0.5  # adalora: weight of the orthogonality penalty on A and B
    num_virtual_tokens: int = 20  # prompt_tuning | prefix_tuning | p_tuning: learned tokens before every input
    prompt_init_text: str | None = None  # prompt_tuning: start the virtual tokens at this text's embeddings
    prefix_projection: bool = False  # prefix_tuning: train the prefix through an MLP (more parameters, steadier)
    encoder_hidden_size: int = 128  # p_tuning's prompt encoder, and prefix_tuning's projection when on
    encoder_type: EncoderType = EncoderType.MLP  # p_tuning: MLP | LSTM reparameterization of the virtual tokens


@dataclass
class QuantizationConfig:
    method: QuantMethod = MISSING  # none | nf4 | fp4 | int8
    double_quant: bool = True  # 4-bit only: quantize the quantization constants too
    compute_dtype: ComputeDtype = ComputeDtype.auto  # auto = the hardware profile's precision (fp32 on CPU)


@dataclass
class HardwareConfig:
    name: str = MISSING
    device: Device = Device.cpu  # cpu | cuda
    precision: Precision = Precision.fp32  # fp32 | fp16 | bf16
    autocast: Autocast = Autocast.off  # CPU training: auto | bf16 (autocast over fp32 weights) | off
    micro_batch_size: int = 8  # per-device batch; gradient accumulation makes up the rest
    gradient_checkpointing: bool = False  # trade compute for activation memory
    attn_implementation: Attention = (
        Attention.sdpa
    )  # auto (flash-attention 2 if installed on a GPU, else sdpa) | sdpa | eager | flash_attention_2
    num_threads: int | None = None  # CPU threads for torch; None = torch's default
    mmap_threshold_mb: int | None = None  # CPU ZeRO/FSDP ranks: glibc maps blocks this large apart
    memory_budget_gb: float = 16.0  # per device: what the memory planner lets a run use
    dataloader_workers: int = 0
    devices_per_node: int = 1  # processes per node: one per GPU (or CPU processes on hardware=cpu)
    n_nodes: int = 1
    distributed: Distributed = Distributed.none  # none | ddp | deepspeed_zero2 | deepspeed_zero3 | fsdp
    optimizer_offload: bool = False  # ZeRO: optimizer states in host memory (FSDP: weights too)
    auto_batch: bool = False  # true: the largest micro-batch that fits the budget
    compact_lm_head: bool = True  # CPU: TRL's fused LM head scores labelled positions only (fast_paths.py)
    packed_linear: bool = (
        True  # CPU: fp32 linear layers through oneDNN with pre-packed weights where timed faster (packed_linear.py)
    )
    fast_dropout: bool = (
        True  # CPU: adapter dropout masks from NumPy's SFC64, not torch's serial generator (fast_dropout.py)
    )
    compile: Compile = Compile.none  # none | regional: torch.compile each decoder layer (medft/models/fast_paths.py)
    fast_kernels: FastKernels = FastKernels.auto  # auto: Liger kernels on a GPU when installed | liger | none


@dataclass
class OptimizerConfig:
    name: Optimizer = MISSING  # transformers `optim` name
    lr: float = 2e-4
    weight_decay: float = 0.0
    warmup_ratio: float = 0.05
    scheduler: Scheduler = Scheduler.cosine
    max_grad_norm: float = 1.0


@dataclass
class LoggerConfig:
    name: Logger = MISSING  # tensorboard | wandb | none
    project: str = "medft"  # wandb project
    mode: WandbMode = WandbMode.auto  # wandb: auto = online with WANDB_API_KEY set, offline otherwise
    system_every_s: float = 5.0  # seconds between system/* samples (CPU, memory, GPU, tokens/s); 0 = off


@dataclass
class BenchmarkConfig:
    """Which published benchmarks to score and how (see medft/benchmarks, medft/prompts/harness.py)."""

    name: str = MISSING  # none | pubmedqa | medqa | medmcqa | mmlu_medical | medquad | medical_suite
    members: list[Benchmark] = field(default_factory=list)  # the benchmarks scored, in order
    path: str | None = None  # one benchmark's native file or folder (None: data_dir, else the hub)
    data_dir: str | None = None  # a suite's folder: one subfolder per benchmark (pubmedqa/, medmcqa/, ...)
    hub_id: str | None = None  # one benchmark's hub repo; None = its usual one
    hub_config: str | None = None
    split: BenchmarkSplit = (
        BenchmarkSplit.auto
    )  # auto: the official test split if its files are there, else all records
    limit: int | None = None  # score only the first N items of each benchmark (None = all)
    generative_limit: int | None = 200  # cap for generated answers (MedQuAD): ~100x a scored item
    shots: int = 0  # few-shot examples from the benchmark's training split
    fewshot_seed: int = 1234  # the harness's seed
    prompt_style: PromptStyle = (
        PromptStyle.plain
    )  # plain: lm-eval strings (comparable) | chat: the model's chat template
    chat_formulation: Formulation = (
        Formulation.letter
    )  # prompt_style=chat: letter (options listed, letters scored) | cloze (option texts)
    generative_prompt_style: PromptStyle = (
        PromptStyle.chat
    )  # for generated answers: no harness task exists to match, and
    # instruct models given a bare "Question: ... Answer:" mostly end their turn at once
    batch_size: int = 32  # questions per forward pass
    max_len: int = 2048  # context cap in tokens; longer contexts lose their start, as in the harness
    max_new_tokens: int = 128  # generated answer length for generative benchmarks
    generation_batch_size: int = 8  # prompts generated together


@dataclass
class ObjectiveConfig:
    """What the trainer optimizes (conf/objective/; medft/objectives/ has one file per option)."""

    name: Objective = MISSING  # sft | dpo | orpo | kto | pretrain | reward | grpo
    beta: float = 0.1  # dpo/kto/grpo: pull towards the reference; orpo: weight of the odds-ratio term
    loss_type: str = (
        "sigmoid"  # dpo: TRL's loss_type (sigmoid = the DPO paper; ipo, hinge, robust, ...); grpo: dapo, grpo, dr_grpo
    )
    pair_seed: int = 0  # preference pairs from multiple choice: which distractor is the rejected answer
    with_explanation: bool = True  # chosen answer = correct option + the record's explanation, where it has one
    center_rewards_coefficient: float | None = (
        None  # reward: TRL's penalty on the mean reward squared (keeps rewards near 0)
    )
    num_generations: int = 4  # grpo: answers sampled per question; their rewards are compared within the group
    max_completion_length: int = 8  # grpo: tokens per sampled answer
    temperature: float = 1.0  # grpo: sampling temperature of the answers
    format_weight: float = 0.2  # grpo: weight of the answer-format reward beside correctness (1.0)


@dataclass
class RetentionConfig:
    """A general, non-medical set scored before and after training (medft/retention): the forgetting check."""

    name: str = MISSING  # none | general_knowledge | mmlu_general
    kind: RetentionKind = (
        RetentionKind.none
    )  # none | general_knowledge (shipped, offline) | mmlu (local MMLU CSVs, else the hub)
    path: str | None = None  # mmlu: the MMLU data/ folder or one subject's CSV
    split: RetentionSplit = RetentionSplit.test  # mmlu: test | validation | dev
    subjects: list[str] = field(default_factory=list)  # mmlu: which subjects
    limit: int | None = None  # cap on scored items, taken round-robin over subjects (None = all)


@dataclass
class TaskConfig:
    """What the model is asked to do: prompt format, which tokens are targets, and the scorer."""

    name: str = MISSING  # medical_qa | diagnosis | clinical_note | ner
    scorer: Scorer = MISSING  # multiple_choice | diagnosis | clinical_note | ner (see medft/tasks.py)
    instruction: str | None = None  # opens the user turn of every prompt, training and evaluation alike
    targets: Targets = Targets.answer  # answer: loss on the answer only | all: every token (continued pretraining)
    entity_types: list[str] = field(default_factory=list)  # ner: the types the output may name
    max_new_tokens: int = 64  # generated answer length for the generative scorers
    max_seq_len: int = 512  # training.max_seq_len's default for the user's own data (dataset=jsonl, files)
    generation_batch_size: int = 8  # prompts generated together
    zh_tokenizer: ZhTokenizer = (
        ZhTokenizer.chars
    )  # Chinese text in ROUGE: chars (no dependency) | jieba (pip install jieba)
    # true: the contamination check also compares training answers with evaluated ones (free-text
    # targets such as summaries); false where answers repeat by design (letters, diagnosis names)
    answer_contamination: bool = False


@dataclass
class SamplingConfig:
    """How text is generated (`conf/sampling/`): medft.recipes.generate, the API and Ollama Modelfiles."""

    do_sample: bool = False  # false: greedy, the same answer every time
    temperature: float = 0.7  # used when do_sample: lower = more conservative
    top_p: float = 0.9  # nucleus sampling, used when do_sample
    max_new_tokens: int = 256  # answer length cap
    repetition_penalty: float = 1.0  # > 1 discourages loops (small models repeat under greedy decoding)
    seed: int = 0  # sampling seed: the same seed and settings give the same text


GROUP_SCHEMAS = {
    "model": ModelConfig,
    "dataset": DatasetConfig,
    "peft_method": PeftMethodConfig,
    "quantization": QuantizationConfig,
    "hardware": HardwareConfig,
    "optimizer": OptimizerConfig,
    "logger": LoggerConfig,
    "benchmark": BenchmarkConfig,
    "objective": ObjectiveConfig,
    "retention": RetentionConfig,
    "sampling": SamplingConfig,
    "task": TaskConfig,
}
