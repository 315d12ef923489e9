from ..config import ModelConfig, ObjectiveConfig
from .objective import Objective
from .reconstruction import RECONSTRUCTION_TERMS, bce, mse


def build_objective(config: ObjectiveConfig, model_config: ModelConfig | None = None) -> Objective:
    """The Objective an :class:`ObjectiveConfig` describes (validated against the model)."""
    return Objective(config, model_config)


__all__ = ["Objective", "RECONSTRUCTION_TERMS", "bce", "build_objective", "mse"]
