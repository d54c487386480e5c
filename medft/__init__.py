"""medft: Hydra-composed parameter-efficient fine-tuning of LLMs for medicine."""

__version__ = "0.1.0"
