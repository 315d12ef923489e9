"""Training in memory: data in, a trained :class:`~aekit.model.Model` out, nothing written.

``aekit.fit(x, preset="deep", epochs=5)`` is the library call; ``aekit.train`` (a run folder with
checkpoints, resume, DDP, evaluation and a report, :mod:`aekit.runs.train`) is built on the same
pieces here: :func:`prepare_run` completes a config from the data, :func:`make_batches` puts
the data on the device, :func:`train_module` builds the network and objective and runs
:func:`aekit.train.loop.fit`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from .config import RunConfig, auto_epochs
from .data.imageset import images_to_tensor
from .data.preprocess import Preprocessing
from .data.splits import split_off
from .errors import AekitError
from .model import Model, resolve_device
from .models import Autoencoder, build_model
from .objectives import build_objective
from .objectives.corruptions import model_space_range
from .presets import build_run_config, route_overrides
from .train import distributed
from .train.loop import FitResult, InMemoryBatches, ShardedBatches, shard_indices
from .train.loop import fit as fit_loop

log = logging.getLogger(__name__)

IN_MEMORY = "in-memory"  # DataConfig.dataset of a model fitted on arrays


def prepare_run(run: RunConfig, preprocessing: Preprocessing, n_train: int) -> RunConfig:
    """Complete ``run`` from the data: the input shape, and the epochs when 0 (automatic).

    Also checks what only the data can tell (normalised inputs need a linear output) and builds
    the objective once, so a bad combination fails before anything is trained or written.
    """
    run = replace(run, model=run.model.with_overrides(input_shape=preprocessing.input_shape))
    if run.train.epochs == 0:
        run = replace(run, train=replace(run.train, epochs=auto_epochs(n_train)))
        log.info("epochs not given: training %d epochs (%d training samples)", run.train.epochs, n_train)
    if run.data.normalize and run.model.output_activation == "sigmoid":
        raise AekitError(
            "data.normalize=true standardises inputs, which a sigmoid output cannot reproduce; "
            "also set model.output_activation=none and objective.reconstruction=mse"
        )
    build_objective(run.objective, run.model)
    return run


def set_threads(run: RunConfig, device: torch.device, world: distributed.World) -> None:
    if run.train.threads:
        torch.set_num_threads(run.train.threads)
    elif world.distributed and device.type == "cpu":
        torch.set_num_threads(distributed.threads_per_rank(world))  # N processes share the cores


def make_batches(run: RunConfig, preprocessing: Preprocessing, train: np.ndarray, val: np.ndarray | None, *,
                 device: torch.device, world: distributed.World) -> tuple[InMemoryBatches, InMemoryBatches | None]:
    """Training and validation batches on ``device``; under DDP each process holds only its shard."""
    size = run.train.batch_size
    if world.distributed:
        mine = shard_indices(len(train), size, world.rank, world.size)
        train_batches: InMemoryBatches = ShardedBatches(
            images_to_tensor(train[mine]).to(device), len(train), size, preprocessing, shuffle=True,
            seed=run.train.seed, rank=world.rank, world_size=world.size)
    else:
        train_batches = InMemoryBatches(images_to_tensor(train).to(device), size, preprocessing, shuffle=True,
                                        seed=run.train.seed)
    val_batches = None
    if val is not None and len(val):
        val_batches = InMemoryBatches(images_to_tensor(val).to(device), max(size, 1024), preprocessing,
                                      shuffle=False)
    return train_batches, val_batches


def train_module(run: RunConfig, preprocessing: Preprocessing, train: InMemoryBatches,
                 val: InMemoryBatches | None, *, device: torch.device, progress: bool = False,
                 **fit_options: Any) -> tuple[Autoencoder, FitResult]:
    """Build the network and objective ``run`` describes and train them; returns the best weights.

    ``fit_options`` go to :func:`aekit.train.loop.fit` (``resume_from``, ``save_checkpoint``,
    ``on_best``, ``callbacks``).
    """
    torch.manual_seed(run.train.seed)
    module = build_model(run.model).to(device)
    objective = build_objective(run.objective, run.model, data_range=model_space_range(preprocessing, device))
    result = fit_loop(module, objective, train, val, run.train, device=device, progress=progress, **fit_options)
    module.load_state_dict(result.best_state)
    return module.eval(), result


def _as_images(x: Any, what: str) -> np.ndarray:
    """Images as users have them -> (N, H, W, C) uint8 or float32 in [0, 1]."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise AekitError(f"{what}: expected images (N, H, W) or (N, H, W, C) with C = 1 or 3; got shape {x.shape}")
    if x.dtype != np.uint8:
        x = x.astype(np.float32)
        if not np.isfinite(x).all():
            raise AekitError(f"{what}: expected finite values; got NaN or Inf")
        lo, hi = float(x.min()), float(x.max())
        if lo < 0 or hi > 1:
            raise AekitError(f"{what}: expected uint8 pixels (0..255) or floats in [0, 1]; got values in "
                             f"[{lo:.4g}, {hi:.4g}]")
    if len(x) < 1:
        raise AekitError(f"{what}: expected at least one sample; got none")
    return x


