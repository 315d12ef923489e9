"""Latent layers: what sits between the encoder's features and the code ``z``.

A latent takes the encoder's ``in_features`` outputs and returns ``(z, posterior)``. The
deterministic latent returns the (optionally activated) features as the code and no posterior.
The Gaussian latent (Kingma & Welling 2014, "Auto-Encoding Variational Bayes") reads the
features as the mean and log-variance of a diagonal Gaussian posterior q(z|x) and returns a
reparameterised sample ``z = μ + σ·ε`` while training and the mean ``μ`` in eval mode, so a
trained VAE encodes deterministically.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import activation

LOG_2PI = math.log(2 * math.pi)

# log σ² is kept in [-10, 10] (σ from 0.0067 to 148): wide enough never to bind on real data,
# narrow enough that exp() and 1/σ² stay finite in float32 even when a high learning rate
# throws the encoder's outputs far off, which is where VAEs otherwise produce NaN.
LOGVAR_RANGE = (-10.0, 10.0)


def soft_clamp(h: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Smooth clamp to (low, high): ≈ identity well inside, no dead zone at the bounds.

    ``low + softplus(h - low) - softplus(h - high)``: it tends to ``low`` as h → -∞ and to
    ``high`` as h → +∞. Its slope ``σ(h - low) - σ(h - high)`` fades smoothly beyond the bounds
    (0.27 one unit out, 0.12 two units out) instead of dropping to zero at them, so an encoder
    pushed just outside the range still gets a gradient back (a hard clamp would stall it).
    """
    return low + F.softplus(h - low) - F.softplus(h - high)


class DiagonalGaussian:
    """q(z|x) = N(μ, diag(σ²)) for a batch; the ``posterior`` of a VAE's forward pass.

    Attributes:
        mean: μ, (B, k).
        logvar: log σ², (B, k), already clamped to :data:`LOGVAR_RANGE`.
    """

    def __init__(self, mean: torch.Tensor, logvar: torch.Tensor):
        self.mean = mean
        self.logvar = logvar

    @property
    def std(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    @property
    def var(self) -> torch.Tensor:
        return torch.exp(self.logvar)

    def sample(self, n: int | None = None, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Reparameterised draws μ + σ·ε: (B, k), or (n, B, k) when ``n`` is given."""
        if n is None and generator is None:  # same draws as randn(shape); traceable with a dynamic batch size
            eps = torch.randn_like(self.mean)
        else:
            shape = self.mean.shape if n is None else (n, *self.mean.shape)
            eps = torch.randn(shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + self.std * eps

    def kl_per_dim(self) -> torch.Tensor:
        """KL(q ‖ N(0, I)) of each latent dimension, (B, k): ½(μ² + σ² − 1 − log σ²)."""
        return 0.5 * (self.mean.pow(2) + self.var - 1.0 - self.logvar)

    def kl(self) -> torch.Tensor:
        """KL(q ‖ N(0, I)) per sample, summed over latent dimensions, (B,) in nats."""
        return self.kl_per_dim().sum(-1)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z|x), summed over latent dimensions: (..., B, k) -> (..., B)."""
        return -0.5 * ((z - self.mean).pow(2) / self.var + self.logvar + LOG_2PI).sum(-1)

    def detach(self) -> DiagonalGaussian:
        return DiagonalGaussian(self.mean.detach(), self.logvar.detach())

    def __repr__(self) -> str:
        return f"DiagonalGaussian(batch={self.mean.shape[0]}, dim={self.mean.shape[-1]})"


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last dimension: (..., k) -> (...)."""
    return -0.5 * (z.pow(2) + LOG_2PI).sum(-1)


class DeterministicLatent(nn.Module):
    """z = act(h); no posterior."""

    def __init__(self, latent_dim: int, code_activation: str = "none"):
        super().__init__()
        self.latent_dim = latent_dim
        self.in_features = latent_dim
        self.act = activation(code_activation)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.act(h), None


class GaussianLatent(nn.Module):
    """(B, 2k) features -> μ, log σ² -> z; a sample while training, μ in eval mode.

    ::

        h (B, 2k) ──split──▶ μ (B, k)
                         └─▶ log σ² (B, k) ──soft clamp──▶ q(z|x) ──train: μ + σ·ε / eval: μ──▶ z
    """

    def __init__(self, latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.in_features = 2 * latent_dim

    def posterior(self, h: torch.Tensor) -> DiagonalGaussian:
        mean, raw_logvar = h.float().chunk(2, dim=-1)
        return DiagonalGaussian(mean, soft_clamp(raw_logvar, *LOGVAR_RANGE))

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, DiagonalGaussian]:
        q = self.posterior(h)
        z = q.sample() if self.training else q.mean
        return z, q


class FactorizedDensity(nn.Module):
    """A learned density per code dimension: a mixture of ``components`` logistics.

    Used as the entropy model of a quantised code (Ballé et al. 2018, "Variational image
    compression with a scale hyperprior", the factorised prior): the probability of the unit
    interval around ``z`` is ``P(z) = c(z + ½) - c(z - ½)`` with ``c`` the mixture's CDF; for
    ``z`` plus U(-½, ½) noise that is exactly the noisy code's density, and at integers it is the
    probability of the rounded symbol. ``-log2 P`` is the rate in bits.
    """

    def __init__(self, dim: int, components: int = 3):
        super().__init__()
        self.loc = nn.Parameter(torch.linspace(-2.0, 2.0, components).repeat(dim, 1))  # (k, K)
        self.log_scale = nn.Parameter(torch.ones(dim, components))
        self.logits = nn.Parameter(torch.zeros(dim, components))

    def interval_prob(self, z: torch.Tensor, half_width: float = 0.5) -> torch.Tensor:
        """``c(z + w) - c(z - w)`` per value, (B, k), computed on the side of the tail for precision."""
        scale = torch.exp(self.log_scale)
        weights = torch.softmax(self.logits, dim=-1)
        upper = (z.unsqueeze(-1) + half_width - self.loc) / scale  # (B, k, K)
        lower = (z.unsqueeze(-1) - half_width - self.loc) / scale
        # σ(a) - σ(b) == σ(-b) - σ(-a): evaluate where the sigmoids are far from 1.
        sign = -torch.sign(upper + lower).detach()
        sign = torch.where(sign == 0, torch.ones_like(sign), sign)
        mass = (torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).abs()
        return (weights * mass).sum(-1)

    def bits(self, z: torch.Tensor) -> torch.Tensor:
        """``-log2 P(z)`` summed over dimensions, (B,)."""
        return -torch.log2(self.interval_prob(z.float()).clamp_min(1e-9)).sum(-1)


class QuantisedLatent(nn.Module):
    """A code made for entropy coding: ``z = h + u``, u ~ U(-½, ½) while training, ``z = h`` in eval.

    The additive noise stands in for rounding during training (Ballé et al. 2017, "End-to-end
    optimized image compression"), so the decoder learns to cope with quantisation error and
    :attr:`density` (a :class:`FactorizedDensity`) learns the rate the objective's ``rate`` term
    charges. Rounding itself happens in the codec (:mod:`aekit.codec`).
    """

    def __init__(self, latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.in_features = latent_dim
        self.density = FactorizedDensity(latent_dim)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, None]:
        if self.training:
            h = h + torch.rand_like(h) - 0.5
        return h, None
