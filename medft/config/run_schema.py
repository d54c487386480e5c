"""Structured-config schemas for the roots of the commands: conf/train.yaml, evaluate.yaml,
generate.yaml and export.yaml, with the nested nodes only a root holds (training:, eval:, hub:,
gguf:, onnx:), and `register_configs`, which puts these and the group schemas in Hydra's store.

Kept apart from medft/config/schema.py, which types the options of each config group. A root types
each group it holds (`model: ModelConfig`), so every option Hydra merges there is checked against
that schema; the group schemas are not stored in Hydra's ConfigStore as `<group>/schema`, which
Hydra would list (and accept) as one more option of every group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from medft.config.choices import (
    Backend,
    EvalMetric,
    Formulation,
    Progress,
    SaveStrategy,
)
from medft.config.command_choices import AdapterMode, ExportFormat, GenerateMode, GgufType, HubWhat
from medft.config.optimizer_schema import STORE_NAMES
from medft.config.schema import (
    BenchmarkConfig,
    DatasetConfig,
    HardwareConfig,
    LoggerConfig,
    ModelConfig,
    ObjectiveConfig,
    OptimizerConfig,
    PeftMethodConfig,
    QuantizationConfig,
    RetentionConfig,
    SamplingConfig,
    TaskConfig,
)


@dataclass
class TrainingConfig:
    max_steps: int | None = None  # optimizer steps; None with epochs None: derived.DEFAULT_MAX_STEPS
    epochs: float | None = None  # passes over the training split instead; setting both is refused
    batch_size: int = 8  # effective batch; grad accumulation = batch_size / micro_batch_size
    max_seq_len: int = 256  # conf/train.yaml: ${dataset.max_seq_len}; longer examples are truncated
    max_truncated_fraction: float = 0.05  # share of training records that may be truncated before a run refuses
    save_strategy: SaveStrategy = SaveStrategy.steps  # steps: every save_every_steps | epoch: at each epoch's end
    save_every_steps: int = 100  # checkpoint schedule (save_strategy=steps)
    save_total_limit: int = 2  # keep the newest N checkpoints
    logging_steps: int = 5
    group_by_length: bool = True  # batch similar lengths: less padding, same data
    eval_batch_size: int = 32
    eval_every_steps: int = 0  # > 0: score the validation split every N steps (0 = only after training)
    eval_metric: EvalMetric = (
        EvalMetric.auto
    )  # auto (mc_acc when validation has multiple choice, else loss) | mc_acc | loss
    early_stopping_patience: int = 0  # > 0: stop after N evaluations without improvement (needs eval_every_steps)
    load_best: bool = False  # true: end on the checkpoint with the best eval_metric (needs eval_every_steps)
    label_smoothing_factor: float = 0.0  # sft/pretrain: spreads this much target mass over the vocabulary
    neftune_noise_alpha: float | None = None  # NEFTune: uniform noise on input embeddings (paper: 5)
    # Multiple-choice records: letter (options listed, `B. <text>` the answer: what eval.formulation=letter
    # scores) | cloze (the question alone, the option's text the answer: what eval.formulation=cloze scores)
    mc_format: Formulation = Formulation.letter
    packing: bool | None = (
        None  # None: the objective's default (pretrain packs, sft does not): several examples per row, no attention across their boundaries
    )


@dataclass
class EvalConfig:
    before: bool = True  # evaluate the base model too (needed for the paired test)
    after: bool = True
    validation: bool = True  # score the validation split after training (what sweeps optimize)
    formulation: Formulation = Formulation.cloze  # cloze | letter (see medft/evaluation/multiple_choice.py)
    score_cache: str | None = None  # folder of the base model's cached scores (medft/run/score_cache.py); None: off


@dataclass
class HubConfig:
    """Sharing a finished run on the Hugging Face Hub (medft/hub); the token comes from HF_TOKEN only."""

    push: bool = False  # true: checked before training, uploaded after metrics.json
    repo_id: str | None = None  # <user or organisation>/<repo name>
    private: bool = True  # a medical model is private until someone decides otherwise
    what: HubWhat = (
        HubWhat.adapter
    )  # adapter | merged (the adapter folded into the base; the model itself for full/freeze)
    endpoint: str | None = None  # None: HF_ENDPOINT, else https://huggingface.co
    timeout_s: float = 15.0  # the preflight's wait for the hub before it calls the machine offline
    commit_message: str | None = None  # None: "medft run <run folder>"


@dataclass
class TrainRunConfig:
    """The root of `conf/train.yaml`; each group node is typed by its group's schema."""

    name: str = MISSING  # folder under outputs/
    seed: int = 42
    resume: Any = False  # false | true (latest unfinished run of `name`) | a checkpoint path
    init_from: str | None = None  # an earlier run folder: its adapter is loaded and trained further
    dry_run: bool = False  # compose, validate and print the plan, load nothing
    backend: Backend = Backend.hf  # hf (transformers + peft) | unsloth (GPU, when installed; else falls back)
    debug: bool = False  # true: an error shows its stack trace (default: its message only)
    progress: Progress = Progress.auto  # auto (bars on a terminal only) | always | never
    resume_allow_foreign_pickle: bool = False  # true: resume a checkpoint not made by medft (its pickles can run code)
    output_root: str = "outputs"
    cache_dir: str = "~/.cache/medft"  # converted checkpoints live here
    optimized_metric: str = "eval_after.validation.acc"  # returned to sweepers; never a test split
    model: ModelConfig = MISSING
    dataset: DatasetConfig = MISSING
    peft_method: PeftMethodConfig = MISSING
    quantization: QuantizationConfig = MISSING
    hardware: HardwareConfig = MISSING
    optimizer: OptimizerConfig = MISSING
    logger: LoggerConfig = MISSING
    benchmark: BenchmarkConfig = MISSING
    objective: ObjectiveConfig = MISSING
    retention: RetentionConfig = MISSING
    task: TaskConfig = MISSING
    training: TrainingConfig = field(default_factory=TrainingConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    hub: HubConfig = field(default_factory=HubConfig)


@dataclass
class EvaluateRunConfig:
    """The root of `conf/evaluate.yaml`: a base model or a training run, on benchmarks."""

    run_dir: str | None = None  # a training run folder: its model, quantization and adapter
    name: str = MISSING  # folder under outputs/evaluate/ when run_dir is not given
    seed: int = 42
    debug: bool = False  # true: an error shows its stack trace
    progress: Progress = Progress.auto  # auto (bars on a terminal only) | always | never
    output_root: str = "outputs"
    cache_dir: str = "~/.cache/medft"
    model: ModelConfig = MISSING
    quantization: QuantizationConfig = MISSING
    hardware: HardwareConfig = MISSING
    benchmark: BenchmarkConfig = MISSING


@dataclass
class GenerateRunConfig:
    """The root of `conf/generate.yaml`: answer one prompt or chat, with a run's model or a base model."""

    run_dir: str | None = None  # a training run folder: its base model + adapter, chat template, system prompt
    mode: GenerateMode = GenerateMode.once  # once: answer `prompt` | chat: interactive, multi-turn
    prompt: str | None = None  # mode=once: the question
    system_prompt: str | None = None  # None: the run's (or model's) system prompt, else the default
    stream: bool = True  # print tokens as they are generated
    seed: int = 42  # builds a random base (model=tiny-random); a run folder uses its own seed
    cache_dir: str | None = None  # None: the run's cache_dir, or ~/.cache/medft for model=
    debug: bool = False  # true: an error shows its stack trace
    load_in_8bit: bool = False  # the base in bitsandbytes int8 (CPU or GPU): ~1/4 of fp32's weight memory
    adapters: list[str] = field(default_factory=list)  # more run folders whose adapters join run_dir's on one base
    adapter_mode: AdapterMode = AdapterMode.each  # each: an answer per adapter | stack: one from their summed updates
    adapter_weights: list[float] | None = None  # adapter_mode=stack: each adapter's weight (None: 1 each)
    model: ModelConfig = MISSING
    quantization: QuantizationConfig = MISSING
    hardware: HardwareConfig = MISSING
    sampling: SamplingConfig = MISSING


@dataclass
class GgufExportConfig:
    types: list[GgufType] = field(default_factory=lambda: [GgufType.f16])  # f32 | f16 | bf16 | q8_0: one GGUF file each
    output_tensor_type: str = "f16"  # quantized types: the output head's type (f16 | f32 | q8_0 = all q8_0)
    adapter: bool = True  # LoRA runs: also an adapter-only GGUF, for runtimes that apply it at load
    llama_cpp_dir: str | None = None  # an existing llama.cpp checkout (holds convert_hf_to_gguf.py)
    llama_cpp_version: str = "0.3.36"  # llama-cpp-python sdist whose vendored llama.cpp converts
    sdist: str | None = None  # a local copy of that sdist (.tar.gz) instead of `pip download`


@dataclass
class OnnxExportConfig:
    opset: int = 17  # ONNX opset: 17 runs on every onnxruntime >= 1.14
    check: bool = True  # run the exported graph once with onnxruntime against PyTorch


@dataclass
class ExportRunConfig:
    """The root of `conf/export.yaml`: a training run's model in a serving format."""

    run_dir: str = MISSING  # the training run folder to export
    format: ExportFormat = ExportFormat.merged  # merged | gguf | onnx
    out: str | None = None  # None: <run_dir>/exports/<format>/
    cache_dir: str | None = None  # None: the run's cache_dir (llama.cpp converters are kept there)
    debug: bool = False  # true: an error shows its stack trace
    gguf: GgufExportConfig = field(default_factory=GgufExportConfig)
    onnx: OnnxExportConfig = field(default_factory=OnnxExportConfig)
    sampling: SamplingConfig = MISSING  # written into the Ollama Modelfile as PARAMETERs


def register_configs() -> None:
    """Put the root schemas in Hydra's ConfigStore. Idempotent; called before composing."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    store.store(name="train_schema", node=TrainRunConfig)
    store.store(name="evaluate_schema", node=EvaluateRunConfig)
    store.store(name="generate_schema", node=GenerateRunConfig)
    store.store(name="export_schema", node=ExportRunConfig)
    for name, schema in STORE_NAMES.items():  # each optimizer family's fields (medft/config/optimizer_schema.py)
        store.store(name=name, node=schema)