def fit(x: Any, preset: str = "deep", *, validation: Any = None, device: str = "auto", progress: bool = False,
        save_to: str | os.PathLike | None = None, **options: Any) -> Model:
    """Train an autoencoder on data in memory and return it; nothing is written unless ``save_to`` is given.

    Args:
        x: training data: images ``(N, H, W)`` or ``(N, H, W, C)`` (uint8, or floats in [0, 1]),
            as a NumPy array or a tensor.
        preset: a name from :data:`aekit.presets.PRESETS`.
        validation: held-out data of the same kind; by default ``val_fraction`` (0.1) of ``x``,
            drawn with the seed, is held out.
        device: ``auto``, ``cpu``, ``cuda``, ...
        progress: show a progress bar per epoch.
        save_to: also save the model to this folder.
        **options: config fields by name (``latent_dim=16``, ``epochs=5``, ``lr=3e-3``), as for
            :func:`aekit.train`.

    Example:
        >>> model = aekit.fit(images_uint8, preset="conv", latent_dim=16, epochs=5)
        >>> codes = model.encode(images_uint8)
    """
    routed = route_overrides(options)
    routed["data"].setdefault("dataset", IN_MEMORY)
    run = build_run_config(preset, model=routed["model"], objective=routed["objective"], train=routed["train"],
                           data=routed["data"])
    data = _as_images(x, "x")
    if validation is None:
        rest, held = split_off(np.arange(len(data)), run.data.val_fraction, np.random.default_rng(run.train.seed),
                               None)
        train, val = data[np.sort(rest)], data[np.sort(held)]
    else:
        train, val = data, _as_images(validation, "validation")
    if run.data.limit is not None:
        train = train[:run.data.limit]
    if len(train) == 0:
        raise AekitError(f"x: expected at least one training sample after holding out validation; got {len(data)}")
    preprocessing = Preprocessing.fit(train, normalize=run.data.normalize)
    if val is not None and len(val) and val.shape[1:] != train.shape[1:]:
        raise AekitError(f"validation: expected samples of shape {train.shape[1:]}; got {val.shape[1:]}")
    run = prepare_run(run, preprocessing, len(train))
    torch_device = resolve_device(device if device != "auto" else run.train.device)
    world = distributed.current_world()
    set_threads(run, torch_device, world)
    train_batches, val_batches = make_batches(run, preprocessing, train, val, device=torch_device, world=world)
    module, result = train_module(run, preprocessing, train_batches, val_batches, device=torch_device,
                                  progress=progress)
    info = {"source": IN_MEMORY, "splits": {"train": len(train), "val": 0 if val is None else len(val)},
            "image_shape": list(train.shape[1:]), "dtype": str(train.dtype), "seed": run.train.seed}
    model = Model(module, preprocessing, run, data_info=info)
    model.history = result.history
    if save_to is not None:
        model.save(save_to)
    return model
