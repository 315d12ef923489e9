"""The autoencoder variants, as data.

Each preset is a partial model config plus a partial objective config (and, rarely, training
defaults). A new variant costs one entry here; there is no class per variant. The input shape
is never part of a preset: it comes from the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .config import DataConfig, ModelConfig, ObjectiveConfig, RunConfig, TrainConfig
from .errors import AekitError


@dataclass(frozen=True)
class Preset:
    description: str
    model: dict[str, Any] = field(default_factory=dict)
    objective: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)


PRESETS: dict[str, Preset] = {
    "dense": Preset(
        "shallow: one dense layer each side, ReLU code, sigmoid output, BCE (784→32→784 on MNIST)",
        model=dict(architecture="mlp", hidden=(), code_activation="relu"),
        objective=dict(reconstruction="bce"),
    ),
    "deep": Preset(
        "stacked dense layers; hidden sizes given or chosen automatically, linear code",
        model=dict(architecture="mlp", hidden="auto", activation="relu"),
        objective=dict(reconstruction="bce"),
        # picked in a tuning run on MNIST (k=32, 20 epochs) over batch 256 / lr 1e-3; bench/code_sizes.py
        # gives its result (MSE 0.0061); the comparison itself is not a bench script
        train=dict(batch_size=128, lr=2e-3),
    ),
    "conv": Preset(
        "strided conv encoder, transposed-conv decoder, dense bottleneck of size latent_dim",
        model=dict(architecture="conv", channels=(32, 64), downsample="stride", upsample="transpose"),
        objective=dict(reconstruction="bce"),
        train=dict(batch_size=128, lr=2e-3),  # MNIST k=32, 20 epochs: MSE 0.0038
    ),
    "denoising": Preset(
        "deep (stacked dense) trained to undo noise: fresh Gaussian noise (sigma 0.5) on every batch, "
        "clean target; --noise picks another",
        model=dict(architecture="mlp", hidden="auto", activation="relu"),
        objective=dict(reconstruction="bce", corruption=("gaussian:0.5",)),
    ),
    "conv-denoising": Preset(
        "conv denoiser: strided conv stages, a dense code of 256 values (global context), Gaussian noise "
        "sigma 0.5 on every batch (--noise for others); batch 128, lr 2e-3, cosine schedule",
        model=dict(architecture="conv", channels=(32, 64), bottleneck="dense", latent_dim=256,
                   downsample="stride", upsample="transpose"),
        objective=dict(reconstruction="bce", corruption=("gaussian:0.5",)),
        train=dict(batch_size=128, lr=2e-3, schedule="cosine"),
    ),
    "conv-denoising-spatial": Preset(
        "fully convolutional denoiser: the code is a feature map (latent_dim channels per position of the "
        "lowest resolution), local context only; Gaussian noise sigma 0.5",
        model=dict(architecture="conv", channels=(32, 32), bottleneck="spatial", latent_dim=32,
                   downsample="stride", upsample="transpose"),
        objective=dict(reconstruction="bce", corruption=("gaussian:0.5",)),
        train=dict(batch_size=128, lr=2e-3, schedule="cosine"),
    ),
    "sparse": Preset(
        "shallow dense with a ReLU code and an L1 penalty on it (objective.l1); "
        "KL to a target rate with model.code_activation=sigmoid and objective.sparsity",
        model=dict(architecture="mlp", hidden=(), code_activation="relu"),
        objective=dict(reconstruction="bce", l1=1e-4),
    ),
    "contractive": Preset(
        "shallow dense with a sigmoid code and the penalty lambda*||dz/dx||_F^2, lambda 1e-3 on the per-pixel "
        "loss scale (closed form here; exact batched VJPs for deeper encoders); batch 32",
        model=dict(architecture="mlp", hidden=(), code_activation="sigmoid"),
        objective=dict(reconstruction="bce", contractive=1e-3),
        # A sigmoid code sits on a plateau (outputs near the mean image) for many epochs at batch 256;
        # batch 32 left it in the first epoch in tuning runs (not a bench script; bench/latent_mnist.py
        # reports the preset's result).
        train=dict(batch_size=32),
    ),
    "vae": Preset(
        "variational: MLP 512-256, Gaussian latent (μ, log σ²), Bernoulli likelihood + β·KL, summed per sample",
        model=dict(architecture="mlp", hidden=(512, 256), latent="gaussian"),
        objective=dict(reconstruction="bce", reduction="sum"),
    ),
    "conv-vae": Preset(
        "variational conv: strided conv encoder / transposed-conv decoder, Gaussian latent, Bernoulli + β·KL",
        model=dict(architecture="conv", channels=(32, 64), latent="gaussian"),
        objective=dict(reconstruction="bce", reduction="sum"),
    ),
    "codec": Preset(
        "learned compression: conv encoder/decoder, a 64-value code with uniform noise while training and a "
        "learned factorised density; MSE + rate·(bits per pixel); compress with aekit compress",
        model=dict(architecture="conv", channels=(32, 64), latent="quantised", latent_dim=64),
        objective=dict(reconstruction="mse", rate=0.01),
        train=dict(batch_size=128, lr=2e-3),
    ),
    # ----------------------------------------------------------------- windows of a time series (C, L)
    "conv1d": Preset(
        "time series: the Keras example's model (\"Timeseries anomaly detection using an Autoencoder\"): Conv1D 32 "
        "then 16 filters (the code), kernel 7, stride 2, ReLU, dropout 0.2, Conv1DTranspose mirror; MSE, Adam "
        "lr 1e-3, batch 128, up to 50 epochs with early stopping after 5",
        model=dict(architecture="conv1d", channels=(32,), latent_dim=16, kernel_size=7, bottleneck="spatial",
                   code_activation="relu", dropout=0.2),
        objective=dict(reconstruction="mse"),
        train=dict(batch_size=128, lr=1e-3, epochs=50, early_stopping=5),
    ),
    "conv1d-denoising": Preset(
        "time series: conv1d trained to undo Gaussian noise (sigma 0.2 standard deviations of each channel) on "
        "every batch, clean target",
        model=dict(architecture="conv1d", channels=(32,), latent_dim=16, kernel_size=7, bottleneck="spatial",
                   code_activation="relu", dropout=0.2),
        objective=dict(reconstruction="mse", corruption=("gaussian:0.2",)),
        train=dict(batch_size=128, lr=1e-3, epochs=50, early_stopping=5),
    ),
    "conv1d-vae": Preset(
        "time series, variational: Conv1D stages 32, 16 (kernel 7, stride 2), a dense Gaussian code of 16, "
        "Gaussian likelihood + beta*KL summed per window",
        model=dict(architecture="conv1d", channels=(32, 16), latent_dim=16, kernel_size=7, bottleneck="dense",
                   latent="gaussian"),
        objective=dict(reconstruction="gaussian", reduction="sum"),
        train=dict(batch_size=128, lr=1e-3, epochs=50, early_stopping=5),
    ),
    "lstm": Preset(
        "time series: recurrent encoder-decoder, one LSTM layer of 64 each side, a code of 16 repeated over the "
        "window; model.cell=gru for GRUs; MSE",
        model=dict(architecture="rnn", cell="lstm", hidden=(64,), latent_dim=16),
        objective=dict(reconstruction="mse"),
        train=dict(batch_size=128, lr=1e-3, epochs=30, early_stopping=5),
    ),
    "lstm-vae": Preset(
        "time series, variational: the lstm encoder-decoder with a Gaussian code of 16, Gaussian likelihood + "
        "beta*KL summed per window",
        model=dict(architecture="rnn", cell="lstm", hidden=(64,), latent_dim=16, latent="gaussian"),
        objective=dict(reconstruction="gaussian", reduction="sum"),
        train=dict(batch_size=128, lr=1e-3, epochs=30, early_stopping=5),
    ),
}


_SECTIONS = {"model": ModelConfig, "objective": ObjectiveConfig, "train": TrainConfig, "data": DataConfig}


def route_overrides(overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Send flat keyword overrides (``latent_dim=32, epochs=5``) to the config that owns them.

    Dotted keys (``"model.hidden"``) name the section explicitly.
    """
    routed: dict[str, dict[str, Any]] = {name: {} for name in _SECTIONS}
    owners: dict[str, str] = {}
    for section, cls in _SECTIONS.items():
        for f in cls.__dataclass_fields__:
            owners.setdefault(f, section)
    for key, value in overrides.items():
        if "." in key:
            section, field_name = key.split(".", 1)
            if section not in _SECTIONS:
                raise AekitError(f"unknown config section {section!r} in {key!r}; valid: {', '.join(_SECTIONS)}")
            routed[section][field_name] = value
        elif key in owners:
            routed[owners[key]][key] = value
        else:
            raise AekitError(f"unknown option {key!r}; valid options: {', '.join(sorted(owners))}")
    return routed


