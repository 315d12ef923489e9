"""The KL term of a VAE: β · KL(q(z|x) ‖ N(0, I)), with warm-up and free bits.

Conventions (the same as the reconstruction terms, so ``recon + kl`` is the negative ELBO):

- The KL is the analytic ``½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²)``, **summed over latent
  dimensions** per sample, in nats, and averaged over the batch by the Objective. Under
  ``reduction="mean"`` it is also divided by the number of pixels, like the reconstruction
  term, so the loss is the negative ELBO per pixel rather than a mismatched sum.
- ``beta`` multiplies it (Higgins et al. 2017, β-VAE); β = 1 is the ELBO.
- ``kl_warmup`` ramps the weight linearly from 0 to β over that many epochs (Bowman et al.
  2016; Sønderby et al. 2016), which keeps the decoder from ignoring the code early on.
- ``free_bits`` λ (Kingma et al. 2016, "Improved Variational Inference with Inverse
  Autoregressive Flow") replaces each dimension's batch-mean KL by ``max(λ, KL_j)``: below λ
  nats a dimension is not penalised, which prevents posterior collapse.

Warm-up and free bits change the *training* objective only. In eval mode (validation) the term
is always ``β · KL`` with nothing ramped or floored, so validation losses compare across epochs
and the best model is chosen on the real objective.
"""

from __future__ import annotations

import torch

from ..config import ObjectiveConfig
from ..models.latents import DiagonalGaussian


def warmup_factor(epoch: float, warmup_epochs: float) -> float:
    """Linear KL warm-up: ``min(1, epoch / warmup_epochs)``, 1 when warm-up is off."""
    if warmup_epochs <= 0:
        return 1.0
    return float(min(1.0, max(0.0, epoch) / warmup_epochs))


def free_bits_kl(kl_per_dim: torch.Tensor, free_bits: float) -> torch.Tensor:
    """Per-sample KL (B,) whose batch mean is ``Σ_j max(λ, mean_b KL_bj)``.

    A dimension whose batch-mean KL is below λ contributes the constant λ (no gradient);
    the others contribute their per-sample KL unchanged.

    Args:
        kl_per_dim: (B, k) KL of each sample and latent dimension.
        free_bits: λ in nats per dimension.
    """
    if free_bits <= 0:
        return kl_per_dim.sum(-1)
    below = kl_per_dim.mean(0, keepdim=True) < free_bits  # (1, k), decided on the batch mean
    floored = torch.where(below, torch.full_like(kl_per_dim, free_bits), kl_per_dim)
    return floored.sum(-1)


class KLTerm:
    """β · KL per sample for the Objective, with warm-up and free bits while training.

    Args:
        config: reads ``beta``, ``kl_warmup``, ``free_bits`` and ``reduction``.
    """

    def __init__(self, config: ObjectiveConfig):
        self.beta = config.beta
        self.warmup = config.kl_warmup
        self.free_bits = config.free_bits
        self.reduction = config.reduction

    def weight(self, epoch: float, training: bool) -> float:
        return self.beta * (warmup_factor(epoch, self.warmup) if training else 1.0)

    def __call__(self, posterior: DiagonalGaussian, x: torch.Tensor, *, epoch: float = 0.0,
                 training: bool = True) -> torch.Tensor:
        """(B,) weighted KL; ``x`` only sets the pixel count for ``reduction="mean"``."""
        per_dim = posterior.kl_per_dim()
        kl = free_bits_kl(per_dim, self.free_bits) if training else per_dim.sum(-1)
        if self.reduction == "mean":
            kl = kl / x[0].numel()
        return self.weight(epoch, training) * kl
