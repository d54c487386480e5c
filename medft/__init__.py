"""medft: Hydra-composed parameter-efficient fine-tuning of LLMs for medicine."""

from medft.api import MedicalPEFTTrainer

__version__ = "0.1.0"
__all__ = ["MedicalPEFTTrainer"]


def __getattr__(name: str):
    # Lazy: `import medft` stays free of torch/transformers; the API loads them when first used.
    if name == "MedicalPEFTTrainer":
        return MedicalPEFTTrainer
    raise AttributeError(f"module 'medft' has no attribute {name!r}")