def preset_names() -> list[str]:
    return sorted(PRESETS)


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise AekitError(f"unknown preset {name!r}; valid presets: {', '.join(preset_names())}") from None


def kind_defaults(kind: str, spec: Preset) -> dict[str, dict[str, Any]]:
    """Settings a kind of data needs beyond the preset, applied before the caller's overrides.

    Images keep the presets as written (intensities in [0, 1], sigmoid output, BCE). Vectors are
    standardised features with no fixed range: a linear output, squared error (a Gaussian
    likelihood for VAEs, so the loss stays a negative ELBO) and standardisation on; so are the
    windows of a series (each channel standardised with the training series' mean and std).
    """
    if kind == "image":
        return {"model": {}, "objective": {}, "data": {}}
    if kind == "series":  # windows standardised per channel; the presets' code sizes stay
        probabilistic = spec.model.get("latent") == "gaussian"
        return {"model": {"output_activation": "none"},
                "objective": {"reconstruction": "gaussian" if probabilistic else "mse"},
                "data": {"normalize": True}}
    if kind in ("vector", "table"):  # a table is standardised/one-hot features in model space
        probabilistic = spec.model.get("latent") == "gaussian"
        return {"model": {"output_activation": "none", "latent_dim": 0},  # 0: a quarter of the features
                "objective": {"reconstruction": "gaussian" if probabilistic else "mse"},
                "data": {"normalize": True}}
    raise AekitError(f"expected a kind of data in image, vector, table, series; got {kind!r}")


def build_run_config(
    preset: str,
    *,
    input_shape: tuple[int, ...] | None = None,
    kind: str = "image",
    model: dict[str, Any] | None = None,
    objective: dict[str, Any] | None = None,
    train: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
) -> RunConfig:
    """Preset defaults, the kind of data's defaults, then the caller's overrides (strings allowed,
    as typed on a command line)."""
    spec = get_preset(preset)
    extra = kind_defaults(kind, spec)
    model_cfg = ModelConfig().with_overrides(**spec.model).with_overrides(**extra["model"]) \
        .with_overrides(**(model or {}))
    if input_shape is not None:
        model_cfg = model_cfg.with_overrides(input_shape=tuple(int(s) for s in input_shape))
    return RunConfig(
        preset=preset,
        model=model_cfg,
        objective=ObjectiveConfig().with_overrides(**spec.objective).with_overrides(**extra["objective"])
        .with_overrides(**(objective or {})),
        train=TrainConfig().with_overrides(**spec.train).with_overrides(**(train or {})),
        data=DataConfig().with_overrides(**extra["data"]).with_overrides(**(data or {})),
    )
