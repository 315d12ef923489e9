"""Latent layers: what sits between the encoder's features and the code ``z``.

A latent takes the encoder's ``in_features`` outputs and returns ``(z, posterior)``: the code
and a distribution-like object with ``sample()``, ``mode()`` and ``kl()`` (as diffusers'
``DiagonalGaussianDistribution``), for every latent:

=================  ===========================================  ==========================
latent             posterior q(z|x)                             z while training / in eval
=================  ===========================================  ==========================
``deterministic``  :class:`PointMass` at act(h); KL 0            act(h) / act(h)
``gaussian``       :class:`DiagonalGaussian` N(μ, σ²); KL to     μ + σ·ε / μ
                   the prior N(0, I)
``quantised``      :class:`UniformBox` U(h − ½, h + ½); KL 0     h + u / h
                   (its rate is the ``rate`` term's)
=================  ===========================================  ==========================

The Gaussian latent is the VAE's (Kingma & Welling 2014, "Auto-Encoding Variational Bayes"): it
reads the features as the mean and log-variance of a diagonal Gaussian posterior and returns a
reparameterised sample while training and the mean in eval mode, so a trained VAE encodes
deterministically.

Code outside this module never asks which latent a model has; it asks the latent what it can do:
``latent.prior`` (a :class:`StandardNormal` to sample and score codes, or ``None`` for codes that
follow no known prior), ``latent.accepts_code_activation``, ``latent.learns_code_density``.
Each latent is registered with :func:`register_latent` (in :data:`aekit.registry.LATENTS`) and
built from a :class:`~aekit.config.ModelConfig` by its ``from_config``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from ..registry import LATENTS
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
    def prior(self) -> StandardNormal:
        """p(z) = N(0, I), what :meth:`kl` measures against."""
        return StandardNormal(self.mean.shape[-1])

    def mode(self) -> torch.Tensor:
        """The most likely code, μ: (B, k)."""
        return self.mean

    def statistics(self) -> dict[str, torch.Tensor]:
        """The tensors that define q, by name (the outputs of an exported encoder)."""
        return {"mean": self.mean, "logvar": self.logvar}

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


class StandardNormal:
    """p(z) = N(0, I) over ``dim`` dimensions: the prior of a VAE's codes."""

    def __init__(self, dim: int):
        self.dim = int(dim)

    def sample(self, n: int, *, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, dim) codes from N(0, T² I)."""
        return temperature * torch.randn(int(n), self.dim, generator=generator)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) summed over the last dimension: (..., dim) -> (...)."""
        return standard_normal_log_prob(z)

    def __repr__(self) -> str:
        return f"StandardNormal(dim={self.dim})"


