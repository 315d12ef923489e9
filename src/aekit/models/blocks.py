"""Building blocks: activations, the automatic MLP sizing rule, MLP and conv stacks.

Encoders end in a plain linear layer of ``out_features`` units (the latent decides what those
mean); decoders end in a plain layer producing *logits*, so the output activation lives in one
place (:class:`~aekit.models.autoencoder.Autoencoder`) and losses can use the stable
``*_with_logits`` forms.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

_ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "elu": nn.ELU,
    "celu": nn.CELU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "none": nn.Identity,
}


# Activations that never decrease (max(f(a), f(b)) = f(max(a, b))); GELU dips below zero.
MONOTONIC = frozenset({"relu", "leaky_relu", "elu", "celu", "tanh", "sigmoid", "none"})


def activation(name: str) -> nn.Module:
    return _ACTIVATIONS[name]()


def auto_hidden_sizes(n_in: int, n_code: int) -> tuple[int, ...]:
    """Hidden sizes between an input of ``n_in`` and a code of ``n_code`` units.

    The first hidden layer is the largest power of two not above the geometric middle
    ``sqrt(n_in * n_code)``; each further layer is a quarter of the previous one (two powers of
    two down), while it stays above the code size. 784 → 16 gives (64,), 784 → 32 gives (128,),
    784 → 2 gives (32, 8), 3072 → 64 gives (256,).
    """
    sizes: list[int] = []
    width = 2 ** int(math.floor(math.log2(math.sqrt(n_in * n_code))))
    while n_code < width < n_in:
        sizes.append(width)
        width //= 4
    return tuple(sizes)


def _hidden_layer(layer: nn.Module, width: int, act: str, batch_norm: bool, dropout: float, conv: bool):
    mods: list[nn.Module] = [layer]
    if batch_norm:
        mods.append(nn.BatchNorm2d(width) if conv else nn.BatchNorm1d(width))
    mods.append(activation(act))
    if dropout > 0:
        mods.append(nn.Dropout(dropout))
    return mods


def mlp_encoder(
    input_shape: Sequence[int], hidden: Sequence[int], out_features: int, *, act: str,
    batch_norm: bool = False, dropout: float = 0.0,
) -> nn.Sequential:
    """(B, C, H, W) -> (B, out_features): flatten, hidden layers, a final linear layer."""
    n_in = math.prod(input_shape)
    layers: list[nn.Module] = [nn.Flatten()]
    for width in hidden:
        layers += _hidden_layer(nn.Linear(n_in, width), width, act, batch_norm, dropout, conv=False)
        n_in = width
    layers.append(nn.Linear(n_in, out_features))
    return nn.Sequential(*layers)


def mlp_decoder(
    latent_dim: int, hidden: Sequence[int], output_shape: Sequence[int], *, act: str,
    batch_norm: bool = False, dropout: float = 0.0,
) -> nn.Sequential:
    """(B, latent_dim) -> (B, C, H, W) logits: hidden layers in reverse order, then unflatten."""
    n_in = latent_dim
    layers: list[nn.Module] = []
    for width in reversed(tuple(hidden)):
        layers += _hidden_layer(nn.Linear(n_in, width), width, act, batch_norm, dropout, conv=False)
        n_in = width
    layers += [nn.Linear(n_in, math.prod(output_shape)), nn.Unflatten(1, tuple(output_shape))]
    return nn.Sequential(*layers)


def conv_feature_sizes(height: int, width: int, stages: int) -> list[tuple[int, int]]:
    """Spatial size after each stride-2 (or ceil-mode pooling) stage: ceil(s / 2) per stage."""
    sizes = [(height, width)]
    for _ in range(stages):
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    return sizes


def conv_encoder(
    input_shape: Sequence[int], channels: Sequence[int], out_features: int, *, act: str,
    kernel_size: int = 3, downsample: str = "stride", batch_norm: bool = False, dropout: float = 0.0,
    bottleneck: str = "dense",
) -> nn.Sequential:
    """(B, C, H, W) -> (B, out_features).

    Each stage halves H and W (rounding up, so any input size works), either with a stride-2
    conv or a conv followed by 2x2 max-pooling. With the ``dense`` bottleneck a linear layer
    then maps the flattened feature map to the code, which keeps the bottleneck explicit and
    smaller than the input. With ``spatial`` a last conv maps the (h, w) feature map to
    ``out_features / (h * w)`` channels, flattened: the encoder is fully convolutional and
    the code keeps its layout, ``(B, c, h, w)`` read row-major.
    """
    c_in, height, width = (int(s) for s in input_shape)
    pad = kernel_size // 2
    layers: list[nn.Module] = []
    for c_out in channels:
        if downsample == "stride":
            conv = nn.Conv2d(c_in, c_out, kernel_size, stride=2, padding=pad)
            layers += _hidden_layer(conv, c_out, act, batch_norm, dropout, conv=True)
        else:
            conv = nn.Conv2d(c_in, c_out, kernel_size, padding=pad)
            stage = _hidden_layer(conv, c_out, act, batch_norm, dropout, conv=True)
            pool = nn.MaxPool2d(2, ceil_mode=True)
            if act in MONOTONIC and not dropout:
                # Max-pooling commutes with a non-decreasing activation, so pooling first gives the
                # same output and gradients while the activation touches 4x fewer values.
                stage.insert(len(stage) - 1, pool)
            else:
                stage.append(pool)
            layers += stage
        c_in = c_out
    h, w = conv_feature_sizes(height, width, len(channels))[-1]
    if bottleneck == "spatial":
        assert out_features % (h * w) == 0, (out_features, h, w)
        layers += [nn.Conv2d(c_in, out_features // (h * w), kernel_size, padding=pad), nn.Flatten()]
    else:
        layers += [nn.Flatten(), nn.Linear(c_in * h * w, out_features)]
    return nn.Sequential(*layers)


def conv_decoder(
    latent_dim: int, channels: Sequence[int], output_shape: Sequence[int], *, act: str,
    kernel_size: int = 3, upsample: str = "transpose", batch_norm: bool = False, dropout: float = 0.0,
    bottleneck: str = "dense",
) -> nn.Sequential:
    """(B, latent_dim) -> (B, C, H, W) logits, mirroring :func:`conv_encoder` stage by stage.

    ``latent_dim`` is the flat code size; a ``spatial`` code is unflattened to its
    ``(latent_dim / (h * w), h, w)`` map and widened by a conv, a ``dense`` one by a linear layer.

    Transposed convs pick ``output_padding`` per stage so every intermediate size matches the
    encoder's exactly (odd sizes included); ``nearest`` upsamples to the recorded size and
    then convolves, which avoids checkerboard artefacts at a little more compute.
    """
    c_out, height, width = (int(s) for s in output_shape)
    sizes = conv_feature_sizes(height, width, len(channels))
    pad = kernel_size // 2
    h, w = sizes[-1]
    if bottleneck == "spatial":
        assert latent_dim % (h * w) == 0, (latent_dim, h, w)
        layers: list[nn.Module] = [nn.Unflatten(1, (latent_dim // (h * w), h, w)),
                                   nn.Conv2d(latent_dim // (h * w), channels[-1], kernel_size, padding=pad),
                                   activation(act)]
    else:
        layers = [nn.Linear(latent_dim, channels[-1] * h * w), activation(act),
                  nn.Unflatten(1, (channels[-1], h, w))]
    targets = list(reversed(channels[:-1])) + [c_out]
    c_in = channels[-1]
    for stage, c_next in enumerate(targets):
        h_in, w_in = sizes[len(channels) - stage]
        h_out, w_out = sizes[len(channels) - stage - 1]
        last = stage == len(targets) - 1
        if upsample == "transpose":
            conv: nn.Module = nn.ConvTranspose2d(
                c_in, c_next, kernel_size, stride=2, padding=pad,
                output_padding=(h_out - 2 * h_in + 1, w_out - 2 * w_in + 1),
            )
            layers.append(conv) if last else layers.extend(
                _hidden_layer(conv, c_next, act, batch_norm, dropout, conv=True))
        else:
            layers.append(nn.Upsample(size=(h_out, w_out), mode="nearest"))
            conv = nn.Conv2d(c_in, c_next, kernel_size, padding=pad)
            layers.append(conv) if last else layers.extend(
                _hidden_layer(conv, c_next, act, batch_norm, dropout, conv=True))
        c_in = c_next
    return nn.Sequential(*layers)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@torch.no_grad()
def layer_table(module: nn.Module, example: torch.Tensor) -> list[dict]:
    """One row per leaf layer: name, type, output shape (without batch) and parameter count."""
    rows: list[dict] = []
    hooks = []
    for name, sub in module.named_modules():
        if len(list(sub.children())) == 0:
            def hook(mod, _inp, out, name=name):
                shape = tuple(out.shape[1:]) if isinstance(out, torch.Tensor) else None
                rows.append({"layer": name, "type": type(mod).__name__, "output": shape,
                             "params": count_parameters(mod)})
            hooks.append(sub.register_forward_hook(hook))
    try:
        module(example)
    finally:
        for h in hooks:
            h.remove()
    return rows
