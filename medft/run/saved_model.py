"""Adapter lifecycle after training: a run folder becomes a model for inference, a merged
checkpoint, or one of several adapters switched or stacked on one base.

Everything reads the run folder contract (README "A run folder"): `.hydra/config.yaml` says
which base model, quantization and seed the run used; `adapter/` holds the PEFT weights, or
`model/` the whole checkpoint of a full fine-tuning run. evaluate.py, generate, export and the
Python API all load runs through `load_run` here, so they agree on what a run's model is.

Before any of them uses the weights, `check_saved_weights` verifies them: the seal training wrote
with them (size and sha256 of every file, medft/run/checkpoints.py) must hold, and every tensor of
an adapter (of any folder without a seal) must be finite. A damaged file is refused by name.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from medft import builders
from medft.config.errors import UserError
from medft.models.resolve import resolve_model
from medft.models.weights import require_safetensors
from medft.objectives.reward import with_pad_token
from medft.run.checkpoints import SEAL_FILE, seal_problem
from medft.runtime.files import atomic_save_dir

log = logging.getLogger(__name__)

ADAPTER_DIR = "adapter"
FULL_MODEL_DIR = "model"
MERGE_INFO_FILE = "medft_merge.json"
CPU_FP32 = {"name": "cpu", "device": "cpu", "precision": "fp32", "attn_implementation": "sdpa"}


class RunDirError(UserError, FileNotFoundError):
    """run_dir= does not point at a finished training run."""


class DamagedWeightsError(UserError, ValueError):
    """A run's saved weights are not what training wrote (changed since, or not finite)."""


class RewardModelRunError(UserError, ValueError):
    """A reward-model run (objective=reward) was given where a language model is needed."""


class NotMergeableError(UserError, ValueError):
    """The run's adapter has no weights to fold into the base (prompt-learning methods)."""


@dataclass(frozen=True)
class RunWeights:
    """What a run folder's model is made of."""

    run_dir: Path
    train_cfg: object  # the run's resolved .hydra/config.yaml
    model_cfg: object  # its base model (model/ of a full run: a local checkpoint)
    quant_cfg: object
    adapter: Path | None  # None: full fine-tuning, the weights are the model itself
    label: str


def load_run_config(run_dir: str | Path):
    """(absolute run folder, its training config), or a RunDirError saying what to give instead."""
    from omegaconf import OmegaConf

    folder = Path(run_dir).expanduser().resolve()
    config_file = folder / ".hydra" / "config.yaml"
    if not config_file.is_file():
        raise RunDirError(
            f"run_dir={run_dir}: no training run there (missing {config_file}). "
            "Give a folder like outputs/<name>/<YYYY-MM-DD_HH-MM-SS> made by train.py"
        )
    return folder, OmegaConf.load(config_file)


def is_reward_run(train_cfg) -> bool:
    return train_cfg.get("objective", {}).get("name") == "reward"


def run_weights(run_dir: str | Path, reward_model: bool = False) -> RunWeights:
    """What the run's model is made of. A reward-model run only with `reward_model=True`: it scores
    sequences and cannot answer, generate or export as a language model (load it with load_reward_model)."""
    from omegaconf import OmegaConf

    folder, train_cfg = load_run_config(run_dir)
    if is_reward_run(train_cfg) != reward_model:
        if reward_model:
            raise RewardModelRunError(
                f"run_dir={run_dir} trained objective={train_cfg.objective.name}, not a reward "
                "model; load it with medft.run.saved_model.load_run"
            )
        raise RewardModelRunError(
            f"run_dir={run_dir} is a reward model (objective=reward): one score per sequence, "
            "no language-model head to answer or generate with. Score pairs with "
            "medft.run.saved_model.load_reward_model(run_dir) and medft.objectives.reward.pair_rewards"
        )
    model_cfg, adapter, full = train_cfg.model, folder / ADAPTER_DIR, folder / FULL_MODEL_DIR
    if full.is_dir():  # full fine-tuning saved every weight: that checkpoint is the model
        model_cfg = OmegaConf.merge(model_cfg, {"source": "local", "path": str(full)})
        adapter = None
    elif not adapter.is_dir():
        raise RunDirError(
            f"run_dir={run_dir}: no {ADAPTER_DIR}/ or {FULL_MODEL_DIR}/ folder, so training did not "
            f"finish. Finish it with `python train.py name={train_cfg.name} resume=true`"
        )
    require_safetensors(adapter or full, "run_dir")  # damaged weights: refused before any folder is made for them
    check_saved_weights(adapter or full, train_cfg.name)
    label = f"{model_cfg.name} + {'adapter' if adapter else 'weights'} of {folder.name}"
    return RunWeights(folder, train_cfg, model_cfg, train_cfg.quantization, adapter, label)