class PointMass:
    """q(z|x) = δ(z − code): a deterministic code seen as a distribution.

    ``sample()`` and ``mode()`` are the code itself and ``kl()`` is 0: such a code has no prior
    to be measured against (:attr:`prior` is ``None``), so the objective adds no KL term.
    """

    prior = None

    def __init__(self, code: torch.Tensor):
        self.code = code

    @property
    def mean(self) -> torch.Tensor:
        return self.code

    def sample(self, n: int | None = None, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """The code, (B, k), or ``n`` copies of it, (n, B, k); draws nothing."""
        return self.code if n is None else self.code.expand(n, *self.code.shape)

    def mode(self) -> torch.Tensor:
        return self.code

    def kl_per_dim(self) -> torch.Tensor:
        return torch.zeros_like(self.code)

    def kl(self) -> torch.Tensor:
        """0 per sample, (B,)."""
        return self.code.new_zeros(self.code.shape[0])

    def statistics(self) -> dict[str, torch.Tensor]:
        return {"z": self.code}

    def detach(self) -> PointMass:
        return PointMass(self.code.detach())

    def __repr__(self) -> str:
        return f"PointMass(batch={self.code.shape[0]}, dim={self.code.shape[-1]})"


class UniformBox:
    """q(z|x) = U(h − ½, h + ½) per value: a quantised latent's code with its training noise.

    Adding U(−½, ½) noise stands in for rounding while training (Ballé et al. 2017). The rate of
    this code is charged by the objective's ``rate`` term under the latent's learned density,
    not as a KL to a fixed prior, so :attr:`prior` is ``None`` and ``kl()`` is 0.
    """

    prior = None

    def __init__(self, centre: torch.Tensor):
        self.centre = centre

    @property
    def mean(self) -> torch.Tensor:
        return self.centre

    def sample(self, n: int | None = None, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """h + u, u ~ U(−½, ½): (B, k), or (n, B, k) when ``n`` is given."""
        h = self.centre
        if n is None and generator is None:  # the same draws as ever: rand_like
            return h + torch.rand_like(h) - 0.5
        shape = h.shape if n is None else (n, *h.shape)
        return h + torch.rand(shape, generator=generator, device=h.device, dtype=h.dtype) - 0.5

    def mode(self) -> torch.Tensor:
        """The centre h, the code used in eval mode and rounded by the codec."""
        return self.centre

    def kl_per_dim(self) -> torch.Tensor:
        return torch.zeros_like(self.centre)

    def kl(self) -> torch.Tensor:
        """0 per sample, (B,)."""
        return self.centre.new_zeros(self.centre.shape[0])

    def statistics(self) -> dict[str, torch.Tensor]:
        return {"z": self.centre}

    def detach(self) -> UniformBox:
        return UniformBox(self.centre.detach())

    def __repr__(self) -> str:
        return f"UniformBox(batch={self.centre.shape[0]}, dim={self.centre.shape[-1]})"


# --------------------------------------------------------------------------- the latents
L = TypeVar("L", bound=type)


def register_latent(name: str) -> Callable[[L], L]:
    """Register a latent class as ``model.latent=name``.

    The class is an ``nn.Module`` with ``in_features`` (encoder outputs it takes), ``latent_dim``,
    ``forward(h) -> (z, posterior)``, ``posterior(h)``, a ``from_config(config)`` classmethod and
    the capability attributes of :class:`Latent` (subclass it to inherit the defaults).
    """
    return LATENTS.register(name)


class Latent(nn.Module):
    """Base of the latents: the capability attributes code elsewhere asks about.

    Attributes:
        prior: p(z) of the codes (a :class:`StandardNormal`), or ``None`` when the codes follow
            no known prior: generation then needs a fitted sampler, and there is no ELBO.
        accepts_code_activation: whether ``model.code_activation`` applies to the code (a latent
            that adds noise to its code takes none).
        learns_code_density: whether the latent learns a density of its code (``density``),
            which the objective's ``rate`` term charges.
    """

    prior: StandardNormal | None = None
    accepts_code_activation = False
    learns_code_density = False
    in_features: int
    latent_dim: int

    @classmethod
    def from_config(cls, config: ModelConfig) -> Latent:
        raise NotImplementedError

    def posterior(self, h: torch.Tensor):
        """The distribution-like object of the code given encoder features ``h`` (B, in_features)."""
        raise NotImplementedError


@register_latent("deterministic")
class DeterministicLatent(Latent):
    """z = act(h); the posterior is a :class:`PointMass` at z."""

    accepts_code_activation = True

    def __init__(self, latent_dim: int, code_activation: str = "none"):
        super().__init__()
        self.latent_dim = latent_dim
        self.in_features = latent_dim
        self.act = activation(code_activation)

    @classmethod
    def from_config(cls, config: ModelConfig) -> DeterministicLatent:
        return cls(config.code_size, config.code_activation)

    def posterior(self, h: torch.Tensor) -> PointMass:
        return PointMass(self.act(h))

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, PointMass]:
        q = self.posterior(h)
        return q.mode(), q


@register_latent("gaussian")
class GaussianLatent(Latent):
    """(B, 2k) features -> μ, log σ² -> z; a sample while training, μ in eval mode.

    ::

        h (B, 2k) ──split──▶ μ (B, k)
                         └─▶ log σ² (B, k) ──soft clamp──▶ q(z|x) ──train: μ + σ·ε / eval: μ──▶ z
    """

    def __init__(self, latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.in_features = 2 * latent_dim

    @classmethod
    def from_config(cls, config: ModelConfig) -> GaussianLatent:
        return cls(config.latent_dim)

    @property
    def prior(self) -> StandardNormal:  # type: ignore[override]
        return StandardNormal(self.latent_dim)

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


@register_latent("quantised")
class QuantisedLatent(Latent):
    """A code made for entropy coding: ``z = h + u``, u ~ U(-½, ½) while training, ``z = h`` in eval.

    The additive noise stands in for rounding during training (Ballé et al. 2017, "End-to-end
    optimized image compression"), so the decoder learns to cope with quantisation error and
    :attr:`density` (a :class:`FactorizedDensity`) learns the rate the objective's ``rate`` term
    charges. Rounding itself happens in the codec (:mod:`aekit.codec`). The posterior is a
    :class:`UniformBox` around ``h``.
    """

    learns_code_density = True

    def __init__(self, latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.in_features = latent_dim
        self.density = FactorizedDensity(latent_dim)

    @classmethod
    def from_config(cls, config: ModelConfig) -> QuantisedLatent:
        return cls(config.code_size)

    def posterior(self, h: torch.Tensor) -> UniformBox:
        return UniformBox(h)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, UniformBox]:
        q = self.posterior(h)
        return (q.sample() if self.training else q.mode()), q
