"""Reconstruction terms: how far the decoder's output is from the clean target.

Every term returns a per-sample value (B,) so the caller chooses the batch reduction, and
sums over pixels when ``reduction == "sum"`` (the per-sample negative log-likelihood of VAEs)
or averages over them when ``"mean"`` (reads as a per-pixel error).

The likelihoods of a VAE's decoder p(x|z) are here too: ``bce`` is the Bernoulli negative
log-likelihood (exact for binary targets; see :func:`binarize`), ``gaussian`` the Gaussian one
with a fixed or learned σ. Both are in nats, so with ``reduction="sum"`` the VAE loss
``recon + kl`` is the negative ELBO of each sample, averaged over the batch.

Each term is registered with :func:`register_likelihood` (in :data:`aekit.registry.LIKELIHOODS`)
together with what the rest of aekit asks of it: its per-pixel values, which distribution it is
the likelihood of, whether it needs outputs in [0, 1] or reads σ.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..config import ObjectiveConfig
from ..errors import AekitError
from ..models import AEOutput
from ..registry import LIKELIHOODS

LOG_2PI = math.log(2 * math.pi)


def _reduce_pixels(per_pixel: torch.Tensor, reduction: str) -> torch.Tensor:
    flat = per_pixel.flatten(1)
    return flat.sum(1) if reduction == "sum" else flat.mean(1)


def mse(out: AEOutput, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Squared error per sample, (B,)."""
    return _reduce_pixels((out.x_hat.float() - target) ** 2, reduction)


