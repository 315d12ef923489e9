"""The Objective: runs the model on a batch and returns named loss terms.

Losses never live in ``forward``. An Objective takes the model and a clean batch, optionally
corrupts the input, runs the model and returns ``{"recon": ..., <regularisers>..., "loss": ...}``
where ``loss`` is the weighted sum that gets minimised. The trainer logs every term.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..config import ModelConfig, ObjectiveConfig
from ..errors import AekitError
from ..models import AEOutput, Autoencoder
from .corruptions import Range, parse_corruptions
from .reconstruction import RECONSTRUCTION_TERMS
from .regularisers import build_regularisers

# A regulariser gets the model, the (possibly corrupted) input and the forward output, and
# returns a per-sample penalty (B,), already multiplied by its weight.
Regulariser = Callable[[Autoencoder, torch.Tensor, AEOutput], torch.Tensor]


class Objective:
    """Named loss terms for one batch.

    Args:
        config: what to compute.
        model_config: checked for compatibility (BCE needs outputs in [0, 1]).
        data_range: ``(low, high)`` of model space, where corruptions clip (see
            :func:`~aekit.objectives.corruptions.model_space_range`); ``(0, 1)`` by default.
    """

    def __init__(self, config: ObjectiveConfig, model_config: ModelConfig | None = None, *,
                 data_range: Range = (0.0, 1.0)):
        self.config = config
        self.reconstruction = RECONSTRUCTION_TERMS[config.reconstruction]
        self.corruption = parse_corruptions(config.corruption, data_range)
        self.regularisers: dict[str, Regulariser] = build_regularisers(config, model_config)
        if model_config is not None and config.reconstruction == "bce" and model_config.output_activation != "sigmoid":
            raise AekitError(
                "objective.reconstruction=bce needs model.output_activation=sigmoid (outputs in [0, 1]); "
                f"got output_activation={model_config.output_activation!r}; use reconstruction=mse instead"
            )

    def corrupt(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """The training input for a clean batch: ``objective.corruption`` applied in order."""
        return self.corruption(x, generator)

    def __call__(
        self, model: Autoencoder, x: torch.Tensor, *, generator: torch.Generator | None = None,
        epoch: float = 0.0,
    ) -> dict[str, torch.Tensor]:
        """Loss terms averaged over the batch.

        Args:
            model: the autoencoder (in train or eval mode).
            x: clean batch in model space, (B, C, H, W); also the reconstruction target.
            generator: source of randomness for corruptions (seeded by the trainer).
            epoch: fractional epoch, for terms with schedules (e.g. KL warm-up).
        """
        x_in = self.corrupt(x, generator)
        out = model(x_in)
        terms = {"recon": self.reconstruction(out, x, self.config.reduction).mean()}
        for name, term in self.regularisers.items():
            terms[name] = term(model, x_in, out).mean()
        terms["loss"] = sum(terms.values())
        return terms
