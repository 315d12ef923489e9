"""The one autoencoder class every preset builds."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..config import ModelConfig
from ..errors import AekitError
from ..registry import LATENTS
from .architectures import architecture_for
from .latents import DiagonalGaussian, soft_clamp

# A learned likelihood σ (``ModelConfig.learn_sigma``) stays in [e^-6, e^2]: a σ that could
# shrink without bound would let the Gaussian likelihood run off to -inf on easy pixels.
LOG_SIGMA_RANGE = (-6.0, 2.0)


@dataclass(eq=False)
class AEOutput:
    """What a forward pass returns.

    Attributes:
        logits: decoder output before the output activation, (B, C, H, W).
        z: the code, (B, code_size): ``latent_dim`` values, or a flattened spatial code map.
        posterior: the latent's distribution-like object q(z|x), with ``sample()``, ``mode()``
            and ``kl()`` (see :mod:`aekit.models.latents`); its ``prior`` is ``None`` for codes
            measured against no prior (their ``kl()`` is 0).
        log_sigma: learned log σ per channel of a Gaussian likelihood, (C,), else ``None``.
        output_activation: ``"sigmoid"`` or ``"none"``: how ``x_hat`` follows from ``logits``.
        x_hat: the reconstruction in model space, computed on first use: a loss on logits
            (BCE) never pays for it.
    """

    logits: torch.Tensor
    z: torch.Tensor
    posterior: Any = None
    log_sigma: torch.Tensor | None = None
    output_activation: str = "none"

    @functools.cached_property
    def x_hat(self) -> torch.Tensor:
        return torch.sigmoid(self.logits) if self.output_activation == "sigmoid" else self.logits


class Autoencoder(nn.Module):
    """encoder -> latent -> decoder, composed from parts.

    ::

        x (B,C,H,W) ──encoder──▶ h (B,F) ──latent──▶ z (B,k) ──decoder──▶ logits ──σ──▶ x_hat

    Works on tensors in *model space* (scaled and normalised as the recorded preprocessing
    says); :class:`aekit.Model` is the user-facing wrapper that takes images as users have them.
    """

    def __init__(self, encoder: nn.Module, latent: nn.Module, decoder: nn.Module,
                 output_activation: str = "sigmoid", input_shape: tuple[int, ...] | None = None,
                 learn_sigma: bool = False):
        super().__init__()
        self.encoder = encoder
        self.latent = latent
        self.decoder = decoder
        self.output_activation = output_activation
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        if learn_sigma:
            channels = self.input_shape[0] if self.input_shape is not None else 1
            self.raw_log_sigma = nn.Parameter(torch.zeros(channels))

    def check_input(self, x: torch.Tensor) -> None:
        if self.input_shape is not None and tuple(x.shape[1:]) != self.input_shape:
            raise AekitError(
                f"expected a batch of shape (B, {', '.join(map(str, self.input_shape))}); got {tuple(x.shape)}"
            )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, k) code; the posterior mean for probabilistic latents in eval mode."""
        self.check_input(x)
        z, _ = self.latent(self.encoder(x))
        return z

    def posterior(self, x: torch.Tensor) -> DiagonalGaussian:
        """(B, C, H, W) -> q(z|x) with ``mean``, ``std``, ``sample``, ``kl``, ``log_prob``."""
        self.check_input(x)
        if self.latent.prior is None:
            raise AekitError("posterior() needs a probabilistic latent (model.latent=gaussian); "
                             "this model's codes are deterministic: use encode()")
        return self.latent.posterior(self.encoder(x))

    @property
    def log_sigma(self) -> torch.Tensor | None:
        """The learned log σ per channel of a Gaussian likelihood, or ``None``."""
        raw = getattr(self, "raw_log_sigma", None)
        return None if raw is None else soft_clamp(raw, *LOG_SIGMA_RANGE)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def activate(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits) if self.output_activation == "sigmoid" else logits

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, k) -> (B, C, H, W) reconstruction in model space."""
        return self.activate(self.decode_logits(z))

    def forward(self, x: torch.Tensor) -> AEOutput:
        self.check_input(x)
        z, posterior = self.latent(self.encoder(x))
        logits = self.decode_logits(z)
        return AEOutput(logits, z, posterior, self.log_sigma, self.output_activation)


def build_latent(config: ModelConfig) -> nn.Module:
    """The registered latent ``config.latent`` names (see :func:`aekit.models.latents.register_latent`)."""
    return LATENTS.get(config.latent).from_config(config)


def build_model(config: ModelConfig) -> Autoencoder:
    """Build the network a :class:`ModelConfig` describes."""
    latent = build_latent(config)
    shape = tuple(int(s) for s in config.input_shape)
    encoder, decoder = architecture_for(config).build(config, latent.in_features)
    model = Autoencoder(encoder, latent, decoder, config.output_activation, input_shape=shape,
                        learn_sigma=config.learn_sigma)
    if config.init == "glorot":
        for layer in model.modules():
            if isinstance(layer, nn.Linear | nn.Conv1d | nn.Conv2d | nn.ConvTranspose1d | nn.ConvTranspose2d):
                nn.init.xavier_uniform_(layer.weight)
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)
    return model
