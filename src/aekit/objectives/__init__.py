from ..config import ModelConfig, ObjectiveConfig
from .corruptions import (
    Bounds,
    Corruption,
    CorruptionChain,
    CorruptionKind,
    corrupt_images,
    parse_corruption,
    parse_corruptions,
    register_corruption,
)
from .kl import KLTerm, free_bits_kl, warmup_factor
from .objective import Objective
from .reconstruction import Likelihood, bce, binarize, gaussian, mse, register_likelihood
from .regularisers import RegulariserKind, jacobian_frobenius_sq, kl_sparsity, l1_code, register_regulariser


def build_objective(config: ObjectiveConfig, model_config: ModelConfig | None = None, *,
                    data_range=(0.0, 1.0)) -> Objective:
    """The Objective an :class:`ObjectiveConfig` describes (validated against the model).

    ``data_range`` is where corruptions clip in model space (``model_space_range(preprocessing)``).
    """
    return Objective(config, model_config, data_range=data_range)


__all__ = [
    "Bounds", "Corruption", "CorruptionChain", "CorruptionKind", "KLTerm", "Likelihood", "Objective",
    "RegulariserKind", "bce", "binarize", "build_objective", "corrupt_images", "free_bits_kl", "gaussian",
    "jacobian_frobenius_sq", "kl_sparsity", "l1_code", "mse", "parse_corruption", "parse_corruptions",
    "register_corruption", "register_likelihood", "register_regulariser", "warmup_factor",
]
