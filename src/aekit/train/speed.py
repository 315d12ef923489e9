"""Which speed settings a training run uses: numeric precision and memory layout.

``train.precision`` and ``train.memory_format`` default to ``auto``; this module turns ``auto``
into a concrete choice from the model, its objective and the device. Each automatic choice is
on only where ``bench/speed_options.py`` measured a gain on that kind of model and device *and*
a full training run ended within tolerance of float32 (see the README's "Measured" section):

- channels-last on CPU for convolutional models: oneDNN convolutions, pooling and upsampling
  then run without layout reorders around each layer.
- bf16 autocast on CPU for convolutional models, when the CPU computes bf16 natively (AMX or
  AVX512-BF16; elsewhere it is emulated, which no run here measured). Dense models measured no
  gain from bf16 (0.93x per step for 784-32-784), so they stay in float32, as
  do VAEs, whose likelihood is the number users compare (the MLP VAE's ELBO came out 0.9 %
  worse after 4 epochs), and the contractive penalty and the codec's rate term, which no
  tolerance run covers.

Nothing automatic happens on CUDA or MPS: no measurement backs it there yet, so those keep
float32 and the default layout unless asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..config import TrainConfig
from ..objectives.regularisers import regulariser_weights
from ..registry import REGULARISERS

CONV_LAYERS = (nn.Conv2d, nn.ConvTranspose2d)


def has_conv_layers(model: nn.Module) -> bool:
    return any(isinstance(m, CONV_LAYERS) for m in model.modules())


def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bf16 matrix instructions (AMX tiles or AVX512-BF16)."""
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")  # torch >= 2.3; absent: assume not
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


@dataclass(frozen=True)
class SpeedSettings:
    precision: str  # "fp32" or "bf16"
    channels_last: bool
    reason: str  # one line for the log: why ``auto`` chose this

    def describe(self) -> str:
        layout = "channels-last" if self.channels_last else "default layout"
        return f"{self.precision}, {layout} ({self.reason})"


def resolve(config: TrainConfig, model: nn.Module, device: torch.device, objective: Any = None) -> SpeedSettings:
    """Concrete precision and layout for ``model`` trained on ``objective`` on ``device``."""
    on_cpu = device.type == "cpu"
    conv_on_cpu = on_cpu and has_conv_layers(model)
    precision, channels_last = config.precision, config.memory_format == "channels_last"
    reasons = []
    if config.memory_format == "auto":
        channels_last = conv_on_cpu
        reasons.append("conv model on CPU" if conv_on_cpu else "no conv layers on CPU" if on_cpu else device.type)
    if config.precision == "auto":
        terms = getattr(objective, "config", None)
        untested = [f"the {name} term" for name in (regulariser_weights(terms) if terms is not None else ())
                    if REGULARISERS.get(name).needs_fp32]
        if getattr(getattr(model, "latent", None), "prior", None) is not None:
            untested.append("a VAE")  # the KL and the reparameterised sample are untested under bf16
        native = conv_on_cpu and cpu_has_native_bf16()
        precision = "bf16" if native and not untested else "fp32"
        if conv_on_cpu:
            reasons.append("CPU has native bf16" if native else "CPU lacks native bf16")
        if native and untested:
            reasons.append(f"fp32 for {' and '.join(untested)}")
    return SpeedSettings(precision, channels_last, "; ".join(reasons) or "as configured")


def apply_layout(model: nn.Module, settings: SpeedSettings) -> nn.Module:
    """Puts conv weights in channels-last order when asked (their outputs follow that layout)."""
    return model.to(memory_format=torch.channels_last) if settings.channels_last else model


def match_state_layout(optimizer: torch.optim.Optimizer) -> None:
    """Gives each per-weight optimizer tensor its weight's strides.

    ``load_state_dict`` restores moments in the saved (contiguous) layout, while the weights
    may be channels-last; the fused Adam kernel walks a weight and its moments as flat memory,
    so the two must agree element for element.
    """
    for group in optimizer.param_groups:
        for p in group["params"]:
            state = optimizer.state.get(p, {})
            for key, value in state.items():
                if torch.is_tensor(value) and value.shape == p.shape and value.stride() != p.stride():
                    state[key] = torch.empty_like(p, dtype=value.dtype).copy_(value)
