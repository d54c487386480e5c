"""The Python API: `MedicalPEFTTrainer` (trainer.py) and the keyword translation it uses (keywords.py)."""

from medft.api.keywords import ApiArgumentError, build_overrides
from medft.api.override_text import override_value
from medft.api.trainer import MedicalPEFTTrainer, save_run_config

__all__ = ["ApiArgumentError", "MedicalPEFTTrainer", "build_overrides", "override_value", "save_run_config"]
