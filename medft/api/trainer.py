"""The Python API for notebooks: the same Hydra configs and the same functions as the CLIs.

    from medft import MedicalPEFTTrainer
    trainer = MedicalPEFTTrainer(model="smollm2-135m", dataset="builtin", peft_method="lora",
                                 quantization="none", hardware="cpu", **{"training.max_steps": 40})
    metrics = trainer.train()            # = python train.py model=smollm2-135m ... training.max_steps=40
    trainer.generate("What is the first-line treatment for anaphylaxis?")
    trainer.merge_and_save()             # <run>/exports/merged

The reference API's own calls work as written (medft/api/keywords.py translates each keyword):

    trainer = MedicalPEFTTrainer(model_name="meta-llama/Llama-2-7b-hf", task="medical_qa")
    trainer.train(output_dir="./medical_lora_model", num_epochs=3, batch_size=4, use_qlora=True)

Keywords become Hydra overrides and go through `compose_train`, so a notebook run and a CLI run
with the same choices compose the same config and run `medft.recipes.train.run` the same way; the
run folder records the composed config and the overrides as train.py's does.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from medft.api.keywords import build_overrides, late_overrides
from medft.api.override_text import override_value
from medft.config.compose import compose_evaluate, compose_named, compose_train
from medft.config.errors import UserError
from medft.recipes import evaluate as evaluate_recipe
from medft.recipes import train as train_recipe
from medft.recipes.export import default_out
from medft.recipes.generate import Chatbot, reply
from medft.run.folders import hydra_subdir, resolve_eval_dir, resolve_run_dir
from medft.run.saved_model import load_model_and_tokenizer, load_run, load_run_config, merge_and_save
from medft.runtime.files import atomic_write_text

log = logging.getLogger(__name__)


def _flatten(key: str, value) -> list[str]:
    if isinstance(value, dict):
        return [o for k, v in value.items() for o in _flatten(f"{key}.{k}", v)]
    return [f"{key}={override_value(value)}"]


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

        self._choices = {
            "model": model,
            "dataset": dataset,
            "peft_method": peft_method,
            "quantization": quantization,
            "hardware": hardware,
        }
        self._keywords, self._extra = dict(keywords), list(overrides)
        self._compose()  # a typo or a wrong type fails here, as on the CLI
        self.run_dir: Path | None = None
        self.metrics: dict | None = None
        self._bot = None

    def _compose(self) -> None:
        """Keywords -> overrides -> config; the keywords that depend on the config are translated against it."""
        seed = build_overrides(self._choices, self._keywords)
        late = late_overrides(self._keywords, compose_train(seed + self._extra))
        self.overrides = seed + late + self._extra  # raw overrides last: they win, as on the command line
        self.cfg = compose_train(self.overrides)

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
        trainer.metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else None
        return trainer

    def train(self, run_dir: str | Path | None = None, callbacks: list | None = None, **keywords) -> dict:
        """Run `medft.recipes.train.run` in a run folder named as train.py names it; returns metrics.json.

        `keywords`: the constructor's (num_epochs, batch_size, use_qlora, max_seq_length, bf16, ...), added
        to it; `output_dir` (the reference API's name) is the run folder itself, like `run_dir`.
        """
        import time

        run_dir = keywords.pop("output_dir", run_dir)
        if keywords:
            self._keywords.update(keywords)
            self._compose()
        cfg = self.cfg
        folder = (
            Path(run_dir)
            if run_dir
            else Path(resolve_run_dir(cfg.output_root, cfg.name, cfg.resume, time.strftime("%Y-%m-%d_%H-%M-%S")))
        )
        save_run_config(cfg, self.overrides, folder)
        log.info("run folder: %s (config: .hydra/config.yaml, overrides: .hydra/overrides.yaml)", folder.resolve())
        handler = logging.FileHandler(folder / "train.log")  # train.py's log file, via hydra there
        handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
        logging.getLogger().addHandler(handler)
        try:
            self.metrics = train_recipe.run(cfg, folder, callbacks)
        finally:
            logging.getLogger().removeHandler(handler)
            handler.close()
        self.run_dir, self._bot = folder.resolve(), None
        log.info("run finished in %s (metrics.json, adapter/)", self.run_dir)
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
