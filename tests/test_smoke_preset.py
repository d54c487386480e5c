"""`experiment=smoke`, the first try: it composes to a tiny run and runs end to end. (Its wall time,
under 20 s on 2 cores, is measured by hand on docs/results/evaluation-speed/index.md, not here.)"""

from __future__ import annotations

import json

from medft.config.compose import compose_train
from medft.recipes.train import run


def test_smoke_preset_runs_a_whole_small_run(tmp_path):
    cfg = compose_train(["experiment=smoke", f"cache_dir={tmp_path / 'cache'}", f"output_root={tmp_path}"])
    assert (cfg.name, cfg.model.name, cfg.logger.name) == ("smoke", "tiny-random", "none")
    assert cfg.training.max_steps <= 5 and cfg.dataset.eval_limit <= 16  # seconds, not minutes
    metrics = run(cfg, tmp_path / "run")
    assert metrics["train"]["steps"] == cfg.training.max_steps
    for phase in ("eval_before", "eval_after"):
        assert metrics[phase]["test"]["n"] == cfg.dataset.eval_limit
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["train"]["steps"] == cfg.training.max_steps
    assert (tmp_path / "run" / "adapter" / "adapter_config.json").is_file()
