"""The Python API for notebooks: the same Hydra configs and the same functions as the CLIs.

    from medft import MedicalPEFTTrainer
    trainer = MedicalPEFTTrainer(model="smollm2-135m", dataset="builtin", peft_method="lora",
                                 quantization="none", hardware="cpu", **{"training.max_steps": 40})
    metrics = trainer.train()            # = python train.py model=smollm2-135m ... training.max_steps=40
    trainer.generate("What is the first-line treatment for anaphylaxis?")
    trainer.merge_and_save()             # <run>/exports/merged

Keywords become Hydra overrides and go through `compose_train`, so a notebook run and a CLI run
with the same choices compose the same config and run `medft.recipes.train.run` the same way. The
keyword style of the original skill (`model_name`, `task`, `lora_r`, `use_qlora`, ...) is
translated by the tables below; anything else is refused with the list of accepted keywords.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from medft.config.compose import CONF_DIR, compose_evaluate, compose_named, compose_train
from medft.config.errors import UserError
from medft.recipes import evaluate as evaluate_recipe
from medft.recipes import train as train_recipe
from medft.recipes.export import default_out
from medft.recipes.generate import Chatbot, reply
from medft.run.folders import hydra_subdir, resolve_eval_dir, resolve_run_dir
from medft.run.saved_model import load_model_and_tokenizer, load_run, load_run_config, merge_and_save
from medft.runtime.files import atomic_write_text
from medft.sweep.naming import quote_override_value

log = logging.getLogger(__name__)

GROUPS = (
    "model",
    "dataset",
    "peft_method",
    "quantization",
    "hardware",
    "optimizer",
    "logger",
    "benchmark",
    "experiment",
)
SETTINGS = (
    "name",
    "seed",
    "resume",
    "dry_run",
    "output_root",
    "cache_dir",
    "optimized_metric",
    "training",
    "eval",
    "init_from",
    *GROUPS,
)  # keys a keyword (or the first part of a dotted one) may set

# The original skill's `task=` values. A `task` config group (issue 10) will replace this table:
# keep the mapping here, in one place.
LEGACY_TASKS = {
    "medical_qa": [],  # the default: dataset=builtin, free-text medical question/answer pairs
    "qa": [],
    "pubmedqa": ["dataset=pubmedqa"],
    "medqa": ["dataset=medqa"],
    "medmcqa": ["dataset=medmcqa"],
    "mmlu_medical": ["dataset=mmlu_medical"],
    "medquad": ["dataset=medquad"],
}


class ApiArgumentError(UserError, TypeError):
    """A keyword the API does not know, or a value it cannot translate."""


def override_value(value) -> str:
    """A Python value in Hydra's override grammar."""

    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(override_value(v) for v in value) + "]"
    text = str(value)
    return text if re.fullmatch(r"[\w./:+-]+", text) else quote_override_value(text)


def _model_name(value) -> list[str]:
    """A config option name (`smollm2-135m`) or the hub id one of them names."""
    import yaml

    options = {p.stem: yaml.safe_load(p.read_text()) for p in sorted((CONF_DIR / "model").glob("*.yaml"))}
    if value in options:
        return [f"model={value}"]
    for name, option in options.items():
        if option.get("hub_id") == value:  # its config's own source (smollm2-135m: the packaged copy)
            log.info("model_name=%s -> model=%s (source: %s)", value, name, option.get("source"))
            return [f"model={name}"]
    raise ApiArgumentError(
        f"model_name={value!r} is neither a medft model option nor the hub id of one. Options: {sorted(options)}. "
        "For another checkpoint add a conf/model/<name>.yaml (architecture and LoRA targets) or pass "
        "model='<option>' with **{'model.source': 'local', 'model.path': '/path/to/checkpoint'}"
    )


