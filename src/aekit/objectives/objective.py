"""The Objective: runs the model on a batch and returns named loss terms.

Losses never live in ``forward``. An Objective takes the model and a clean batch, optionally
corrupts the input, runs the model and returns ``{"recon": ..., <regularisers>..., "loss": ...}``
where ``loss`` is the weighted sum that gets minimised. The trainer logs every term.

A model whose posterior has a prior (a VAE) also gets ``"kl"`` (:mod:`.kl`), so its loss is
``recon + β·KL``, the negative ELBO for β = 1; with ``binarize`` set, the batch is binarised
first and serves as both input and target.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..config import ModelConfig, ObjectiveConfig
from ..errors import AekitError
from ..models import AEOutput, Autoencoder
from ..registry import LIKELIHOODS
from .corruptions import Range, parse_corruptions
from .kl import KLTerm
from .reconstruction import binarize, reconstruction_term
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
        self.reconstruction = reconstruction_term(config)
        self.corruption = parse_corruptions(config.corruption, data_range)
        self.kl = KLTerm(config)  # used when the model's posterior has a prior (VAEs)
        self.regularisers: dict[str, Regulariser] = build_regularisers(config, model_config)
        likelihood = LIKELIHOODS.get(config.reconstruction)
        if model_config is not None and likelihood.needs_unit_outputs and model_config.output_activation != "sigmoid":
            raise AekitError(
                f"objective.reconstruction={config.reconstruction} needs model.output_activation=sigmoid (outputs in "
                f"[0, 1]); got output_activation={model_config.output_activation!r}; use reconstruction=mse instead"
            )
        if model_config is not None and model_config.learn_sigma and not likelihood.uses_sigma:
            raise AekitError("model.learn_sigma=true learns the σ of a Gaussian likelihood; expected "
                             f"objective.reconstruction=gaussian, got {config.reconstruction!r}")

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
        x = binarize(x, self.config.binarize, generator)  # binary input *and* target when asked
        x_in = self.corrupt(x, generator)
        out = model(x_in)
        # A posterior measured against a prior (a VAE's) makes the loss the negative ELBO: a KL
        # term, and in eval mode a posterior sample scored instead of the decoded mean. Codes
        # with no prior (deterministic, quantised: their kl() is 0) get neither.
        elbo = out.posterior is not None and out.posterior.prior is not None
        if elbo and not model.training:
            z = out.posterior.sample(generator=generator)
            logits = model.decode_logits(z)
            out = AEOutput(logits, z, out.posterior, out.log_sigma, out.output_activation)
        terms = {"recon": self.reconstruction(out, x, self.config.reduction).mean()}
        if elbo:
            terms["kl"] = self.kl(out.posterior, x, epoch=epoch, training=model.training).mean()
        for name, term in self.regularisers.items():
            terms[name] = term(model, x_in, out).mean()
        terms["loss"] = sum(terms.values())
        return terms
