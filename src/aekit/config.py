"""Frozen, typed configuration: one dataclass per concern, validated on construction.

``ModelConfig`` says what network to build, ``ObjectiveConfig`` what it is trained to minimise,
``TrainConfig`` how the optimisation runs and ``DataConfig`` where the data comes from. Each
round-trips through JSON (``to_dict`` / ``from_dict``); an unknown key is an error, never
silently dropped, so a saved run always means exactly what it says.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from .errors import AekitError
from .registry import ARCHITECTURES, CORRUPTIONS, LATENTS, LIKELIHOODS, REGULARISERS

ACTIVATIONS = ("relu", "leaky_relu", "elu", "celu", "gelu", "tanh", "sigmoid", "none")
OUTPUT_ACTIVATIONS = ("sigmoid", "none")
BOTTLENECKS = ("dense", "spatial")
INITS = ("default", "glorot")
CONTRACTIVE_METHODS = ("auto", "closed_form", "exact", "hutchinson")
BINARIZE = ("none", "dynamic", "static")
REDUCTIONS = ("mean", "sum")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = ("none", "cosine", "step", "plateau")
PRECISIONS = ("auto", "fp32", "bf16")
MEMORY_FORMATS = ("auto", "channels_last", "contiguous")
TABLE_SCALINGS = ("standard", "robust")
TABLE_UNSEEN = ("error", "other")
TABLE_IMPUTE = ("none", "median", "mean", "constant")
SAMPLE_RANKS = (1, 2, 3)  # (D,) vectors, (C, L) series windows and (C, H, W) images; see aekit.data.kinds
RNN_CELLS = ("lstm", "gru")
SERIES_GAPS = ("split", "ignore", "error")


def _check_choice(owner: str, name: str, value: Any, valid: tuple) -> None:
    if value not in valid:
        raise AekitError(f"{owner}.{name}: expected one of {', '.join(map(str, valid))}; got {value!r}")


def _check_positive(owner: str, name: str, value: Any, *, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if not ok:
        bound = "≥ 0" if allow_zero else "> 0"
        raise AekitError(f"{owner}.{name}: expected a number {bound}; got {value!r}")


class _ConfigMixin:
    """JSON round trip and string overrides shared by every config dataclass."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        if not isinstance(data, dict):
            raise AekitError(f"{cls.__name__}: expected a JSON object; got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - names)
        if unknown:
            raise AekitError(
                f"{cls.__name__}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(names))}"
            )
        hints = typing.get_type_hints(cls)
        return cls(**{k: _coerce(hints[k], v, f"{cls.__name__}.{k}") for k, v in data.items()})

    def with_overrides(self, **overrides: Any):
        """Return a copy with fields replaced; values may be strings as typed on a command line."""
        if not overrides:
            return self
        names = {f.name for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise AekitError(
                f"{type(self).__name__}: unknown key(s) {', '.join(unknown)}; "
                f"valid keys: {', '.join(sorted(names))}"
            )
        hints = typing.get_type_hints(type(self))
        values = {
            k: _parse(hints[k], v, f"{type(self).__name__}.{k}") if isinstance(v, str) else _coerce(hints[k], v, k)
            for k, v in overrides.items()
        }
        return dataclasses.replace(self, **values)  # type: ignore[type-var]


_UNION_ORIGINS = (typing.Union, types.UnionType)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    """Turn JSON values back into the annotated type (lists become tuples)."""
    if value is None:
        return None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in _UNION_ORIGINS:
        # Try the tuple branch for lists, the scalar branch otherwise.
        for arg in args:
            if arg is type(None):
                continue
            if isinstance(value, list | tuple) and typing.get_origin(arg) is tuple:
                return _coerce(arg, value, where)
            if not isinstance(value, list | tuple) and typing.get_origin(arg) is not tuple:
                return _coerce(arg, value, where)
        raise AekitError(f"{where}: value {value!r} does not fit the type {hint}")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise AekitError(f"{where}: expected a list; got {value!r}")
        inner = args[0] if args else Any
        return tuple(_coerce(inner, v, where) for v in value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _parse(hint: Any, text: str, where: str) -> Any:
    """Parse a command-line string into the annotated type ("512,256" -> (512, 256))."""
    origin = typing.get_origin(hint)
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if origin in _UNION_ORIGINS:
        if text.lower() in ("none", "null") and type(None) in typing.get_args(hint):
            return None
        errors = []
        for arg in sorted(args, key=lambda a: a is str):  # str last: it accepts anything
            try:
                return _parse(arg, text, where)
            except AekitError as err:
                errors.append(str(err))
        raise AekitError(f"{where}: cannot parse {text!r} ({'; '.join(errors)})")
    if origin is tuple:
        inner = typing.get_args(hint)[0]
        if inner is int:  # sizes may be written 64x48
            text = text.replace("x", ",")
        parts = [p for p in text.split(",") if p.strip()] if text.strip() else []
        return tuple(_parse(inner, p.strip(), where) for p in parts)
    try:
        if hint is bool:
            low = text.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if hint is int:
            return int(text)
        if hint is float:
            return float(text)
    except ValueError:
        raise AekitError(f"{where}: expected {hint.__name__}; got {text!r}") from None
    return text


@dataclass(frozen=True)
class ModelConfig(_ConfigMixin):
    """What network to build.

    Args:
        architecture: ``"mlp"`` (fully connected), ``"conv"`` (2-D convolutional stack, images),
            ``"conv1d"`` (1-D convolutions over time, series windows) or ``"rnn"`` (a recurrent
            encoder-decoder, series windows); see :mod:`aekit.models.architectures`.
        input_shape: the shape of one sample: ``(C, H, W)`` for images, ``(D,)`` for vectors,
            ``(C, L)`` for windows of a series (C channels, L time steps); set from the data at
            training time.
        latent_dim: size of the code ``z``; 0 means automatic, for rows of a table or vectors:
            a quarter of the features, from 2 to 32 (:func:`auto_latent_dim`), set when the data is seen.
        hidden: MLP hidden sizes on the encoder side (the decoder mirrors them), or ``"auto"`` to
            pick them from the input and code sizes (see :func:`aekit.models.blocks.auto_hidden_sizes`).
        channels: conv stack channel counts on the encoder side; each stage halves H and W.
        kernel_size: conv kernel size (odd).
        downsample: ``"stride"`` (stride-2 convs) or ``"pool"`` (conv then 2x2 max-pool).
        upsample: ``"transpose"`` (stride-2 transposed convs) or ``"nearest"`` (upsample then conv).
        activation: hidden-layer nonlinearity.
        code_activation: nonlinearity applied to the code (``"relu"`` in the classic shallow model).
        output_activation: ``"sigmoid"`` for data in [0, 1], ``"none"`` for normalised data.
        latent: latent type; ``"deterministic"`` for plain autoencoders, ``"gaussian"`` for VAEs
            (the encoder outputs μ and log σ² of a diagonal Gaussian posterior), ``"quantised"``
            for learned compression (uniform noise U(-½, ½) added while training, a learned
            factorised density for the rate; see :mod:`aekit.models.latents`), or any latent
            registered with :func:`aekit.models.latents.register_latent`.
        bottleneck: ``"dense"`` (conv features -> a linear layer -> a code of ``latent_dim``
            values; the default) or ``"spatial"`` (conv only: the code is a feature map of
            ``latent_dim`` channels at the lowest resolution, flattened, so it holds
            ``latent_dim * h * w`` values; see :attr:`code_size`). For ``conv1d`` the spatial
            code is one more stride-2 convolution with ``latent_dim`` filters after the
            ``channels`` stages, so it holds ``latent_dim * L / 2^(len(channels) + 1)`` values
            (the Keras time-series example's model). A spatial code keeps where
            things are, which is what denoising needs; a dense one forces real compression.
        learn_sigma: learn one σ per channel for the ``gaussian`` reconstruction likelihood
            (saved with the weights); otherwise ``objective.sigma`` is used.
        batch_norm: batch normalisation after hidden layers.
        dropout: dropout probability after hidden layers (0 disables).
        init: weight initialisation: ``"default"`` (PyTorch's layer defaults) or ``"glorot"``
            (Glorot-uniform weights, zero biases: Keras's defaults, so ``bench/vs_keras.py``
            starts both sides from the same weight distribution).
        cell: the recurrent cell of the ``rnn`` architecture: ``"lstm"`` or ``"gru"``; its
            layer sizes are ``hidden`` (one recurrent layer per entry).
    """

    architecture: str = "mlp"
    input_shape: tuple[int, ...] = (1, 28, 28)
    latent_dim: int = 32
    hidden: tuple[int, ...] | str = "auto"
    channels: tuple[int, ...] = (32, 64)
    kernel_size: int = 3
    downsample: str = "stride"
    upsample: str = "transpose"
    activation: str = "relu"
    code_activation: str = "none"
    output_activation: str = "sigmoid"
    latent: str = "deterministic"
    bottleneck: str = "dense"
    learn_sigma: bool = False
    batch_norm: bool = False
    dropout: float = 0.0
    init: str = "default"
    cell: str = "lstm"

    def __post_init__(self) -> None:
        owner = "model"
        _check_choice(owner, "cell", self.cell, RNN_CELLS)
        _check_choice(owner, "init", self.init, INITS)
        _check_choice(owner, "architecture", self.architecture, ARCHITECTURES.names())
        _check_choice(owner, "activation", self.activation, ACTIVATIONS)
        _check_choice(owner, "code_activation", self.code_activation, ACTIVATIONS)
        _check_choice(owner, "output_activation", self.output_activation, OUTPUT_ACTIVATIONS)
        _check_choice(owner, "latent", self.latent, LATENTS.names())
        if not LATENTS.get(self.latent).accepts_code_activation and self.code_activation != "none":
            raise AekitError(f"model.code_activation: a {self.latent} latent adds noise to its code: expected 'none'; "
                             f"got {self.code_activation!r}")
        _check_choice(owner, "downsample", self.downsample, ("stride", "pool"))
        _check_choice(owner, "upsample", self.upsample, ("transpose", "nearest"))
        _check_choice(owner, "bottleneck", self.bottleneck, BOTTLENECKS)
        if self.bottleneck == "spatial" and self.architecture not in ("conv", "conv1d"):
            raise AekitError(
                f"model.bottleneck=spatial needs architecture=conv or conv1d; got architecture={self.architecture!r}")
        if len(self.input_shape) not in SAMPLE_RANKS or any(int(s) <= 0 for s in self.input_shape):
            raise AekitError(f"model.input_shape: expected (C, H, W) for images, (C, L) for series windows or (D,) "
                             f"for vectors, positive ints; got {self.input_shape!r}")
        if self.bottleneck == "spatial" and len(self.input_shape) == 1:
            raise AekitError(f"model.bottleneck=spatial needs images (C, H, W) or series windows (C, L); got "
                             f"input_shape {self.input_shape!r}")
        _check_positive(owner, "latent_dim", self.latent_dim, allow_zero=True)
        if isinstance(self.hidden, str):
            if self.hidden != "auto":
                raise AekitError(f"model.hidden: expected a list of sizes or 'auto'; got {self.hidden!r}")
        elif any(int(h) <= 0 for h in self.hidden):
            raise AekitError(f"model.hidden: expected positive sizes; got {self.hidden!r}")
        if not self.channels or any(int(c) <= 0 for c in self.channels):
            raise AekitError(f"model.channels: expected one or more positive ints; got {self.channels!r}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise AekitError(f"model.kernel_size: expected an odd size ≥ 1; got {self.kernel_size!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise AekitError(f"model.dropout: expected a probability in [0, 1); got {self.dropout!r}")

    @property
    def input_size(self) -> int:
        return math.prod(int(s) for s in self.input_shape)

    @property
    def code_size(self) -> int:
        """Values in one code ``z``: ``latent_dim``, times ``h * w`` for a spatial bottleneck."""
        if self.bottleneck != "spatial":
            return int(self.latent_dim)
        if len(self.input_shape) == 2:  # conv1d: the channels stages, then the stride-2 code conv
            length = int(self.input_shape[1])
            for _ in range(len(self.channels) + 1):
                length = (length + 1) // 2
            return int(self.latent_dim) * length
        _, h, w = (int(s) for s in self.input_shape)
        for _ in self.channels:  # each conv stage halves H and W, rounding up
            h, w = (h + 1) // 2, (w + 1) // 2
        return int(self.latent_dim) * h * w


@dataclass(frozen=True)
class ObjectiveConfig(_ConfigMixin):
    """What the model is trained to minimise.

    Args:
        reconstruction: ``"bce"`` (Bernoulli likelihood, for data in [0, 1]) or ``"mse"``.
            ``"gaussian"`` is the Gaussian negative log-likelihood with σ = ``sigma`` (or learned,
            see ``ModelConfig.learn_sigma``); or any term registered with
            :func:`aekit.objectives.reconstruction.register_likelihood`.
        reduction: ``"mean"`` averages the reconstruction term over pixels and the batch (the
            number then reads as a per-pixel error); ``"sum"`` sums over pixels and averages over
            the batch (the per-sample negative log-likelihood convention of VAEs). A VAE's KL
            term is summed over latent dimensions, and divided by the pixel count under ``"mean"``.
        corruption: noise applied to each training batch, in order, as spec strings such as
            ``"gaussian:0.5"``, ``"salt_pepper:0.3"``, ``"masking:0.25"``, ``"blocks:10"``,
            ``"speckle:0.4"`` (see :mod:`aekit.objectives.corruptions`); the clean batch stays
            the target. Empty: no corruption.
        l1: weight of the L1 penalty on the code, ``l1 * sum_j |z_j|`` per sample.
        sparsity: weight ``beta`` of the KL sparsity penalty ``beta * sum_j KL(rho || rho_hat_j)``,
            where ``rho_hat_j`` is unit j's mean activation over the batch (needs a sigmoid code).
        sparsity_target: the target activation rate ``rho`` of that penalty, in (0, 1).
        contractive: weight ``lambda`` of the contractive penalty ``lambda * ||dz/dx||_F^2``.
        contractive_method: ``auto`` (closed form for a one-layer encoder, else exact),
            ``closed_form``, ``exact`` (batched vector-Jacobian products, one per code unit) or
            ``hutchinson`` (unbiased estimate from ``contractive_probes`` random projections).
        contractive_probes: random projections per sample for ``hutchinson``.
        rate: weight of the rate term (learned compression): the estimated bits per pixel of the
            code under the model's learned factorised density, for ``model.latent=quantised``
            (additive uniform noise while training); the loss is ``recon + rate * bpp``.
        beta: weight of the KL term of probabilistic latents (β-VAE; 1 is the ELBO).
        kl_warmup: epochs over which the KL weight rises linearly from 0 to ``beta`` (0: off).
        free_bits: nats per latent dimension below which the KL is not penalised (0: off).
        binarize: ``"dynamic"`` draws Bernoulli(pixel) images afresh for every batch (the
            binarised-MNIST convention); ``"static"`` binarises each image the same way every
            time; both replace input and target. Needs data in [0, 1].
        sigma: σ of the ``gaussian`` likelihood when it is not learned, in model-space units.
        regularisers: more penalties as ``"name:weight"`` specs, for registered regularisers
            that have no field of their own here (one added with
            :func:`aekit.objectives.regularisers.register_regulariser`), e.g. ``("orthogonal:0.1",)``.
    """

    reconstruction: str = "bce"
    reduction: str = "mean"
    corruption: tuple[str, ...] = ()
    l1: float = 0.0
    sparsity: float = 0.0
    sparsity_target: float = 0.05
    contractive: float = 0.0
    contractive_method: str = "auto"
    contractive_probes: int = 1
    rate: float = 0.0
    beta: float = 1.0
    kl_warmup: float = 0.0
    free_bits: float = 0.0
    binarize: str = "none"
    sigma: float = 1.0
    regularisers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        owner = "objective"
        _check_choice(owner, "reconstruction", self.reconstruction, LIKELIHOODS.names())
        _check_choice(owner, "reduction", self.reduction, REDUCTIONS)
        _check_choice(owner, "binarize", self.binarize, BINARIZE)
        if isinstance(self.corruption, str):
            raise AekitError(f"objective.corruption: expected a list of specs; got the string {self.corruption!r}")
        for spec in self.corruption:
            name = str(spec).split(":", 1)[0].strip().lower().replace("-", "_")
            if name not in CORRUPTIONS:  # parameters are checked when the Objective is built
                raise AekitError(f"objective.corruption: expected specs like gaussian:0.5 named one of "
                                 f"{', '.join(CORRUPTIONS.names())}; got {spec!r}")
        _check_regulariser_specs(self)
        for name in ("l1", "sparsity", "contractive", "beta", "kl_warmup", "free_bits", "rate"):
            _check_positive(owner, name, getattr(self, name), allow_zero=True)
        if not 0.0 < self.sparsity_target < 1.0:
            raise AekitError(f"objective.sparsity_target: expected a rate in (0, 1); got {self.sparsity_target!r}")
        _check_choice(owner, "contractive_method", self.contractive_method, CONTRACTIVE_METHODS)
        _check_positive(owner, "contractive_probes", self.contractive_probes)
        _check_positive(owner, "sigma", self.sigma)


def _check_regulariser_specs(config: ObjectiveConfig) -> None:
    """``objective.regularisers``: ``name:weight`` of registered regularisers without a field of their own."""
    if isinstance(config.regularisers, str):
        raise AekitError(f"objective.regularisers: expected a list of name:weight specs; got the string "
                         f"{config.regularisers!r}")
    seen: set[str] = set()
    for spec in config.regularisers:
        name, sep, weight = str(spec).partition(":")
        name = name.strip()
        if name not in REGULARISERS:
            raise AekitError(f"objective.regularisers: expected name:weight specs naming one of "
                             f"{', '.join(REGULARISERS.names())}; got {spec!r}")
        field_name = REGULARISERS.get(name).weight_field
        if field_name is not None:
            raise AekitError(f"objective.regularisers: {name!r} has its own field: set objective.{field_name} "
                             f"instead of listing {spec!r}")
        if name in seen:
            raise AekitError(f"objective.regularisers: {name!r} is listed twice")
        seen.add(name)
        try:
            value = float(weight) if sep else float("nan")
        except ValueError:
            value = float("nan")
        if not value >= 0 or value == float("inf"):
            raise AekitError(f"objective.regularisers: expected {name}:WEIGHT with a finite weight ≥ 0; "
                             f"got {spec!r}")


AUTO_EPOCHS = 20
AUTO_MIN_SAMPLES = 300_000
AUTO_MAX_EPOCHS = 500


AUTO_MAX_LATENT = 32


def auto_latent_dim(features: int) -> int:
    """The code size of ``latent_dim=0`` on rows of ``features`` values: a quarter of them, from 2
    to ``AUTO_MAX_LATENT`` (a code as wide as the rows would just copy them)."""
    return int(min(AUTO_MAX_LATENT, max(2, features // 4)))


def auto_epochs(n_train: int) -> int:
    """Epochs when none are given: 20, or enough passes to see 300k samples on small data."""
    return int(min(AUTO_MAX_EPOCHS, max(AUTO_EPOCHS, -(-AUTO_MIN_SAMPLES // max(1, n_train)))))


@dataclass(frozen=True)
class TrainConfig(_ConfigMixin):
    """How the optimisation runs.

    Args:
        epochs: passes over the training split; 0 means automatic: 20, or more on small
            datasets so that training sees at least 300,000 samples (at most 500 epochs).
        batch_size: samples per optimisation step.
        epoch_samples: samples drawn per epoch, afresh each epoch from ``(seed, epoch)``; more
            than the training split repeats it (0: every training sample once per epoch).
            Rows of a table get it from the table recipe when ``epochs`` is 0.
        lr: learning rate.
        optimizer: ``adam`` (default), ``adamw``, ``sgd`` (momentum 0.9) or ``rmsprop``.
        weight_decay: L2 penalty passed to the optimizer.
        schedule: learning-rate schedule: ``none``, ``cosine`` (to 0 over all epochs), ``step``
            (x0.1 at 50% and 75% of the epochs) or ``plateau`` (x0.5 after 3 flat val epochs).
        early_stopping: stop after this many epochs without a better validation loss (0: off).
        seed: seeds initialisation, shuffling and noise; the same seed gives the same run.
        device: ``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda``, ``cuda:1``, ...
        threads: CPU threads for PyTorch (0: PyTorch's default, but one thread for small MLPs on
            rows of a table, which run faster on one).
        precision: ``auto`` (default: bf16 for conv models on a CPU with native bf16, else
            fp32; see :mod:`aekit.train.speed`), ``fp32`` or ``bf16`` (autocast of the forward
            pass; the loss stays fp32).
        memory_format: ``auto`` (default: channels-last for conv models on CPU),
            ``channels_last`` or ``contiguous``.
        compile: run the training step through ``torch.compile``.
        checkpoint_every: also write a resumable checkpoint every N steps (0: once per epoch).
        grad_clip: clip the global gradient norm to this value (0: off).
    """

    epochs: int = 0
    batch_size: int = 256
    epoch_samples: int = 0
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    schedule: str = "none"
    early_stopping: int = 0
    seed: int = 0
    device: str = "auto"
    threads: int = 0
    precision: str = "auto"
    memory_format: str = "auto"
    compile: bool = False
    checkpoint_every: int = 0
    grad_clip: float = 0.0

    def __post_init__(self) -> None:
        owner = "train"
        _check_positive(owner, "epochs", self.epochs, allow_zero=True)
        _check_positive(owner, "batch_size", self.batch_size)
        _check_positive(owner, "epoch_samples", self.epoch_samples, allow_zero=True)
        _check_positive(owner, "lr", self.lr)
        _check_positive(owner, "weight_decay", self.weight_decay, allow_zero=True)
        _check_positive(owner, "early_stopping", self.early_stopping, allow_zero=True)
        _check_positive(owner, "threads", self.threads, allow_zero=True)
        _check_positive(owner, "checkpoint_every", self.checkpoint_every, allow_zero=True)
        _check_positive(owner, "grad_clip", self.grad_clip, allow_zero=True)
        _check_choice(owner, "optimizer", self.optimizer, OPTIMIZERS)
        _check_choice(owner, "schedule", self.schedule, SCHEDULES)
        _check_choice(owner, "precision", self.precision, PRECISIONS)
        _check_choice(owner, "memory_format", self.memory_format, MEMORY_FORMATS)
        if not (self.device in ("auto", "cpu", "cuda", "mps") or self.device.startswith("cuda:")):
            raise AekitError(f"train.device: expected auto, cpu, cuda, cuda:N or mps; got {self.device!r}")


@dataclass(frozen=True)
class DataConfig(_ConfigMixin):
    """Where the training data comes from and how it is split.

    Args:
        dataset: a built-in name (:func:`aekit.data.dataset_names`), ``default`` (MNIST when found
            locally, else digits), or a path to an image folder or a ``.npy``/``.npz`` file.
        data_dir: folder holding the dataset files (default: ``$AEKIT_DATA``).
        val_fraction: share of the training split held out for validation.
        test_fraction: share held out for testing when the source has no test split.
        limit: keep only this many training images (quick runs).
        image_size: resize image-folder inputs to this ``(H, W)``.
        image_channels: force 1 (grayscale) or 3 (RGB) channels for image-folder inputs.
        normalize: standardise each channel with the training mean and std (the model's output
            activation must then be ``none``); for vectors and tables, each numeric feature.
        scaling: how a table's numeric columns are standardised: ``standard`` (mean, std) or
            ``robust`` (median, interquartile range).
        unseen: a category a table's column did not have in training: ``error``, or ``other``
            (an explicit slot for it).
        impute: missing values in a table: ``none`` (an error naming rows and columns),
            ``median``, ``mean`` or ``constant`` (``fill_value``), fitted on the training split.
        fill_value: the value ``impute=constant`` puts in a numeric column.
        label_column: a table's column of labels, kept out of the features (used to measure
            detection when present).
        id_column: a table's column of row ids, kept out of the features (keys the outputs).
        window: time steps per window of a series (kind ``series``); required for series.
        stride: steps between the starts of consecutive training windows of a series.
        timestamp_column: the series' timestamp column (``None``: ``timestamp`` when the data has
            one, else none: samples are taken as equally spaced).
        value_columns: the series' value columns (empty: every column but the timestamp).
        gaps: what a series' gaps (a step longer than ``gap_factor`` times the regular step)
            do: ``split`` (windows stay inside the gap-free segments; a segment shorter than a
            window is reported and not scored), ``ignore`` (the samples are windowed as if
            equally spaced; the gaps are still reported) or ``error``.
        gap_factor: a step longer than this multiple of the series' regular (median) step is a gap.
    """

    dataset: str = "default"
    data_dir: str | None = None
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    limit: int | None = None
    image_size: tuple[int, ...] | None = None
    image_channels: int | None = None
    normalize: bool = False
    scaling: str = "standard"
    unseen: str = "error"
    impute: str = "none"
    fill_value: float = 0.0
    label_column: str | None = None
    id_column: str | None = None
    window: int | None = None
    stride: int = 1
    timestamp_column: str | None = None
    value_columns: tuple[str, ...] = ()
    gaps: str = "split"
    gap_factor: float = 1.5

    def __post_init__(self) -> None:
        _check_choice("data", "scaling", self.scaling, TABLE_SCALINGS)
        _check_choice("data", "gaps", self.gaps, SERIES_GAPS)
        if self.window is not None and int(self.window) < 2:
            raise AekitError(f"data.window: expected a window of at least 2 time steps; got {self.window!r}")
        _check_positive("data", "stride", self.stride)
        if not self.gap_factor > 1.0:
            raise AekitError(f"data.gap_factor: expected a multiple of the regular step > 1; got {self.gap_factor!r}")
        _check_choice("data", "unseen", self.unseen, TABLE_UNSEEN)
        _check_choice("data", "impute", self.impute, TABLE_IMPUTE)
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise AekitError(f"data.{name}: expected a fraction in [0, 1); got {value!r}")
        if self.limit is not None:
            _check_positive("data", "limit", self.limit)
        if self.image_channels not in (None, 1, 3):
            raise AekitError(f"data.image_channels: expected 1 or 3; got {self.image_channels!r}")
        if self.image_size is not None and (
            len(self.image_size) not in (1, 2) or any(int(s) <= 0 for s in self.image_size)
        ):
            raise AekitError(f"data.image_size: expected H or HxW; got {self.image_size!r}")


@dataclass(frozen=True)
class RunConfig(_ConfigMixin):
    """Everything that defines a training run, as saved in ``run.json``."""

    preset: str = "deep"
    model: ModelConfig = field(default_factory=ModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        if not isinstance(data, dict):
            raise AekitError(f"RunConfig: expected a JSON object; got {type(data).__name__}")
        parts = {"model": ModelConfig, "objective": ObjectiveConfig, "train": TrainConfig, "data": DataConfig}
        unknown = sorted(set(data) - set(parts) - {"preset"})
        if unknown:
            raise AekitError(f"RunConfig: unknown key(s) {', '.join(unknown)}")
        kwargs: dict[str, Any] = {k: parts[k].from_dict(data[k]) for k in parts if k in data}
        if "preset" in data:
            kwargs["preset"] = data["preset"]
        return cls(**kwargs)