def _task(value) -> list[str]:
    if value not in LEGACY_TASKS:
        raise ApiArgumentError(
            f"task={value!r} has no medft equivalent yet. Known: {sorted(LEGACY_TASKS)}; or choose the data "
            "directly with dataset=<option> (e.g. dataset='jsonl', **{'dataset.path': 'notes.jsonl'})"
        )
    return list(LEGACY_TASKS[value])


LEGACY_KEYWORDS = {  # keyword -> overrides it stands for
    "model_name": _model_name,
    "task": _task,
    "lora_r": lambda v: [f"peft_method.r={override_value(v)}"],
    "lora_alpha": lambda v: [f"peft_method.alpha={override_value(v)}"],
    "lora_dropout": lambda v: [f"peft_method.dropout={override_value(v)}"],
    "use_qlora": lambda v: ["quantization=nf4" if v else "quantization=none"],  # QLoRA = LoRA on an NF4 base
    "target_modules": lambda v: [f"peft_method.target_modules={override_value([v] if isinstance(v, str) else v)}"],
    "learning_rate": lambda v: [f"optimizer.lr={override_value(v)}"],
    "num_epochs": lambda v: [f"training.epochs={override_value(v)}"],
    "max_steps": lambda v: [f"training.max_steps={override_value(v)}"],
}


def _flatten(key: str, value) -> list[str]:
    if isinstance(value, dict):
        return [o for k, v in value.items() for o in _flatten(f"{key}.{k}", v)]
    return [f"{key}={override_value(value)}"]


def build_overrides(choices: dict, keywords: dict, extra: list[str] | tuple = ()) -> list[str]:
    """Hydra overrides from the API's arguments: group choices, legacy keywords, settings, raw overrides."""
    overrides = [f"{group}={option}" for group, option in choices.items() if option is not None]
    unknown = []
    for key, value in keywords.items():
        if key in LEGACY_KEYWORDS:
            overrides += LEGACY_KEYWORDS[key](value)
        elif key.split(".")[0] in SETTINGS:
            overrides += _flatten(key, value)
        else:
            unknown.append(key)
    if unknown:
        accepted = sorted(
            {"model", "dataset", "peft_method", "quantization", "hardware", "overrides", *LEGACY_KEYWORDS, *SETTINGS}
        )
        raise ApiArgumentError(
            f"unknown keyword(s) {unknown}. Accepted: {accepted}, and dotted config keys "
            "such as **{'training.max_steps': 40} (any key `python train.py` accepts)"
        )
    return overrides + list(extra)


def save_run_config(cfg, overrides: list[str], run_dir: Path) -> None:
    """`.hydra/config.yaml` and `overrides.yaml` as train.py writes them: the run folder contract (a resume
    writes its own under .hydra/resumes/<time>, so the first start's stay the record of the run)."""
    import time

    from omegaconf import OmegaConf

    first = Path(run_dir) / ".hydra"
    hydra_dir = (
        Path(run_dir) / (hydra_subdir(cfg.resume, time.strftime("%Y-%m-%d_%H-%M-%S")) or ".hydra")
        if (first / "config.yaml").is_file()
        else first
    )
    atomic_write_text(hydra_dir / "config.yaml", OmegaConf.to_yaml(cfg))
    atomic_write_text(hydra_dir / "overrides.yaml", OmegaConf.to_yaml(OmegaConf.create(list(overrides))))


