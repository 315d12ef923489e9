"""A training run end to end: config -> data -> model -> fit -> export -> evaluate -> report.

The run folder (:mod:`aekit.runs.folder`) makes it crash-safe: ``run.json`` first, a checkpoint
every epoch, the best model exported whenever validation improves, so ``--resume`` continues a
killed run exactly. The training itself is :mod:`aekit.fitting`, the same code ``aekit.fit`` uses.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import RunConfig
from ..data import default_dataset, load_splits
from ..data.kinds import fit_preprocessing, preprocessing_from_dict
from ..data.preprocess import Preprocessing
from ..data.tablesplits import is_table_source
from ..errors import AekitError
from ..fitting import make_batches, prepare_run, set_threads, train_module
from ..model import Model, load_model, resolve_device
from ..models import build_model
from ..objectives import Objective
from ..presets import DEFAULT_PRESETS, build_run_config, route_overrides
from ..tasks.anomaly import fit_threshold_after_training
from ..tasks.generate import fit_sampler_after_training
from ..tasks.series import fit_series_threshold_after_training
from ..train import distributed
from ..train.callbacks import MetricsFile, check_trackers, make_trackers, read_metrics
from ..train.checkpoint import load_checkpoint, save_checkpoint
from .evaluate import evaluate_run
from .folder import RunFolder, default_run_dir, read_run_file

log = logging.getLogger(__name__)

# Fitted state each kind of data gets after training, saved with the model: deterministic image
# and table models become generative (a mixture sampler), and tables and series get the threshold
# that `aekit detect RUN file` applies at once.
AFTER_TRAINING = {
    "image": (fit_sampler_after_training,),
    "table": (fit_sampler_after_training, fit_threshold_after_training),
    "series": (fit_series_threshold_after_training,),
}

SERIES_IN_ONE_PROCESS = ("a series trains in one process (its windows overlap in time, so the processes' "
                         "shards would share samples); drop --nproc / torchrun")

# What may change when a run resumes; anything else would make it a different run.
RESUMABLE = frozenset({"epochs", "device", "threads", "data_dir", "train.epochs", "train.device", "train.threads",
                       "data.data_dir"})


def _fingerprint(run: RunConfig) -> str:
    """What must not change between a run and its resumption (epochs and device may).

    Only settings that differ from their defaults are hashed, so a run started before a release
    added a new (defaulted) setting still resumes after it.
    """
    data = run.to_dict()
    defaults = RunConfig().to_dict()
    for section in ("model", "objective", "train", "data"):
        data[section] = {k: v for k, v in data[section].items() if v != defaults[section].get(k)}
    for key in ("epochs", "device", "threads", "early_stopping"):
        data["train"].pop(key, None)
    data["data"].pop("data_dir", None)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def train(
    preset: str | None = None, *, dataset: str | None = None, out: str | os.PathLike | None = None,
    resume: bool = False, overwrite: bool = False, progress: bool = True, evaluate: bool = True,
    trackers: tuple[str, ...] = (), nproc: int = 1, **overrides: Any,
) -> Model:
    """Train an autoencoder and write a run folder; returns the trained :class:`~aekit.Model`.

    Per-epoch lines go to the ``aekit`` logger (the CLI shows them; in Python,
    ``logging.basicConfig(level=logging.INFO)``).

    Args:
        preset: a name from :data:`aekit.presets.PRESETS` (``dense``, ``deep``, ``conv``, ...);
            ``None``: the kind of data's default (``deep`` for images, ``denoising`` with the
            table recipe for rows, ``conv1d`` for a series; :data:`aekit.presets.DEFAULT_PRESETS`).
        dataset: built-in dataset name or a path (default: MNIST if found locally, else digits).
        out: the run folder (default ``runs/<preset>-<dataset>``, numbered if taken).
        resume: continue the run in ``out`` from its last checkpoint; only ``epochs`` (to
            train longer), ``device``, ``threads`` and ``data_dir`` may be overridden.
        overwrite: replace an existing run folder instead of refusing.
        progress: show progress bars.
        evaluate: evaluate on the test split and write ``eval.json`` and ``report.html``.
        trackers: any of ``"tensorboard"``, ``"wandb"`` (offline).
        nproc: data-parallel processes (DDP: gloo on CPU, NCCL with one GPU per process); the
            global batch stays ``batch_size``, split across them. Under ``torchrun`` leave it at 1:
            the processes are already there (see :mod:`aekit.train.distributed`).
        **overrides: config fields by name (``latent_dim=16``, ``epochs=5``, ``lr=3e-3``,
            ``hidden=(512, 256)``), or dotted (``"model.activation": "elu"``).

    With ``window=N`` among the overrides the dataset is a time series (a CSV/Parquet file with a
    timestamp column, see :mod:`aekit.data.series`), split in time (:mod:`aekit.data.seriessplits`);
    its run is checkpointed and resumable like any other, and ends with the series threshold.

    Example:
        >>> model = aekit.train("deep", dataset="mnist", latent_dim=32, epochs=20, out="runs/deep32")
        >>> codes = model.encode(images_uint8)
    """
    device_hint = str(overrides.get("device", overrides.get("train.device", "auto")))
    if nproc != 1 and overrides.get("window", overrides.get("data.window")) is not None:
        raise AekitError(SERIES_IN_ONE_PROCESS)
    if nproc != 1:
        return _launch_processes(nproc, preset, dataset=dataset, out=out, resume=resume, overwrite=overwrite,
                                 progress=progress, evaluate=evaluate, trackers=trackers, device=device_hint,
                                 overrides=overrides)
    world = distributed.init_from_env(device_hint)
    if world.distributed and out is None:
        raise AekitError("distributed training needs the run folder named on every rank: pass --out RUN")
    if world.distributed and overrides.get("window", overrides.get("data.window")) is not None:
        raise AekitError(SERIES_IN_ONE_PROCESS)
    if not world.is_main:
        progress = False
    if resume:
        if out is None:
            raise AekitError("resume needs the run folder: aekit train --resume RUN")
        return resume_run(out, progress=progress, evaluate=evaluate, trackers=trackers, **overrides)
    check_trackers(tuple(trackers))
    run = _fresh_run_config(preset, dataset, overrides)
    folder = RunFolder(Path(out) if out is not None else default_run_dir(run.preset, run.data.dataset))
    if world.is_main and folder.holds_run() and not overwrite:
        folder.refuse_existing()
    # Everything that can refuse the data (unreadable file, bad values, a config that does not fit)
    # runs before an existing run folder is cleared, so bad input never costs the previous run.
    log.info("loading dataset %r ...", run.data.dataset)
    splits = load_splits(run.data, seed=run.train.seed, progress=progress)
    preprocessing = fit_preprocessing(splits.train.samples, splits.kind, run.data,
                                      everything=getattr(splits, "everything", None))
    device = distributed.rank_device(resolve_device(run.train.device), world)
    run, objective = prepare_run(run, preprocessing, len(splits.train), device)
    if world.is_main and folder.holds_run():  # rank 0 alone clears and writes the run folder
        folder.clear()
    if world.is_main:
        folder.root.mkdir(parents=True, exist_ok=True)
        folder.write_record(run, preprocessing, splits.info, state="running", epochs_done=0, processes=world.size)
    return _execute(folder, run, objective, splits, preprocessing, device, resume=False, progress=progress,
                    evaluate=evaluate, trackers=trackers)


def resume_run(run_dir: str | os.PathLike, *, progress: bool = True, evaluate: bool = True,
               trackers: tuple[str, ...] = (), **overrides: Any) -> Model:
    """Continue a run from ``checkpoints/last.safetensors`` exactly where it stopped."""
    folder = RunFolder(Path(run_dir))
    record = folder.read_record()
    run = RunConfig.from_dict(record["config"])
    refused = sorted(set(overrides) - RESUMABLE)
    if refused:
        raise AekitError(
            f"cannot change {', '.join(refused)} when resuming (it would no longer be the same run); "
            "only epochs, device, threads and data_dir may change"
        )
    routed = route_overrides(overrides)
    planned = run.train.epochs
    run = replace(run, train=run.train.with_overrides(**routed["train"]),
                  data=run.data.with_overrides(**routed["data"]))
    if run.train.epochs != planned and run.train.schedule in ("cosine", "step"):
        raise AekitError(
            f"cannot change epochs of {folder.root}: its {run.train.schedule} learning-rate schedule was planned "
            f"for {planned} epochs; start a new run instead"
        )
    splits = load_splits(run.data, seed=run.train.seed, progress=progress)
    preprocessing = fit_preprocessing(splits.train.samples, splits.kind, run.data,
                                      everything=getattr(splits, "everything", None))
    if preprocessing != preprocessing_from_dict(record["preprocessing"]):
        raise AekitError(
            f"the data loaded now differs from the data {folder.root} was trained on (preprocessing "
            f"{preprocessing.to_dict()} vs recorded {record['preprocessing']}); check --data-dir"
        )
    world = distributed.current_world()
    device = distributed.rank_device(resolve_device(run.train.device), world)
    run, objective = prepare_run(run, preprocessing, len(splits.train), device)
    if world.is_main:
        folder.write_record(run, preprocessing, splits.info, state="running", processes=world.size)
    return _execute(folder, run, objective, splits, preprocessing, device, resume=True, progress=progress,
                    evaluate=evaluate, trackers=trackers)


def _fresh_run_config(preset: str | None, dataset: str | None, overrides: dict[str, Any]) -> RunConfig:
    routed = route_overrides(overrides)
    if dataset is not None:
        routed["data"]["dataset"] = dataset
    name = routed["data"].get("dataset", "default")
    if routed["data"].get("window") is not None:
        kind = "series"
    elif name != "default" and is_table_source(name):
        kind = "table"
    else:
        kind = "image"
    run = build_run_config(preset or DEFAULT_PRESETS[kind], kind=kind, model=routed["model"],
                           objective=routed["objective"], train=routed["train"], data=routed["data"])
    if run.data.dataset == "default":
        run = replace(run, data=replace(run.data, dataset=default_dataset(run.data.data_dir)))
    return run


def _launch_processes(nproc: int, preset: str | None, *, dataset: str | None, out: str | os.PathLike | None,
                      resume: bool, overwrite: bool, progress: bool, evaluate: bool, trackers: tuple[str, ...],
                      device: str, overrides: dict[str, Any]) -> Model:
    """``nproc`` local DDP processes train the run; the parent waits and loads the result."""
    if distributed.env_world_size() > 1:
        raise AekitError("nproc > 1 under torchrun: torchrun already started the processes; drop --nproc")
    if resume:
        if out is None:
            raise AekitError("resume needs the run folder: aekit train --resume RUN")
        read_run_file(out)  # a clear error here rather than in every worker
    else:
        check_trackers(tuple(trackers))
        run = _fresh_run_config(preset, dataset, overrides)  # config errors surface before spawning
        out = Path(out) if out is not None else default_run_dir(run.preset, run.data.dataset)
        if not overwrite:
            RunFolder(Path(out)).refuse_existing()
    kwargs = dict(preset=preset, dataset=dataset, out=str(out), resume=resume, overwrite=overwrite,
                  progress=progress, evaluate=evaluate, trackers=tuple(trackers), **overrides)
    distributed.launch(nproc, train, kwargs, device=device)
    return load_model(RunFolder(Path(out)).model_dir)


def _execute(folder: RunFolder, run: RunConfig, objective: Objective, splits, preprocessing: Preprocessing,
             device: torch.device, *, resume: bool, progress: bool, evaluate: bool,
             trackers: tuple[str, ...]) -> Model:
    world = distributed.current_world()
    set_threads(run, device, world)
    if not world.is_main:
        trackers = ()
    fingerprint = _fingerprint(run)
    resume_from = None
    metrics = MetricsFile(folder.metrics_file)
    if resume:
        resume_from = load_checkpoint(folder.checkpoint)
        if resume_from.fingerprint != fingerprint:
            raise AekitError(f"{folder.checkpoint} belongs to a different configuration than {folder.run_file}")
        if world.is_main:
            metrics.truncate_after(resume_from.state.epoch)
        if resume_from.state.epoch >= run.train.epochs or resume_from.state.stopped_early:
            log.info("%s already finished %d epochs; pass --epochs N to train longer", folder.root,
                     resume_from.state.epoch)
    elif folder.checkpoint.exists() and world.is_main:
        folder.checkpoint.unlink()
    n_train, n_val = len(splits.train), len(splits.val)
    train_batches, val_batches = make_batches(run, preprocessing, splits.train.samples, splits.val.samples,
                                              device=device, world=world)
    if world.distributed:
        # Each process keeps only its shard; rank 0 reloads the whole set after training for the
        # sampler fit and the evaluation.
        splits.train = splits.train.subset(np.arange(1))  # a copy: a view would keep the whole array alive
    data_info = splits.info

    def export(best_state: dict[str, torch.Tensor]) -> None:
        best = Model(build_model(run.model), preprocessing, run, data_info=data_info)
        best.module.load_state_dict(best_state)
        best.save(folder.model_dir)

    def checkpoint(**kwargs: Any) -> None:
        save_checkpoint(folder.checkpoint, fingerprint=fingerprint, **kwargs)

    callbacks = [metrics, *make_trackers(tuple(trackers), folder.root, run.to_dict())] if world.is_main else []
    if world.is_main:
        n_params = sum(p.numel() for p in build_model(run.model).parameters())
        log.info("training %s on %s: %d train / %d val samples, %s parameters, device %s%s, run folder %s",
                 run.preset, run.data.dataset, n_train, n_val, f"{n_params:,}", device,
                 f" x {world.size} processes" if world.distributed else "", folder.root)
        if world.distributed:
            log.info("each process holds its shard of the training set (%d images on rank 0)",
                     len(train_batches.data))
    module, result = train_module(run, objective, train_batches, val_batches, device=device, progress=progress,
                                  resume_from=resume_from, save_checkpoint=checkpoint, on_best=export,
                                  callbacks=tuple(callbacks))
    model = Model(module, preprocessing, run, path=folder.model_dir, data_info=data_info)
    if not world.is_main:
        return model
    if world.distributed:
        splits = load_splits(run.data, seed=run.train.seed, progress=False)
    for fit_component in AFTER_TRAINING[splits.kind]:
        fit_component(model, splits)
    model.save(folder.model_dir)
    folder.write_record(run, preprocessing, data_info, state="finished", epochs_done=result.state.epoch,
                        best_epoch=result.state.best_epoch, best_val_loss=result.state.best_val,
                        stopped_early=result.state.stopped_early, train_seconds=round(result.state.elapsed, 2))
    if evaluate:
        evaluate_run(model, splits, folder.root, history=read_metrics(folder.metrics_file))
    return model

