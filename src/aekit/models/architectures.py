"""Architectures: how an encoder and a decoder are built for a kind of data.

Each entry of :data:`aekit.registry.ARCHITECTURES` builds ``(encoder, decoder)`` from a
:class:`~aekit.config.ModelConfig` and the latent's input width, and says which kinds of sample
it takes (``image`` ``(C, H, W)``, ``vector`` ``(D,)``, ``series`` windows ``(C, L)``). A new architecture
is one function registered with :func:`register_architecture`; config validation reads the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from ..config import ModelConfig
from ..errors import AekitError
from ..registry import ARCHITECTURES
from .blocks import auto_hidden_sizes, conv_decoder, conv_encoder, mlp_decoder, mlp_encoder
from .sequences import RecurrentDecoder, RecurrentEncoder, conv1d_decoder, conv1d_encoder, conv1d_lengths

KIND_OF_RANK = {1: "vector", 2: "series", 3: "image"}
SHAPES = {"vector": "(D,)", "series": "(C, L)", "image": "(C, H, W)"}

Builder = Callable[[ModelConfig, int], tuple[nn.Module, nn.Module]]


@dataclass(frozen=True)
class Architecture:
    name: str
    kinds: tuple[str, ...]
    build: Builder
    description: str


def register_architecture(name: str, *, kinds: tuple[str, ...], description: str) -> Callable[[Builder], Builder]:
    """Decorator: register ``build(config, latent_features) -> (encoder, decoder)`` as ``name``,
    taking the ``kinds`` of data listed (``image``, ``vector``, ``series``)."""
    def add(build: Builder) -> Builder:
        ARCHITECTURES.register(name, Architecture(name, kinds, build, description))
        return build
    return add


def resolved_hidden(config: ModelConfig) -> tuple[int, ...]:
    """The MLP hidden sizes a config stands for (``"auto"`` expanded)."""
    if config.hidden == "auto":
        return auto_hidden_sizes(config.input_size, config.latent_dim)
    return tuple(int(h) for h in config.hidden)


def sample_kind(config: ModelConfig) -> str:
    return KIND_OF_RANK[len(config.input_shape)]


def architecture_for(config: ModelConfig) -> Architecture:
    """The config's architecture, checked against the kind of data it is asked to take."""
    arch = ARCHITECTURES.get(config.architecture)
    kind = sample_kind(config)
    if kind not in arch.kinds:
        takes = [n for n, a in ARCHITECTURES.items() if kind in a.kinds]
        raise AekitError(
            f"model.architecture={config.architecture} takes {' or '.join(arch.kinds)} data; this data is "
            f"{kind} {SHAPES[kind]} = {tuple(config.input_shape)}; use an architecture that takes {kind} data "
            f"({', '.join(takes)}), e.g. the presets {_example_presets(kind)}")
    return arch


def _example_presets(kind: str) -> str:
    return "conv1d, lstm or deep" if kind == "series" else "dense, deep, denoising, sparse, contractive or vae"


def _common(config: ModelConfig) -> dict:
    return dict(act=config.activation, batch_norm=config.batch_norm, dropout=config.dropout)


@register_architecture("mlp", kinds=("image", "vector", "series"),
                       description="fully connected layers on the flattened sample")
def build_mlp(config: ModelConfig, latent_features: int) -> tuple[nn.Module, nn.Module]:
    shape = tuple(int(s) for s in config.input_shape)
    hidden = resolved_hidden(config)
    encoder = mlp_encoder(shape, hidden, latent_features, **_common(config))
    decoder = mlp_decoder(config.latent_dim, hidden, shape, **_common(config))
    return encoder, decoder


@register_architecture("conv", kinds=("image",), description="2-D conv stages, each halving H and W")
def build_conv(config: ModelConfig, latent_features: int) -> tuple[nn.Module, nn.Module]:
    shape = tuple(int(s) for s in config.input_shape)
    conv = dict(kernel_size=config.kernel_size, bottleneck=config.bottleneck, **_common(config))
    encoder = conv_encoder(shape, config.channels, latent_features, downsample=config.downsample, **conv)
    decoder = conv_decoder(config.code_size, config.channels, shape, upsample=config.upsample, **conv)
    return encoder, decoder


@register_architecture("conv1d", kinds=("series",), description="1-D conv stages over time, each halving the length")
def build_conv1d(config: ModelConfig, latent_features: int) -> tuple[nn.Module, nn.Module]:
    shape = tuple(int(s) for s in config.input_shape)
    code_channels = None
    if config.bottleneck == "spatial":
        positions = conv1d_lengths(shape[1], len(config.channels) + 1)[-1]
        if latent_features % positions:
            raise AekitError(f"model.bottleneck=spatial gives a code map of {positions} positions, which the "
                             f"{config.latent} latent's {latent_features} inputs do not fill; use "
                             "model.bottleneck=dense (e.g. for a VAE)")
        code_channels = latent_features // positions
    conv = dict(kernel_size=config.kernel_size, bottleneck=config.bottleneck, **_common(config))
    encoder = conv1d_encoder(shape, config.channels, latent_features, code_channels=code_channels, **conv)
    decoder = conv1d_decoder(config.code_size, config.channels, shape, latent_dim=config.latent_dim, **conv)
    return encoder, decoder


@register_architecture("rnn", kinds=("series",),
                       description="recurrent encoder-decoder (model.cell lstm or gru, one layer per hidden size)")
def build_rnn(config: ModelConfig, latent_features: int) -> tuple[nn.Module, nn.Module]:
    shape = tuple(int(s) for s in config.input_shape)
    hidden = resolved_hidden(config) or (int(config.latent_dim),)
    encoder = RecurrentEncoder(shape, hidden, latent_features, cell=config.cell, dropout=config.dropout)
    decoder = RecurrentDecoder(config.code_size, hidden, shape, cell=config.cell, dropout=config.dropout)
    return encoder, decoder
