"""What an encoder-decoder model (model.architecture=seq2seq, Flan-T5) can be combined with.

The prompt is the encoder's input and the answer the decoder's target, so whatever assumes one causal
sequence is refused before anything loads, each with the override that fixes it: the preference and
pretraining objectives (TRL's trainers for them read one sequence), prompt-learning methods and
layer freezing (written for decoder-only layouts), packing, Unsloth, and the clinical-note task
(its perplexity scorer and plain-text notes are causal).
"""

from __future__ import annotations

from medft.config.choices import PROMPT_LEARNING
from medft.config.errors import ConfigError


def check_seq2seq(cfg) -> None:
    model = cfg.model
    if model.get("architecture", "causal") != "seq2seq":
        return
    where = f"model={model.name} is an encoder-decoder (model.architecture=seq2seq)"
    objective = cfg.get("objective", {}).get("name", "sft")
    if objective != "sft":
        raise ConfigError(f"objective={objective}: {where}, trained with objective=sft only; use objective=sft")
    method = cfg.peft_method.method
    if method in PROMPT_LEARNING or method == "freeze":
        raise ConfigError(f"peft_method={method}: {where}; use peft_method=lora (or another weight adapter, or full)")
    if cfg.training.get("packing"):
        raise ConfigError(f"training.packing=true: {where}, whose prompt and answer are separate sequences; drop it")
    if cfg.get("backend", "hf") != "hf":
        raise ConfigError(f"backend={cfg.backend}: Unsloth loads decoder-only models and {where}; use backend=hf")
    task = cfg.get("task")
    if task is not None and (task.scorer == "clinical_note" or task.get("targets") == "all"):
        raise ConfigError(
            f"task={task.name}: {where}, and this task trains or scores whole notes as one sequence; "
            "use task=medical_qa or task=diagnosis"
        )
