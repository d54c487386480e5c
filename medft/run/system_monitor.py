"""`system/*` time series while a run trains: CPU, memory, GPU and tokens/s every `logger.system_every_s`.

A background thread samples on a fixed wall-clock cadence (psutil for CPU and memory; torch.cuda and
NVML for each GPU, when CUDA exists) and queues each sample with its time. The training thread writes
the queue out at each step's end and when training ends: the TensorBoard writer and W&B are only
called from the thread that already uses them, and each scalar keeps the wall time it was sampled at,
so the curves keep the sampler's cadence however long a step takes. W&B also records its own system
panel (every ~15 s); the `system/*` keys here add what it lacks (tokens/s, torch's allocator) on the
same cadence as TensorBoard's.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from medft.runtime.trainer_callback import TrainerCallback

log = logging.getLogger(__name__)
MiB = 2**20


class GpuProbe:
    """Per-GPU scalars: torch's allocator always, NVML's utilisation and device memory when installed."""

    def __init__(self):
        import torch

        self.torch, self.count, self.nvml = torch, torch.cuda.device_count(), None
        # NVML counts every GPU of the machine; torch's i is the i-th of CUDA_VISIBLE_DEVICES when that is set.
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")
        self.nvml_index = [int(v) for v in visible] if all(v.strip().isdigit() for v in visible) else None
        try:
            import pynvml  # nvidia-ml-py: only on machines with CUDA

            pynvml.nvmlInit()
            self.nvml = pynvml
        except Exception as err:  # not installed, or no driver library: torch's numbers only
            log.info(
                "system/* without GPU utilisation (NVML unavailable: %s); pip install -e '.[gpu-monitor]' adds it", err
            )

    def sample(self) -> dict[str, float]:
        values = {}
        for i in range(self.count):
            values[f"system/gpu{i}_allocated_mb"] = self.torch.cuda.memory_allocated(i) / MiB
            values[f"system/gpu{i}_reserved_mb"] = self.torch.cuda.memory_reserved(i) / MiB
            if self.nvml is not None:
                handle = self.nvml.nvmlDeviceGetHandleByIndex(self.nvml_index[i] if self.nvml_index else i)
                values[f"system/gpu{i}_utilization_percent"] = float(
                    self.nvml.nvmlDeviceGetUtilizationRates(handle).gpu
                )
                values[f"system/gpu{i}_memory_used_mb"] = self.nvml.nvmlDeviceGetMemoryInfo(handle).used / MiB
        return values


class SystemMonitor(TrainerCallback):
    """A TrainerCallback whose thread samples from on_train_begin until `stop` (on_train_end, or the
    recipe's `with` block when training raises)."""

    def __init__(self, every_s: float, writer=None, wandb_on: bool = False):
        self.every_s, self.writer, self.wandb_on = float(every_s), writer, wandb_on
        self.samples: list[tuple[float, int, dict[str, float]]] = []  # (wall time, step, scalars)
        self.lock, self.halt, self.thread, self.state = threading.Lock(), threading.Event(), None, None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def on_train_begin(self, args, state, control, **kwargs):
        import psutil
        import torch

        self.state, self.process = state, psutil.Process()
        self.gpus = GpuProbe() if torch.cuda.is_available() else None
        psutil.cpu_percent(None), self.process.cpu_percent(None)  # start both CPU counters: the first read is 0
        self.last = (time.monotonic(), state.num_input_tokens_seen)
        self.thread = threading.Thread(target=self._loop, name="medft-system-monitor", daemon=True)
        self.thread.start()

    def on_step_end(self, args, state, control, **kwargs):
        self.flush()

    def on_train_end(self, args, state, control, **kwargs):
        self.stop()

    def stop(self) -> None:
        if self.thread is not None:
            self.halt.set()
            self.thread.join()
            self.thread = None
        self.flush()

    def _loop(self) -> None:
        deadline = time.monotonic()
        while True:
            deadline += self.every_s  # a fixed cadence: a slow sample does not push the next ones back
            if self.halt.wait(max(0.0, deadline - time.monotonic())):
                return
            sample = self.sample()
            with self.lock:
                self.samples.append((time.time(), int(self.state.global_step), sample))

    def sample(self) -> dict[str, float]:
        import psutil

        now, tokens = time.monotonic(), self.state.num_input_tokens_seen
        then, tokens_then = self.last
        self.last = (now, tokens)
        memory = psutil.virtual_memory()
        rss = self.process.memory_info().rss + sum(_rss(child) for child in self.process.children(recursive=True))
        values = {
            "system/cpu_percent": psutil.cpu_percent(None),  # the whole machine, since the last sample
            "system/process_cpu_percent": self.process.cpu_percent(None),  # this process: 100 per busy core
            "system/process_rss_mb": rss / MiB,  # this process and its data-loader workers
            "system/memory_used_percent": memory.percent,
            "system/memory_available_mb": memory.available / MiB,
            "system/tokens_per_s": (tokens - tokens_then) / (now - then) if now > then else 0.0,
        }
        if self.gpus is not None:
            values.update(self.gpus.sample())
        return values

    def flush(self) -> None:
        """Write the queued samples (called on the training thread)."""
        with self.lock:
            samples, self.samples = self.samples, []
        for wall, step, values in samples:
            if self.writer is not None:
                for key, value in values.items():
                    self.writer.add_scalar(key, value, step, walltime=wall)
            if self.wandb_on:
                import wandb

                if wandb.run is not None:
                    wandb.log({**values, "train/global_step": step})


def _rss(process) -> int:
    try:
        return process.memory_info().rss
    except Exception:  # a worker that exited between listing and reading
        return 0


def system_monitor(cfg, writer) -> SystemMonitor | None:
    """The run's sampler, or None when `logger.system_every_s` is 0 or nothing would receive it."""
    every = float(cfg.logger.get("system_every_s", 0) or 0)
    wandb_on = cfg.logger.name == "wandb"
    if every <= 0 or (writer is None and not wandb_on):
        return None
    return SystemMonitor(every, writer, wandb_on)
