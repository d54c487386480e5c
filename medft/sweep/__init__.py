"""Multirun sweeps: readable folder names, a sweep index, skip/resume/rerun of jobs.

- `naming`: sweep and job folder names derived from the command line, not the clock.
- `sweeper`: the `hydra/sweeper=medft` grid sweeper (Hydra's basic sweeper plus the above).
- `jobs`: what one job does around the training recipe (skip finished, resume, record failure).
- `index`: `sweep.json`, the sweep-level table of every job's overrides, status and folder.
"""
