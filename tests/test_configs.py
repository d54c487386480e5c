"""Every option of every config group composes; bad overrides fail at compose time by key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException

from medft.config.compose import CONF_DIR
from medft.config.errors import ConfigError
from medft.config.validate import validate
from medft.evaluation.benchmark_suite import check_benchmark_config

# The options each group must offer (issue 3); files found on disk must match exactly.
EXPECTED_OPTIONS = {
    "model": {
        "smollm2-135m",
        "gemma3-270m",
        "tiny-random",
        "llama2-7b",
        "llama2-7b-base",
        "llama2-13b",
        "llama2-70b",
        "llama3-8b",
        "llama3-70b",
        "mistral-7b",
        "mixtral-8x7b",
        "qwen2.5-0.5b",
        "qwen2.5-1.5b",
        "qwen2.5-3b",
        "qwen2.5-7b",
        "qwen2.5-14b",
        "qwen2.5-32b",
        "qwen2.5-72b",
        "yi-6b",
        "yi-34b",
        "baichuan2-7b",
        "baichuan2-13b",
        "chatglm3-6b",
        "tinyllama-1.1b",
        "phi-2",
        "gemma-2b",
        "gemma-7b",
        "meditron-7b",
        "biomistral-7b",
        "flan-t5-small",
        "flan-t5-base",
        "flan-t5-large",
        "tiny-random-t5",
    },
    "dataset": {
        "builtin",
        "jsonl",
        "preference_jsonl",
        "text",
        "pubmedqa",
        "medqa",
        "medmcqa",
        "mmlu_medical",
        "medquad",
        "diagnosis_builtin",
        "notes_builtin",
        "ner_builtin",
        "cmeee",
        "huatuo",
        "mimic_notes",
        "mixture",
        "files",
    },
    "task": {"medical_qa", "diagnosis", "clinical_note", "ner"},
    "peft_method": {
        "lora",
        "lora_seed",
        "dora",
        "rslora",
        "pissa",
        "olora",
        "vera",
        "ia3",
        "full",
        "freeze",
        "lora_plus",
        "adalora",
        "loftq",
        "prompt_tuning",
        "prefix_tuning",
        "p_tuning",
    },
    "quantization": {"none", "nf4", "fp4", "int8", "nf4_no_dq", "fp4_no_dq"},
    "hardware": {
        "cpu",
        "t4-16g",
        "consumer-24g",
        "a100-40g",
        "a100-80g",
        "h100-80g",
        "multi-gpu-zero2",
        "multi-gpu-zero3",
        "multi-gpu-zero3-offload",
        "multi-gpu-fsdp",
        "multi-node",
    },
    "optimizer": {
        "adamw",
        "adamw_fused",
        "adamw_8bit",
        "paged_adamw_8bit",
        "sgd",
        "rmsprop",
        "adafactor",
        "lion",
        "lion_8bit",
        "galore",
    },
    "logger": {"tensorboard", "wandb", "none"},
    "benchmark": {"none", "pubmedqa", "medqa", "medmcqa", "mmlu_medical", "medquad", "medical_suite"},
    "experiment": {"qlora_ablation", "rank_ablation", "method_comparison", "pubmedqa_lora", "medmcqa_lora", "smoke"},
    "hparams_search": {"grid", "optuna"},
    "objective": {"sft", "dpo", "orpo", "kto", "pretrain", "reward", "grpo"},
    "retention": {"none", "general_knowledge", "mmlu_general"},
    "sampling": {"default"},  # composed by generate.yaml and export.yaml, not by train.yaml
}
NOT_IN_TRAIN = {"sampling"}


def discovered_options() -> list[tuple[str, str]]:
    # Recursive on purpose: a nested option folder must not be skipped silently.
    found = []
    for path in sorted(CONF_DIR.rglob("*.yaml")):
        group = path.parent.relative_to(CONF_DIR).as_posix()
        if group == "." or group.startswith("hydra/"):  # Hydra's own groups: tests/test_sweeps.py
            continue
        found.append((group, path.stem))
    return found


def test_option_files_match_the_expected_set():
    found = discovered_options()
    assert len(found) == sum(len(v) for v in EXPECTED_OPTIONS.values()) == 126
    by_group = {}
    for group, name in found:
        by_group.setdefault(group, set()).add(name)
    assert by_group == EXPECTED_OPTIONS


@pytest.mark.parametrize("group,option", discovered_options())
def test_every_option_composes_and_validates(compose, group, option, tmp_path):
    if group in NOT_IN_TRAIN:
        from medft.config.compose import compose_named

        assert compose_named("generate", [f"{group}={option}"])[group] is not None
        assert compose_named("export", ["run_dir=x", f"{group}={option}"])[group] is not None
        return
    overrides = [f"{group}={option}"]
    if group == "dataset" and option == "jsonl":
        data = tmp_path / "d.jsonl"
        data.write_text('{"prompt": "q", "response": "a"}\n')
        overrides.append(f"dataset.path={data}")
    if group == "dataset" and option == "files":  # a training file at least
        data = tmp_path / "train.csv"
        data.write_text("question,answer\nq,a\n")
        overrides.append(f"dataset.train_file={data}")
    if group == "dataset" and option in ("preference_jsonl", "text"):  # they need their objective and a file
        data = tmp_path / "d.txt"
        data.write_text("a note\n")
        overrides += [f"dataset.path={data}", "objective=dpo" if option == "preference_jsonl" else "objective=pretrain"]
    fixtures = Path(__file__).parent / "fixtures"
    if group == "dataset" and option in ("cmeee", "huatuo", "mimic_notes"):
        overrides.append(
            f"dataset.path={fixtures / {'cmeee': 'cmeee', 'huatuo': 'huatuo', 'mimic_notes': 'mimic/NOTEEVENTS.csv'}[option]}"
        )
    if group == "dataset" and option == "mixture":  # its components are the user's choice: two offline ones
        overrides.append(
            "dataset.components=[{name: builtin, weight: 0.5}, {name: builtin, weight: 0.5, label: mc, "
            "train_formats: [mc]}]"
        )
    if (group, option) in (("dataset", "cmeee"), ("dataset", "ner_builtin")):
        overrides.append("task=ner")  # entity data needs the ner task (and the other way round)
    if (group, option) == ("objective", "grpo"):
        overrides.append("dataset.train_formats=[mc]")  # GRPO rewards chosen options: lettered questions
    if group == "peft_method" and option == "full":
        overrides.append("quantization=none")
    if (group, option) == ("optimizer", "galore"):
        overrides.append("peft_method=full")  # GaLore projects whole weight matrices (refused with adapters)
    if group == "hardware":
        overrides.append("training.batch_size=64")  # a multiple of every profile's micro-batch x processes
    if group == "model" and option in ("baichuan2-7b", "baichuan2-13b", "chatglm3-6b"):
        overrides += [
            "model.trust_remote_code=true",
            "model.revision=" + "0" * 40,
        ]  # refused otherwise (tested elsewhere)
    cfg = compose(overrides)
    if group in ("experiment", "hparams_search"):  # @package _global_: they set keys elsewhere
        # the sweep presets score the base model (once per key: eval.score_cache); a search compares
        # trials after training only
        assert cfg.eval.before is (option != "optuna")
    else:
        assert cfg[group] is not None
    if group == "hardware" and option != "cpu":
        validate(cfg, dry_run=True)  # no GPU here: the profile itself must be coherent
    else:
        validate(cfg)
    check_benchmark_config(cfg.benchmark)


@pytest.mark.parametrize("option", sorted(EXPECTED_OPTIONS["benchmark"] - {"none"}))
def test_every_benchmark_composes_for_evaluate(option):
    from medft.config.compose import compose_evaluate

    cfg = compose_evaluate([f"benchmark={option}"])
    check_benchmark_config(cfg.benchmark)
    assert cfg.benchmark.members and cfg.benchmark.prompt_style == "plain" and cfg.benchmark.shots == 0


def test_defaults_are_the_offline_cpu_run(compose):
    cfg = compose([])
    assert (cfg.model.name, cfg.model.source) == ("smollm2-135m", "packaged")
    assert (cfg.dataset.kind, cfg.peft_method.method, cfg.quantization.method) == ("builtin", "lora", "none")
    assert (cfg.hardware.name, cfg.hardware.precision, cfg.logger.name) == ("cpu", "fp32", "tensorboard")
    assert cfg.name == "builtin"


def test_every_model_names_its_source_targets_and_sizes(compose):
    for name in EXPECTED_OPTIONS["model"]:
        model = compose([f"model={name}"]).model
        assert model.source in {"packaged", "hub", "random"}
        assert model.lora_target_modules, name
        assert model.arch.hidden_size > 0 and model.arch.n_layers > 0, name
        if model.source == "hub":
            assert model.hub_id, name


def test_typo_fails_at_compose_naming_the_key(compose):
    with pytest.raises(ConfigCompositionException) as err:
        compose(["peft_method.rnak=8"])
    assert "peft_method.rnak" in str(err.value)


def test_wrong_type_fails_at_compose_naming_the_key(compose):
    with pytest.raises(ConfigCompositionException) as err:
        compose(["peft_method.r=eight"])
    assert "peft_method.r" in f"{err.value} {err.value.__cause__}"


def test_cpu_16bit_is_refused_only_when_measured_slow(compose, monkeypatch):
    from medft.hardware import environment

    monkeypatch.setattr(environment, "matmul_slowdown", lambda dtype: 600.0)
    with pytest.raises(ConfigError, match="600x slower than fp32.*hardware.precision=fp32"):
        environment.check_environment(compose(["hardware.precision=bf16"]))
    monkeypatch.setattr(environment, "matmul_slowdown", lambda dtype: 0.7)  # a CPU whose kernels use bf16 units
    environment.check_environment(compose(["hardware.precision=bf16"]))


@pytest.mark.parametrize(
    "overrides,needle",
    [
        (["quantization=nf4", "peft_method=full"], "peft_method=lora"),
        (["quantization=int8", "peft_method=freeze"], "quantization=none for peft_method=freeze"),
        (["training.batch_size=12"], "training.batch_size=12"),
        (["training.max_seq_len=100000"], "training.max_seq_len"),
        (["dataset=jsonl", "dataset.path=/nonexistent/data.jsonl"], "/nonexistent/data.jsonl"),
        (["peft_method=loftq", "quantization=none"], "quantization=nf4"),
        (["peft_method=adalora", "training.max_steps=-1"], "training.max_steps"),
        (["peft_method=adalora", "peft_method.adalora_target_r=20"], "peft_method.adalora_target_r"),
        (["peft_method=prompt_tuning", "model=tiny-random", "training.max_seq_len=1010"], "training.max_seq_len=1004"),
    ],
)
def test_cross_group_errors_name_the_fix(compose, overrides, needle):
    with pytest.raises(ConfigError) as err:
        validate(compose(overrides))
    assert needle in str(err.value)


@pytest.mark.parametrize(
    "override",
    [
        "quantization.method=nf8",
        "peft_method.encoder_type=GRU",
        "optimizer.name=adamm",
        "optimizer.scheduler=cosin",
        "hardware.precision=fp8",
        "dataset.transforms=[scrubphi]",
    ],
)
def test_a_value_outside_its_choices_fails_at_compose_naming_the_key(compose, override):
    """Choices are Enums in the schemas (medft/config/choices.py): Hydra refuses them while composing."""
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException) as err:
        compose([override])
    key, value = override.split("=")
    assert key in str(err.value) and "expected one of" in str(err.value.__cause__)


def test_every_choice_is_a_name_transformers_knows():
    """optimizer.name and optimizer.scheduler are transformers' own option names."""
    from transformers.trainer_utils import SchedulerType
    from transformers.training_args import OptimizerNames

    from medft.config.choices import Optimizer, Scheduler, values

    assert set(values(Optimizer)) <= {o.value for o in OptimizerNames}
    assert set(values(Scheduler)) <= {s.value for s in SchedulerType}


def test_gpu_profile_is_refused_without_a_gpu(compose):
    import torch

    from medft.hardware.environment import check_environment

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    cfg = compose(["hardware=consumer-24g"])
    validate(cfg)  # the config is coherent; the machine is not
    with pytest.raises(ConfigError, match="hardware=cpu"):
        check_environment(cfg)


def test_config_files_open_with_a_comment():
    for path in CONF_DIR.rglob("*.yaml"):
        first = Path(path).read_text().lstrip().splitlines()[0]
        assert first.startswith("#"), f"{path} should open with a line on what it is for"
