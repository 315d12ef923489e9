"""Training in memory: data in, a trained :class:`~aekit.model.Model` out, nothing written.

``aekit.fit(x, preset="deep", epochs=5)`` is the library call; ``aekit.train`` (a run folder with
checkpoints, resume, DDP, evaluation and a report, :mod:`aekit.runs.train`) is built on the same
pieces here: :func:`prepare_run` completes a config from the data and builds its objective,
:func:`make_batches` puts the data on the device, :func:`train_module` builds the network and
runs :func:`aekit.train.loop.fit`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from .config import RunConfig, auto_epochs, auto_latent_dim
from .data.kinds import KINDS, as_samples, fit_preprocessing, infer_kind
from .data.preprocess import Preprocessing
from .data.series import is_series, read_series, split_series
from .data.splits import split_off
from .data.tables import is_table, table_features
from .errors import AekitError
from .model import Model, resolve_device
from .models import Autoencoder, build_model
from .objectives import Objective, build_objective
from .presets import build_run_config, route_overrides, row_schedule
from .train import distributed
from .train.loop import FitResult, InMemoryBatches, ShardedBatches, shard_indices
from .train.loop import fit as fit_loop

log = logging.getLogger(__name__)

IN_MEMORY = "in-memory"  # DataConfig.dataset of a model fitted on arrays


def prepare_run(run: RunConfig, preprocessing: Preprocessing, n_train: int,
                device: torch.device) -> tuple[RunConfig, Objective]:
    """Complete ``run`` from the data (the input shape; the epochs when 0, automatic) and build
    its objective: the one built for training, so a bad combination fails before anything is
    trained or written.
    """
    run = replace(run, model=run.model.with_overrides(input_shape=preprocessing.input_shape))
    if run.model.latent_dim == 0:
        latent = auto_latent_dim(int(np.prod(preprocessing.input_shape)))
        run = replace(run, model=run.model.with_overrides(latent_dim=latent))
        log.info("latent_dim not given: a code of %d values for %s", latent, preprocessing.describe_input()[:60])
    if run.train.epochs == 0 and preprocessing.kind == "table":  # the table recipe's step budget
        epochs, drawn = row_schedule(n_train, run.train.batch_size)
        run = replace(run, train=replace(run.train, epochs=epochs, epoch_samples=run.train.epoch_samples or drawn))
        log.info("epochs not given: the table recipe, %d epochs of %d rows drawn from %d training rows (%d steps)",
                 epochs, run.train.epoch_samples, n_train, epochs * -(-run.train.epoch_samples // run.train.batch_size))
    elif run.train.epochs == 0:
        run = replace(run, train=replace(run.train, epochs=auto_epochs(n_train)))
        log.info("epochs not given: training %d epochs (%d training samples)", run.train.epochs, n_train)
    if run.data.normalize and run.model.output_activation == "sigmoid":
        raise AekitError(
            "data.normalize=true standardises inputs, which a sigmoid output cannot reproduce; "
            "also set model.output_activation=none and objective.reconstruction=mse"
        )
    return run, build_objective(run.objective, run.model, data_range=preprocessing.model_range(device))


# Below this many parameters an MLP step is too small to split across threads: on rows of a table
# one thread ran 22x faster than two on a busy 2-core machine (a one-off CLI run on 40k donors rows,
# not a bench script).
SMALL_MODEL_PARAMS = 100_000


def set_threads(run: RunConfig, device: torch.device, world: distributed.World) -> int:
    """Set PyTorch's CPU threads for training ``run``; returns the count before, to restore."""
    before = torch.get_num_threads()
    if run.train.threads:
        torch.set_num_threads(run.train.threads)
    elif world.distributed and device.type == "cpu":
        torch.set_num_threads(distributed.threads_per_rank(world))  # N processes share the cores
    elif device.type == "cpu" and len(run.model.input_shape) == 1 and _mlp_params(run) < SMALL_MODEL_PARAMS:
        torch.set_num_threads(1)  # small MLPs on rows: thread start-up and sync cost more than they save
    return before


def _mlp_params(run: RunConfig) -> int:
    return sum(p.numel() for p in build_model(run.model).parameters())


def take(samples: Any, index: np.ndarray) -> Any:
    """Rows ``index`` of an array or of a table's frame."""
    return samples.iloc[index].reset_index(drop=True) if hasattr(samples, "iloc") else samples[index]


def as_kind(x: Any, kind: str, what: str) -> Any:
    """Data as users have it -> what ``kind``'s preprocessing fits on (a frame for tables)."""
    return table_features(x, what) if kind == "table" else as_samples(x, kind, what)


