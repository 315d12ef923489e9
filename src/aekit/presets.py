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


# The recipe for rows of a table, chosen on the ADBench dev sets (bench/adbench.py,
# bench/results/adbench.md). AnomalyDetector() on rows and `aekit train --dataset rows.csv` both
# follow it: a bounded number of optimisation steps whatever the number of rows, so a 600,000-row
# table costs what a 13,000-row one does and an unsupervised fit has too few steps to learn to
# reconstruct the outliers among its rows.
ROW_PRESET = "denoising"  # what rows train when no preset is named
ROW_PRESETS = ("dense", "deep", "denoising", "sparse", "contractive", "vae")  # the MLP presets, for rows
ROW_STEPS = 500  # optimisation steps at most ...
ROW_PASSES = 40  # ... and at most this many passes over the training rows (small tables) ...
ROW_MIN_STEPS = 30  # ... but at least this many steps
ROW_EPOCHS = 10  # the steps run as this many epochs of steps * batch / ROW_EPOCHS rows each
ROW_BATCH = 256
ROW_LR = 1e-3

# The preset trained when none is named, per kind of data.
DEFAULT_PRESETS = {"image": "deep", "vector": "deep", "table": ROW_PRESET, "series": "conv1d"}


def row_steps(rows: int, batch_size: int) -> int:
    """Optimisation steps on ``rows`` training rows: ``ROW_PASSES`` passes, within
    [``ROW_MIN_STEPS``, ``ROW_STEPS``]."""
    return int(min(ROW_STEPS, max(ROW_MIN_STEPS, -(-ROW_PASSES * rows // batch_size))))


def row_schedule(rows: int, batch_size: int) -> tuple[int, int]:
    """The table recipe's ``(epochs, rows drawn per epoch)`` for ``rows`` training rows (fewer
    training rows than an epoch draws are repeated)."""
    return ROW_EPOCHS, max(1, row_steps(rows, batch_size) * batch_size // ROW_EPOCHS)


def kind_defaults(kind: str, spec: Preset) -> dict[str, dict[str, Any]]:
    """Settings a kind of data needs beyond the preset, applied before the caller's overrides.

    Images keep the presets as written (intensities in [0, 1], sigmoid output, BCE). Vectors are
    standardised features with no fixed range: a linear output, squared error (a Gaussian
    likelihood for VAEs, so the loss stays a negative ELBO) and standardisation on; so are the
    windows of a series (each channel standardised with the training series' mean and std). Rows
    of a table also take the table recipe: batch 256, lr 1e-3, hidden sizes chosen for the
    columns, and (with ``epochs`` 0) the recipe's step budget (:func:`row_schedule`).
    """
    if kind == "image":
        return {"model": {}, "objective": {}, "data": {}, "train": {}}
    probabilistic = spec.model.get("latent") == "gaussian"
    likelihood = {"reconstruction": "gaussian" if probabilistic else "mse"}
    if kind == "series":  # windows standardised per channel; the presets' code sizes stay
        return {"model": {"output_activation": "none"}, "objective": likelihood, "data": {"normalize": True},
                "train": {}}
    if kind in ("vector", "table"):  # a table is standardised/one-hot features in model space
        model: dict[str, Any] = {"output_activation": "none", "latent_dim": 0}  # 0: a quarter of the features
        train: dict[str, Any] = {}
        if kind == "table":  # the table recipe (ROW_* above); epochs 0 becomes its step budget
            train = {"batch_size": ROW_BATCH, "lr": ROW_LR}
            if spec.model.get("hidden"):  # hidden sizes written for images (the vae's 512-256) follow the columns
                model["hidden"] = "auto"
        return {"model": model, "objective": likelihood, "data": {"normalize": True}, "train": train}
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
        train=TrainConfig().with_overrides(**spec.train).with_overrides(**extra["train"])
        .with_overrides(**(train or {})),
        data=DataConfig().with_overrides(**extra["data"]).with_overrides(**(data or {})),
    )
