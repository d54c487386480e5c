"""Push a finished run again, or for the first time: `python -m medft hub <run folder> hub.repo_id=...`.

For a run whose upload failed after training (the network dropped) or that was trained without
hub.push. Takes the run's own resolved config and metrics.json; any `hub.*` override on the
command line replaces the run's (e.g. hub.what=merged hub.private=false).
"""

from __future__ import annotations

import json
from pathlib import Path

from medft.config.choices import FULL_WEIGHT_METHODS
from medft.config.run_schema import TrainRunConfig
from medft.config.secrets import refuse_config_secrets, refuse_secret_overrides
from medft.config.unknown_keys import unknown_key
from medft.hub import HubError, preflight, push_run
from medft.recipes.evaluate import load_for_evaluation
from medft.run.folders import METRICS_FILE


def push_folder(run_dir: str | Path, overrides: list[str]) -> dict:
    from omegaconf import OmegaConf, open_dict

    refuse_secret_overrides(overrides)  # first, before any of them is echoed: tokens come from HF_TOKEN only
    run_dir = Path(run_dir).expanduser().resolve()
    config_file, metrics_file = run_dir / ".hydra" / "config.yaml", run_dir / METRICS_FILE
    if not config_file.is_file() or not metrics_file.is_file():
        raise HubError(
            f"{run_dir}: not a finished training run (needs .hydra/config.yaml and {METRICS_FILE}); "
            "give a folder like outputs/<name>/<YYYY-MM-DD_HH-MM-SS> whose training finished"
        )
    bad = [o.partition("=")[0] for o in overrides if not o.startswith("hub.") or "=" not in o]
    if bad:
        raise HubError(f"only hub.* overrides apply to a finished run, got {bad}; e.g. hub.repo_id=alice/my-model")
    for override in overrides:
        unknown = unknown_key(TrainRunConfig, override.partition("=")[0])
        if unknown is not None:
            raise unknown
    cfg = OmegaConf.load(config_file)
    with open_dict(cfg):
        cfg.merge_with(OmegaConf.from_dotlist(overrides))
        cfg.hub.push = True
    refuse_config_secrets(cfg)  # the run's own config, e.g. an endpoint with credentials in it
    preflight(cfg)
    model = tokenizer = None
    if cfg.hub.what == "merged" and cfg.peft_method.method not in FULL_WEIGHT_METHODS:
        model, tokenizer, _ = load_for_evaluation(cfg, cfg.model, cfg.quantization, run_dir / "adapter")
    return push_run(cfg, run_dir, model, tokenizer, json.loads(metrics_file.read_text()))