def bce(out: AEOutput, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Binary cross-entropy per sample, (B,), from logits (stable, and safe under autocast).

    Targets are intensities in [0, 1], not only {0, 1}: this is the Bernoulli likelihood used by
    the classic autoencoder examples; its minimum is the target's entropy, not 0.
    """
    logits = out.logits.float()
    if not logits.requires_grad or target.requires_grad or target.shape != logits.shape:
        return _reduce_pixels(F.binary_cross_entropy_with_logits(logits, target, reduction="none"), reduction)
    return _BCEPerSample.apply(logits, target, reduction == "sum")


class _BCEPerSample(torch.autograd.Function):
    """Per-sample BCE from logits in fewer passes over the pixels than the composed ops.

    Forward: ``softplus(z) − t·z = max(z, 0) − t·z + log(1 + e^{−|z|})``, mostly in place;
    backward: ``(σ(z) − t) · g / n`` (``/ n`` only for the per-pixel mean). ``log`` of a value in
    (1, 2] stands in for ``log1p``: below ``e^{−|z|} ≈ 6e-8`` the term rounds to 0, an absolute
    error under 6e-8 nats per pixel. The gradient is exact.
    """

    @staticmethod
    def forward(ctx, logits: torch.Tensor, target: torch.Tensor, summed: bool) -> torch.Tensor:
        ctx.save_for_backward(logits, target)
        ctx.summed = summed
        per_pixel = logits.abs().neg_().exp_().add_(1).log_()
        per_pixel.add_(logits.clamp(min=0)).addcmul_(target, logits, value=-1)
        flat = per_pixel.flatten(1)
        return flat.sum(1) if summed else flat.mean(1)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor):
        logits, target = ctx.saved_tensors
        scale = grad if ctx.summed else grad / logits[0].numel()
        return torch.sigmoid(logits).sub_(target).mul_(scale.view(-1, *([1] * (logits.ndim - 1)))), None, None


def gaussian(out: AEOutput, target: torch.Tensor, reduction: str = "mean", sigma: float = 1.0) -> torch.Tensor:
    """Gaussian negative log-likelihood per sample, (B,) nats: −log N(x; x_hat, σ²) per pixel.

    ``½((x − x_hat)/σ)² + log σ + ½ log 2π`` per pixel, with σ the model's learned per-channel
    value when it has one (``out.log_sigma``), else ``sigma``. With σ fixed this is MSE/(2σ²)
    plus a constant, so σ sets the balance against the KL term of a VAE.
    """
    return _reduce_pixels(_gaussian_nll(out, target, sigma), reduction)


# ----------------------------------------------------------------------------- the registry
Term = Callable[..., torch.Tensor]  # term(out, target, reduction[, sigma=...]) -> (B,)


@dataclass(frozen=True)
class Likelihood:
    """A registered reconstruction term (``objective.reconstruction``).

    Attributes:
        name: its name in the config.
        term: ``term(out, target, reduction)`` -> per-sample value (B,); with ``uses_sigma``
            also a ``sigma=`` keyword (``objective.sigma``).
        pixel_nll: ``pixel_nll(out, target, sigma)`` -> the per-pixel value (B, C, H, W) that
            ``term`` sums or averages (used for anomaly maps).
        distribution: the decoder's likelihood p(x|z) in words (``"bernoulli"``,
            ``"gaussian"``), or ``None`` when the term is a plain error, not a likelihood.
        needs_unit_outputs: needs outputs in [0, 1] (``model.output_activation=sigmoid``).
        uses_sigma: reads σ (``objective.sigma``, or the model's learned one: ``model.learn_sigma``).
        description: one line for help texts.
    """

    name: str
    term: Term
    pixel_nll: Callable[[AEOutput, torch.Tensor, float], torch.Tensor]
    distribution: str | None = None
    needs_unit_outputs: bool = False
    uses_sigma: bool = False
    description: str = ""


def register_likelihood(name: str, *, pixel_nll: Callable[[AEOutput, torch.Tensor, float], torch.Tensor],
                        distribution: str | None = None, needs_unit_outputs: bool = False,
                        uses_sigma: bool = False, description: str = "") -> Callable[[Term], Term]:
    """Register ``term(out, target, reduction) -> (B,)`` as ``objective.reconstruction=name``."""
    def add(term: Term) -> Term:
        LIKELIHOODS.register(name, Likelihood(name, term, pixel_nll, distribution, needs_unit_outputs, uses_sigma,
                                              description))
        return term
    return add


def _squared_error(out: AEOutput, target: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    return (target - out.x_hat.float()).pow(2)


def _bernoulli_nll(out: AEOutput, target: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(out.logits.float(), target, reduction="none")


def _gaussian_nll(out: AEOutput, target: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    x_hat = out.x_hat.float()
    if out.log_sigma is not None:
        log_sigma = out.log_sigma.float().view(1, -1, *([1] * (x_hat.ndim - 2)))
    else:
        log_sigma = torch.tensor(math.log(sigma), device=x_hat.device)
    per_pixel = 0.5 * ((target - x_hat) * torch.exp(-log_sigma)).pow(2) + log_sigma + 0.5 * LOG_2PI
    return per_pixel.expand_as(x_hat)


register_likelihood("mse", pixel_nll=_squared_error, description="squared error")(mse)
register_likelihood("bce", pixel_nll=_bernoulli_nll, distribution="bernoulli", needs_unit_outputs=True,
                    description="binary cross-entropy: a Bernoulli likelihood, for data in [0, 1]")(bce)
register_likelihood("gaussian", pixel_nll=_gaussian_nll, distribution="gaussian", uses_sigma=True,
                    description="a Gaussian likelihood with σ fixed (objective.sigma) or learned")(gaussian)


def reconstruction_term(config: ObjectiveConfig) -> Callable[[AEOutput, torch.Tensor, str], torch.Tensor]:
    """The reconstruction term an :class:`ObjectiveConfig` names, with its settings bound."""
    kind = LIKELIHOODS.get(config.reconstruction)
    return functools.partial(kind.term, sigma=config.sigma) if kind.uses_sigma else kind.term


# ----------------------------------------------------------------------------- binarisation
_M31 = 2**31 - 1
_STATIC_SEED = 20140101


def _check_unit(x: torch.Tensor) -> None:
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        raise AekitError(
            f"objective.binarize needs intensities in [0, 1]; got values in [{lo:.3g}, {hi:.3g}] "
            "(normalised data cannot be binarised: drop data.normalize or set objective.binarize=none)"
        )


def static_uniforms(x: torch.Tensor) -> torch.Tensor:
    """Uniforms in (0, 1) shaped like ``x`` that depend only on the image's own pixels.

    Each image is keyed by a weighted sum of its 8-bit pixel values; the key and each pixel's
    index are then mixed by a few rounds of an integer hash (xor-shift and multiply, all
    modulo 2^31 − 1 in int64, so nothing overflows). The same image therefore always gets the
    same uniforms, on any device and in any batch: a static binarisation without storing a
    second copy of the dataset.
    """
    flat = x.detach().flatten(1)
    n_pixels = flat.shape[1]
    g = torch.Generator().manual_seed(_STATIC_SEED)
    weights = torch.randint(1, _M31, (n_pixels,), generator=g).to(x.device)
    levels = (flat.float() * 255).round().long()
    key = (levels * weights).sum(1) % _M31  # (B,)
    v = (key[:, None] * 48271 + torch.arange(n_pixels, device=x.device) * 69621 + 12345) % _M31
    for _ in range(3):
        v = v ^ (v >> 13)
        v = (v * 1103515245 + 12345) % _M31
        v = v ^ (v >> 7)
    return ((v.double() + 0.5) / _M31).float().view_as(x)


def binarize(x: torch.Tensor, mode: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """Binary images drawn from intensities: pixel ~ Bernoulli(x).

    Args:
        x: intensities in [0, 1], (B, C, H, W).
        mode: ``"none"`` (returns ``x``), ``"dynamic"`` (fresh draws from ``generator`` on every
            call: every epoch sees new binary images, which regularises; Salakhutdinov & Murray
            2008 used one fixed draw, later work the dynamic one) or ``"static"`` (the same draw
            for the same image every time, see :func:`static_uniforms`).
        generator: source of the dynamic draws.
    """
    if mode == "none":
        return x
    _check_unit(x)
    if mode == "dynamic":
        u = torch.rand(x.shape, generator=generator, device=x.device, dtype=torch.float32)
    elif mode == "static":
        u = static_uniforms(x)
    else:
        raise AekitError(f"objective.binarize: expected none, dynamic or static; got {mode!r}")
    return (u < x).to(x.dtype)