_verified: set[tuple] = set()  # (folder, file sizes and times): one check per process, however many loads


def _non_finite(path: Path) -> str | None:
    """The first tensor of a safetensors file with a NaN or infinite value, or None."""
    import torch
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as weights:
        for name in weights.keys():
            tensor = weights.get_tensor(name)
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                return name
    return None


def check_saved_weights(folder: Path, run_name: str) -> None:
    """Refuse a run's adapter/ or model/ folder whose files no longer match their seal, or whose tensors are not
    finite (checked for adapters, and for any folder an older medft saved without a seal)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    key = (str(folder), tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files))
    if key in _verified:
        return
    fix = (
        f"These are not the weights training saved. Restore the folder from a backup, or rebuild it from the run's "
        f"last checkpoint: move {folder} and {folder.parent / 'metrics.json'} aside, then run the run's command "
        f"again with resume=true (python train.py name={run_name} resume=true, with the overrides in "
        f"{folder.parent / '.hydra' / 'overrides.yaml'})"
    )
    sealed = (folder / SEAL_FILE).is_file()
    problem = seal_problem(folder, required=()) if sealed else None
    if problem is not None:
        raise DamagedWeightsError(f"{folder}: {problem}. {fix}")
    if folder.name == ADAPTER_DIR or not sealed:
        for path in (p for p in files if p.suffix == ".safetensors"):
            name = _non_finite(path)
            if name is not None:
                raise DamagedWeightsError(f"{path}: tensor {name} holds NaN or infinite values. {fix}")
    _verified.add(key)


def load_model_and_tokenizer(
    model_cfg,
    quant_cfg,
    hardware_cfg,
    cache_dir,
    seed: int,
    adapter: Path | None = None,
    merge: bool = True,
    objective: str | None = None,
):
    """(model in eval mode, tokenizer, resolved source): the base, with `adapter` applied.

    `merge`: fold the adapter into the weights when the base is not quantized (same function,
    base speed); `merge=False` keeps a PeftModel, for switching or stacking adapters.
    `objective="reward"`: the base under its sequence-classification head (builders.load_model).
    """
    from omegaconf import OmegaConf

    def plain(node):
        return OmegaConf.to_container(node) if OmegaConf.is_config(node) else dict(node)

    resolved = resolve_model(model_cfg, cache_dir, seed)
    view = OmegaConf.create(
        {
            "model": plain(model_cfg),
            "hardware": plain(hardware_cfg),
            "quantization": plain(quant_cfg),
            "objective": {"name": objective or "sft"},
        }
    )
    tokenizer = builders.load_tokenizer(view.model, resolved)
    model = builders.load_model(view, resolved)
    if adapter is not None:
        from peft import PeftModel

        require_safetensors(adapter, "adapter")
        model = PeftModel.from_pretrained(model, str(adapter))
        if merge and view.quantization.method == "none" and is_mergeable(adapter):
            model = model.merge_and_unload()
    return model.eval(), tokenizer, resolved


def load_run(run_dir: str | Path, hardware_cfg=None, cache_dir: str | None = None, merge: bool = True, quant_cfg=None):
    """(model, tokenizer, RunWeights) of a training run, ready for inference.

    The run's own base model, quantization and seed (a tiny-random base is rebuilt from it);
    `hardware_cfg` is where it runs now (default: CPU in fp32), not where it was trained;
    `quant_cfg` loads the base in another quantization than it trained in (generate's load_in_8bit).
    """
    weights = run_weights(run_dir)
    train_cfg = weights.train_cfg
    model, tokenizer, _ = load_model_and_tokenizer(
        weights.model_cfg,
        quant_cfg or weights.quant_cfg,
        hardware_cfg or CPU_FP32,
        cache_dir or train_cfg.cache_dir,
        train_cfg.seed,
        weights.adapter,
        merge,
    )
    return model, tokenizer, weights


def load_reward_model(run_dir: str | Path, hardware_cfg=None, cache_dir: str | None = None, merge: bool = True):
    """(reward model, tokenizer, RunWeights) of an objective=reward run: the base as a one-output sequence
    classifier with the run's adapter and trained score head (or the whole model/ of a full run)."""

    weights = run_weights(run_dir, reward_model=True)
    train_cfg = weights.train_cfg
    model, tokenizer, _ = load_model_and_tokenizer(
        weights.model_cfg,
        weights.quant_cfg,
        hardware_cfg or CPU_FP32,
        cache_dir or train_cfg.cache_dir,
        train_cfg.seed,
        weights.adapter,
        merge,
        objective="reward",
    )
    return with_pad_token(model, tokenizer), tokenizer, weights


def adapter_config(adapter: Path) -> dict:
    return json.loads((Path(adapter) / "adapter_config.json").read_text())


def is_mergeable(adapter: Path) -> bool:
    """Prompt-learning adapters (prompt/prefix/p-tuning) add virtual tokens: nothing to fold."""
    from peft import PeftConfig

    return not PeftConfig.from_pretrained(str(adapter)).is_prompt_learning


def merge_and_save(run_dir: str | Path, out: str | Path, cache_dir: str | None = None) -> Path:
    """Fold a run's adapter into its base weights; save a full safetensors checkpoint in `out`.

    The tokenizer goes with it, carrying the chat template the run trained with, so the folder
    loads with plain `AutoModelForCausalLM` / `AutoTokenizer` and chats the same way. The base is
    loaded unquantized in fp32: a QLoRA adapter is folded into full-precision weights (the usual
    way to ship one; its outputs differ from the quantized run by the quantization error).
    """

    weights = run_weights(run_dir)
    if weights.adapter is not None and not is_mergeable(weights.adapter):
        kind = adapter_config(weights.adapter).get("peft_type")
        raise NotMergeableError(
            f"run_dir={run_dir}: its {kind} adapter adds virtual tokens instead of changing weights, so it "
            "cannot be merged into a checkpoint. Serve it with the base plus adapter (medft.run.saved_model.load_run "
            "or `python -m medft generate run_dir=...`), or train a weight-changing method (peft_method=lora)"
        )
    if weights.quant_cfg.method != "none":
        log.warning(
            "run %s trained on a %s-quantized base; merging into the fp32 base weights",
            weights.run_dir.name,
            weights.quant_cfg.method,
        )
    model, tokenizer, resolved = load_model_and_tokenizer(
        weights.model_cfg,
        {"method": "none"},
        CPU_FP32,
        cache_dir or weights.train_cfg.cache_dir,
        weights.train_cfg.seed,
        weights.adapter,
        merge=True,
    )
    info = {
        "run_dir": str(weights.run_dir),
        "base": resolved.origin,
        "base_checksum": resolved.checksum,
        "adapter": str(weights.adapter) if weights.adapter else None,
        "merged_from": weights.label,
    }

    def save(tmp: Path) -> None:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / MERGE_INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")

    out = atomic_save_dir(Path(out), save)
    log.info("Merged %s into %s", weights.label, out)
    return out


# Several adapters on one base (peft's multi-adapter API): switch per request, or stack them.


def load_adapters(model, adapters: dict[str, str | Path]):
    """A PeftModel holding every adapter of `adapters` (name -> folder); the first is active."""
    from peft import PeftModel

    names = list(adapters)
    if not names:
        raise ValueError("load_adapters needs at least one adapter")
    for name in names:
        require_safetensors(adapters[name], f"adapter {name}")
    peft_model = PeftModel.from_pretrained(model, str(adapters[names[0]]), adapter_name=names[0])
    for name in names[1:]:
        peft_model.load_adapter(str(adapters[name]), adapter_name=name)
    return peft_model.eval()


def switch_adapter(peft_model, name: str):
    """Make `name` the only active adapter (the others stay loaded, unused)."""
    if name not in peft_model.peft_config:
        raise KeyError(f"adapter {name!r} is not loaded; loaded: {sorted(peft_model.peft_config)}")
    peft_model.set_adapter(name)
    return peft_model


def stack_adapters(
    peft_model,
    names: list[str],
    weights: list[float] | None = None,
    stacked_name: str = "stacked",
    combination_type: str = "cat",
):
    """A new adapter equal to the weighted sum of LoRA adapters' updates, made active.

    `cat` concatenates the low-rank factors, so the result is exactly sum_i w_i * B_i A_i (no
    approximation; its rank is the sum of ranks). `linear` averages factors of equal rank.
    """
    weights = list(weights) if weights is not None else [1.0] * len(names)
    peft_model.add_weighted_adapter(names, weights, stacked_name, combination_type=combination_type)
    peft_model.set_adapter(stacked_name)
    return peft_model.eval()  # the new adapter's dropout modules are created in training mode
