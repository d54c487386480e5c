"""system/* scalars (CPU, memory, tokens/s; GPU where CUDA exists) land in a run's TensorBoard events on the
sampler's wall-clock cadence."""

from __future__ import annotations

import statistics
import time

import pytest
from transformers import TrainerCallback

from medft.config.compose import compose_train
from medft.config.errors import ConfigError
from medft.config.validate import validate
from medft.recipes.train import run

EVERY_S = 0.2
KEYS = {
    "system/cpu_percent",
    "system/process_cpu_percent",
    "system/process_rss_mb",
    "system/memory_used_percent",
    "system/memory_available_mb",
    "system/tokens_per_s",
}


class PacedSteps(TrainerCallback):
    """Each step lasts at least `seconds`: tiny-random trains 6 steps in well under one interval on a fast
    machine, and the test is about the sampler's cadence, not how fast the model trains."""

    def __init__(self, seconds: float):
        self.seconds, self.started = seconds, None

    def on_step_begin(self, args, state, control, **kwargs):
        self.started = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        time.sleep(max(0.0, self.seconds - (time.monotonic() - self.started)))


def test_system_scalars_appear_at_a_fixed_wall_clock_cadence(tiny_cfg, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = tiny_cfg(
        "logger=tensorboard",
        f"logger.system_every_s={EVERY_S}",
        "training.max_steps=6",  # paced to >= 0.25 s a step below: at least 7 samples at 0.2 s
        "training.save_every_steps=100",
        "eval.before=false",
        "eval.after=false",
        "eval.validation=false",
    )
    run(cfg, tmp_path / "run", callbacks=[PacedSteps(0.25)])
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    assert KEYS <= set(events.Tags()["scalars"])
    cpu = events.Scalars("system/cpu_percent")
    assert len(cpu) >= 3
    gaps = [b.wall_time - a.wall_time for a, b in zip(cpu, cpu[1:])]
    # The cadence, not the code's speed: the median gap is the interval (a loaded machine may delay a few).
    assert statistics.median(gaps) == pytest.approx(EVERY_S, rel=0.5)
    assert all(0 <= e.value for e in cpu)
    assert all(e.value > 0 for e in events.Scalars("system/process_rss_mb"))
    assert max(e.value for e in events.Scalars("system/tokens_per_s")) > 0  # tokens trained between samples
    steps = [e.step for e in cpu]
    assert steps == sorted(steps) and steps[-1] <= 6


def test_a_negative_interval_is_refused_at_compose_time():
    with pytest.raises(ConfigError, match=r"logger.system_every_s=-1.0: must be >= 0"):
        validate(compose_train(["logger.system_every_s=-1"]), dry_run=True)
