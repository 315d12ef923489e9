"""Encoders and decoders for windows of a time series, ``(B, C, L)``: 1-D convolutions and recurrent nets.

A window is channels first, ``(C, L)``: C channels (the series' value columns) by L time steps,
the layout of ``torch.nn.Conv1d`` (and of images' ``(C, H, W)``). The recurrent blocks
transpose to ``(B, L, C)`` inside.

``conv1d`` (the model of the Keras example "Timeseries anomaly detection using an Autoencoder",
with ``channels=(32,)``, ``latent_dim=16``, kernel 7 and a spatial code)::

    x (B,C,L) ─Conv1d s2─▶ (B,32,L/2) ─...─▶ code: Conv1d s2 (B,16,L/4) ─latent─▶ z
    z ─ConvT1d s2─▶ (B,16,L/2) ─ConvT1d s2─▶ (B,32,L) ─ConvT1d s1─▶ logits (B,C,L)

With a ``dense`` bottleneck the stages are followed by a linear layer to the code instead, and
the decoder starts with a linear layer back to the last stage's map.

``rnn`` (LSTM or GRU; the "RepeatVector" sequence autoencoder)::

    x (B,C,L) ─▶ (B,L,C) ─LSTM(h1)─...─LSTM(hn)─▶ last state (B,hn) ─Linear─▶ latent ─▶ z
    z ─Linear─▶ (B,hn) ─repeat L times, + a learned vector per step─▶ (B,L,hn) ─LSTM(hn)─...─LSTM(h1)─▶
      Linear ─▶ (B,C,L)

Decoders end in a plain layer producing logits, like every aekit decoder.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .blocks import activation


def conv1d_lengths(length: int, stages: int) -> list[int]:
    """Length after each stride-2 stage (padding k // 2, odd k): ceil(L / 2) per stage."""
    sizes = [int(length)]
    for _ in range(stages):
        sizes.append((sizes[-1] + 1) // 2)
    return sizes


def _stage(conv: nn.Module, act: str, batch_norm: bool, dropout: float, width: int) -> list[nn.Module]:
    mods: list[nn.Module] = [conv]
    if batch_norm:
        mods.append(nn.BatchNorm1d(width))
    mods.append(activation(act))
    if dropout > 0:
        mods.append(nn.Dropout(dropout))
    return mods


def conv1d_encoder(input_shape: Sequence[int], channels: Sequence[int], out_features: int, *, act: str,
                   kernel_size: int = 7, bottleneck: str = "spatial", code_channels: int | None = None,
                   batch_norm: bool = False, dropout: float = 0.0) -> nn.Sequential:
    """(B, C, L) -> (B, out_features).

    Each entry of ``channels`` is a stride-2 convolution (activation, optional dropout). A
    ``spatial`` bottleneck adds one more stride-2 convolution with ``code_channels`` filters and
    no activation (the latent applies ``code_activation``), flattened channel-major; ``dense``
    flattens the last stage and maps it to ``out_features`` with a linear layer.
    """
    c_in, length = (int(s) for s in input_shape)
    pad = kernel_size // 2
    layers: list[nn.Module] = []
    for width in channels:
        layers += _stage(nn.Conv1d(c_in, width, kernel_size, stride=2, padding=pad), act, batch_norm, dropout, width)
        c_in = width
    if bottleneck == "spatial":
        assert code_channels is not None
        layers += [nn.Conv1d(c_in, code_channels, kernel_size, stride=2, padding=pad), nn.Flatten()]
    else:
        n = conv1d_lengths(length, len(channels))[-1]
        layers += [nn.Flatten(), nn.Linear(c_in * n, out_features)]
    return nn.Sequential(*layers)


def conv1d_decoder(code_size: int, channels: Sequence[int], output_shape: Sequence[int], *, act: str,
                   kernel_size: int = 7, bottleneck: str = "spatial", latent_dim: int | None = None,
                   batch_norm: bool = False, dropout: float = 0.0) -> nn.Sequential:
    """(B, code_size) -> (B, C, L) logits, mirroring :func:`conv1d_encoder`.

    Stride-2 transposed convolutions walk the encoder's widths back (``output_padding`` per stage
    restores every length exactly, odd lengths included), then a stride-1 transposed convolution
    maps to the C output channels.
    """
    c_out, length = (int(s) for s in output_shape)
    pad = kernel_size // 2
    widths = list(channels) + ([int(latent_dim)] if bottleneck == "spatial" else [])  # type: ignore[arg-type]
    sizes = conv1d_lengths(length, len(widths))
    if bottleneck == "spatial":
        layers: list[nn.Module] = [nn.Unflatten(1, (widths[-1], sizes[-1]))]
    else:
        layers = [nn.Linear(code_size, widths[-1] * sizes[-1]), activation(act),
                  nn.Unflatten(1, (widths[-1], sizes[-1]))]
    c_in = widths[-1]
    for stage, width in enumerate(reversed(widths)):  # up one stride-2 stage per encoder stage
        l_in, l_out = sizes[len(widths) - stage], sizes[len(widths) - stage - 1]
        conv = nn.ConvTranspose1d(c_in, width, kernel_size, stride=2, padding=pad, output_padding=l_out - 2 * l_in + 1)
        layers += _stage(conv, act, batch_norm, dropout, width)
        c_in = width
    layers.append(nn.ConvTranspose1d(c_in, c_out, kernel_size, stride=1, padding=pad))
    return nn.Sequential(*layers)


class _Recurrent(nn.Module):
    """Stacked recurrent layers of the given sizes over (B, L, F) -> (B, L, sizes[-1])."""

    def __init__(self, cell: str, n_in: int, sizes: Sequence[int], dropout: float):
        super().__init__()
        kind = nn.LSTM if cell == "lstm" else nn.GRU
        self.layers = nn.ModuleList()
        for size in sizes:
            self.layers.append(kind(n_in, size, batch_first=True))
            n_in = size
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x, _ = layer(x)
            if i < len(self.layers) - 1:
                x = self.dropout(x)
        return x


class RecurrentEncoder(nn.Module):
    """(B, C, L) -> (B, out_features): recurrent layers over time, the last step's output, a linear layer."""

    def __init__(self, input_shape: Sequence[int], hidden: Sequence[int], out_features: int, *, cell: str,
                 dropout: float = 0.0):
        super().__init__()
        channels = int(input_shape[0])
        self.rnn = _Recurrent(cell, channels, hidden, dropout)
        self.head = nn.Linear(int(hidden[-1]), out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.rnn(x.transpose(1, 2))  # (B, L, C) -> (B, L, h_n)
        return self.head(h[:, -1])  # (B, out_features)


class RecurrentDecoder(nn.Module):
    """(B, k) -> (B, C, L) logits: a linear layer, the state repeated over L steps plus a learned
    position vector per step, recurrent layers in reverse order, a linear read-out per step."""

    def __init__(self, latent_dim: int, hidden: Sequence[int], output_shape: Sequence[int], *, cell: str,
                 dropout: float = 0.0):
        super().__init__()
        channels, self.length = (int(s) for s in output_shape)
        sizes = tuple(reversed(tuple(int(h) for h in hidden)))
        self.expand = nn.Linear(latent_dim, sizes[0])
        # A learned vector per step, added to the repeated code: the decoder knows where in the window
        # it is from the first update on, instead of having to count steps from a constant input.
        self.position = nn.Parameter(0.1 * torch.randn(self.length, sizes[0]))
        self.rnn = _Recurrent(cell, sizes[0], sizes, dropout)
        self.readout = nn.Linear(sizes[-1], channels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.expand(z).unsqueeze(1) + self.position  # (B, 1, h_n) + (L, h_n) -> (B, L, h_n)
        return self.readout(self.rnn(h)).transpose(1, 2)  # (B, C, L)
