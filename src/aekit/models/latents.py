"""Latent layers: what sits between the encoder's features and the code ``z``.

A latent takes the encoder's ``in_features`` outputs and returns ``(z, posterior)``. The
deterministic latent returns the (optionally activated) features as the code and no posterior.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import activation


class DeterministicLatent(nn.Module):
    """z = act(h); no posterior."""

    def __init__(self, latent_dim: int, code_activation: str = "none"):
        super().__init__()
        self.latent_dim = latent_dim
        self.in_features = latent_dim
        self.act = activation(code_activation)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.act(h), None
