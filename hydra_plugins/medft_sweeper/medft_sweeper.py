"""`hydra/sweeper=medft` (conf/hydra/sweeper/medft.yaml): registered here, implemented in medft.sweep.sweeper."""

from medft.sweep.sweeper import ResumableSweeper as _ResumableSweeper


class ResumableSweeper(_ResumableSweeper):
    """Hydra's grid sweeper with readable, resumable folders and a sweep index; see medft.sweep.sweeper."""