def make_batches(run: RunConfig, preprocessing: Preprocessing, train: np.ndarray, val: np.ndarray | None, *,
                 device: torch.device, world: distributed.World) -> tuple[InMemoryBatches, InMemoryBatches | None]:
    """Training and validation batches on ``device``; under DDP each process holds only its shard."""
    size = run.train.batch_size
    if world.distributed:
        if run.train.epoch_samples:
            raise AekitError("train.epoch_samples draws one process's epochs; data-parallel training takes every "
                             "sample once per epoch: set --set train.epoch_samples=0 (with --epochs N) or drop --nproc")
        mine = shard_indices(len(train), size, world.rank, world.size)
        train_batches: InMemoryBatches = ShardedBatches(
            preprocessing.to_storage(take(train, mine)).to(device), len(train), size, preprocessing, shuffle=True,
            seed=run.train.seed, rank=world.rank, world_size=world.size)
    else:
        train_batches = InMemoryBatches(preprocessing.to_storage(train).to(device), size, preprocessing,
                                        shuffle=True, seed=run.train.seed, epoch_samples=run.train.epoch_samples)
    val_batches = None
    if val is not None and len(val):
        val_batches = InMemoryBatches(preprocessing.to_storage(val).to(device), max(size, 1024), preprocessing,
                                      shuffle=False)
    return train_batches, val_batches


def train_module(run: RunConfig, objective: Objective, train: InMemoryBatches, val: InMemoryBatches | None, *,
                 device: torch.device, progress: bool = False, **fit_options: Any) -> tuple[Autoencoder, FitResult]:
    """Build the network ``run`` describes and train it with ``objective``; returns the best weights.

    ``fit_options`` go to :func:`aekit.train.loop.fit` (``resume_from``, ``save_checkpoint``,
    ``on_best``, ``callbacks``).
    """
    torch.manual_seed(run.train.seed)
    module = build_model(run.model).to(device)
    result = fit_loop(module, objective, train, val, run.train, device=device, progress=progress, **fit_options)
    module.load_state_dict(result.best_state)
    return module.eval(), result


def fit(x: Any, preset: str = "deep", *, validation: Any = None, kind: str = "auto", device: str = "auto",
        progress: bool = False, save_to: str | os.PathLike | None = None, **options: Any) -> Model:
    """Train an autoencoder on data in memory and return it; nothing is written unless ``save_to`` is given.

    Args:
        x: training data as a NumPy array or a tensor: rows of a table ``(N, D)`` (any finite
            numbers; standardised per feature, the statistics saved with the model), or images
            ``(N, H, W)`` / ``(N, H, W, C)`` (uint8, or floats in [0, 1]).
        preset: a name from :data:`aekit.presets.PRESETS`; vectors take the MLP presets (``dense``,
            ``deep``, ``denoising``, ``sparse``, ``contractive``, ``vae``).
        validation: held-out data of the same kind; by default ``val_fraction`` (0.1) of ``x``,
            drawn with the seed, is held out.
            Or a table: a pandas ``DataFrame`` (or :class:`aekit.data.tablefiles.Table`) with numeric
            and categorical columns (numeric standardised, categorical one-hot; see
            :class:`aekit.data.tables.TablePreprocessing`); reconstructions come back as a DataFrame.
        kind: ``"auto"`` (DataFrames are tables, 2-D arrays are vectors, 3-D and 4-D are images;
            a :class:`~aekit.data.series.TimeSeries`, or anything given with ``window=``, is a
            series), ``"table"``, ``"vector"``, ``"image"`` or ``"series"``. A series is a
            :class:`~aekit.data.series.TimeSeries`, a DataFrame or CSV/Parquet path with a timestamp
            column and value columns, or an array ``(T,)`` / ``(T, C)``; the model trains on its
            windows of ``window`` steps (see :mod:`aekit.data.series`), and the last
            ``val_fraction`` of the samples validates.
        device: ``auto``, ``cpu``, ``cuda``, ...
        progress: show a progress bar per epoch.
        save_to: also save the model to this folder.
        **options: config fields by name (``latent_dim=16``, ``epochs=5``, ``lr=3e-3``), as for
            :func:`aekit.train`.

    Example:
        >>> model = aekit.fit(images_uint8, preset="conv", latent_dim=16, epochs=5)
        >>> codes = model.encode(images_uint8)
        >>> model = aekit.fit(table.to_numpy(), preset="deep", latent_dim=4)   # (N, D) features
        >>> model = aekit.fit("art_daily_small_noise.csv", preset="conv1d", window=288)  # a series
    """
    if kind == "series" or (kind == "auto" and (is_series(x) or options.get("window") is not None)):
        return _fit_series(x, preset, validation=validation, device=device, progress=progress, save_to=save_to,
                           **options)
    if kind in ("auto", "table") and is_table(x):
        kind, data = "table", x
    else:
        data = np.asarray(x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x)
        kind = infer_kind(data) if kind == "auto" else kind
    if kind not in KINDS:
        raise AekitError(f"kind: expected auto, {', '.join(KINDS)}; got {kind!r}")
    data = as_kind(data, kind, "x")
    routed = route_overrides(options)
    routed["data"].setdefault("dataset", IN_MEMORY)
    run = build_run_config(preset, kind=kind, model=routed["model"], objective=routed["objective"],
                           train=routed["train"], data=routed["data"])
    if validation is None:
        rest, held = split_off(np.arange(len(data)), run.data.val_fraction, np.random.default_rng(run.train.seed),
                               None)
        train, val = take(data, np.sort(rest)), take(data, np.sort(held))
    else:
        train, val = data, as_kind(validation, kind, "validation")
        if kind != "table" and val.shape[1:] != train.shape[1:]:  # a table's columns are checked by name
            raise AekitError(f"validation: expected samples of shape {train.shape[1:]}; got {val.shape[1:]}")
    if run.data.limit is not None:
        train = take(train, np.arange(min(run.data.limit, len(train))))
    if len(train) == 0:
        raise AekitError(f"x: expected at least one training sample after holding out validation; got {len(data)}")
    preprocessing = fit_preprocessing(train, kind, run.data, everything=data if kind == "table" else None)
    torch_device = resolve_device(device if device != "auto" else run.train.device)
    run, objective = prepare_run(run, preprocessing, len(train), torch_device)
    module, result, _ = _train_in_memory(run, objective, preprocessing, train, val, torch_device, progress)
    info = {"source": IN_MEMORY, "kind": kind, "splits": {"train": len(train), "val": len(val)},
            "sample_shape": list(preprocessing.input_shape if kind == "table" else train.shape[1:]),
            "dtype": "table" if kind == "table" else str(train.dtype), "seed": run.train.seed}
    model = Model(module, preprocessing, run, data_info=info)
    model.history = result.history
    if save_to is not None:
        model.save(save_to)
    return model


