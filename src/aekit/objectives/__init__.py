from ..config import ModelConfig, ObjectiveConfig
from .kl import KLTerm, free_bits_kl, warmup_factor
from .objective import Objective
from .reconstruction import RECONSTRUCTION_TERMS, bce, binarize, gaussian, mse


def build_objective(config: ObjectiveConfig, model_config: ModelConfig | None = None) -> Objective:
    """The Objective an :class:`ObjectiveConfig` describes (validated against the model)."""
    return Objective(config, model_config)


__all__ = [
    "KLTerm", "Objective", "RECONSTRUCTION_TERMS", "bce", "binarize", "build_objective", "free_bits_kl", "gaussian",
    "mse", "warmup_factor",
]