class MedicalPEFTTrainer:
    """One training run, described by config choices, driven from Python."""

    def __init__(
        self,
        model: str | None = None,
        dataset: str | None = None,
        peft_method: str | None = None,
        quantization: str | None = None,
        hardware: str | None = None,
        overrides: list[str] | tuple = (),
        **keywords,
    ):

        choices = {
            "model": model,
            "dataset": dataset,
            "peft_method": peft_method,
            "quantization": quantization,
            "hardware": hardware,
        }
        self.overrides = build_overrides(choices, keywords, overrides)
        self.cfg = compose_train(self.overrides)  # a typo or a wrong type fails here, as on the CLI
        self.run_dir: Path | None = None
        self.metrics: dict | None = None
        self._bot = None

    @classmethod
    def from_run(cls, run_dir: str | Path) -> MedicalPEFTTrainer:
        """The trainer of a finished run folder (CLI or API made), for evaluate / generate / merge."""
        from omegaconf import OmegaConf

        folder, cfg = load_run_config(run_dir)
        overrides_file = folder / ".hydra" / "overrides.yaml"
        trainer = cls.__new__(cls)
        trainer.overrides = list(OmegaConf.load(overrides_file)) if overrides_file.is_file() else []
        trainer.cfg, trainer.run_dir, trainer._bot = cfg, folder, None
        metrics_file = folder / "metrics.json"
        trainer.metrics = __import__("json").loads(metrics_file.read_text()) if metrics_file.is_file() else None
        return trainer

    def train(self, run_dir: str | Path | None = None, callbacks: list | None = None) -> dict:
        """Run `medft.recipes.train.run` in a run folder named as train.py names it; returns metrics.json."""
        import time

        cfg = self.cfg
        folder = (
            Path(run_dir)
            if run_dir
            else Path(resolve_run_dir(cfg.output_root, cfg.name, cfg.resume, time.strftime("%Y-%m-%d_%H-%M-%S")))
        )
        save_run_config(cfg, self.overrides, folder)
        handler = logging.FileHandler(folder / "train.log")  # train.py's log file, via hydra there
        handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
        logging.getLogger().addHandler(handler)
        try:
            self.metrics = train_recipe.run(cfg, folder, callbacks)
        finally:
            logging.getLogger().removeHandler(handler)
            handler.close()
        self.run_dir, self._bot = folder.resolve(), None
        return self.metrics

    def _trained(self) -> Path:
        if self.run_dir is None:
            raise UserError("no run yet: call .train() first, or MedicalPEFTTrainer.from_run('<run folder>')")
        return self.run_dir

    def evaluate(self, **keywords) -> dict:
        """`python evaluate.py run_dir=<this run> ...`: benchmarks on the trained model; results.json."""
        import time

        overrides = [f"run_dir={override_value(str(self._trained()))}"]
        overrides += [o for key, value in keywords.items() for o in _flatten(key, value)]
        cfg = compose_evaluate(overrides)
        out = resolve_eval_dir(cfg.run_dir, cfg.output_root, cfg.name, time.strftime("%Y-%m-%d_%H-%M-%S"))
        return evaluate_recipe.run(cfg, out)

    def merge_and_save(self, out: str | Path | None = None) -> Path:
        """A full checkpoint with the adapter folded in (default <run>/exports/merged)."""

        run_dir = self._trained()
        return merge_and_save(run_dir, out or default_out(run_dir, "merged"))

    def load_model(self):
        """(model, tokenizer): the trained run's model, or the configured base model before training."""

        if self.run_dir is not None:
            model, tokenizer, _ = load_run(self.run_dir)
            return model, tokenizer
        model, tokenizer, _ = load_model_and_tokenizer(
            self.cfg.model, self.cfg.quantization, self.cfg.hardware, self.cfg.cache_dir, self.cfg.seed
        )
        return model, tokenizer

    def generate(self, prompt: str, history: list[dict] | None = None, stream: bool = False, **sampling) -> str:
        """The model's answer, as `python -m medft generate` gives it; `sampling`: conf/sampling keys."""

        if self._bot is None:
            model, tokenizer = self.load_model()
            self._bot = Chatbot(
                model, tokenizer, self.cfg.model.system_prompt, self.cfg.model.max_seq_len, self.cfg.model.name
            )
        settings = compose_named("generate", [f"sampling.{k}={override_value(v)}" for k, v in sampling.items()])
        turns = [*(history or []), {"role": "user", "content": prompt}]
        return reply(self._bot, turns, settings.sampling, stream)