def _train_in_memory(run: RunConfig, objective: Objective, preprocessing: Any, train: Any, val: Any,
                     device: torch.device, progress: bool) -> tuple[Autoencoder, FitResult, InMemoryBatches | None]:
    """Batches, threads and the training itself for :func:`fit`; the caller's thread count is restored."""
    world = distributed.current_world()
    threads = set_threads(run, device, world)
    try:
        train_batches, val_batches = make_batches(run, preprocessing, train, val, device=device, world=world)
        module, result = train_module(run, objective, train_batches, val_batches, device=device, progress=progress)
    finally:
        torch.set_num_threads(threads)  # a library call leaves the process's settings as it found them
    return module, result, val_batches


def _fit_series(x: Any, preset: str, *, validation: Any, device: str, progress: bool,
                save_to: str | os.PathLike | None, **options: Any) -> Model:
    """:func:`fit` for a series: windows of the training part, the last ``val_fraction`` validating."""
    routed = route_overrides(options)
    routed["data"].setdefault("dataset", IN_MEMORY)
    run = build_run_config(preset, kind="series", model=routed["model"], objective=routed["objective"],
                           train=routed["train"], data=routed["data"])
    data = run.data
    series = read_series(x, timestamp_column=data.timestamp_column, value_columns=data.value_columns, what="x")
    if validation is not None:
        train = series
        val = read_series(validation, timestamp_column=data.timestamp_column, value_columns=data.value_columns,
                          what="validation")
    else:
        train, val = split_series(series, data.val_fraction, data.window or 0)
    preprocessing = fit_preprocessing(train, "series", data)
    torch_device = resolve_device(device if device != "auto" else run.train.device)
    n_windows = len(preprocessing.to_storage(train))
    run, objective = prepare_run(run, preprocessing, n_windows, torch_device)
    module, result, val_batches = _train_in_memory(run, objective, preprocessing, train, val, torch_device,
                                                   progress)
    layout = preprocessing.layout(train)
    info = {"source": series.source if series.source != "x" else IN_MEMORY, "kind": "series",
            "splits": {"train": n_windows, "val": 0 if val_batches is None else val_batches.num_samples},
            "samples": {"train": len(train), "val": 0 if val is None else len(val)},
            "sample_shape": list(preprocessing.input_shape), "dtype": "float32", "seed": run.train.seed,
            "layout": layout.describe()}
    model = Model(module, preprocessing, run, data_info=info)
    model.history = result.history
    if save_to is not None:
        model.save(save_to)
    return model
