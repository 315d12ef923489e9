"""A training run end to end: config -> data -> model -> fit -> export -> evaluate -> report.

::

    RUN/
      run.json                  the full RunConfig, preprocessing, data provenance, status
      metrics.jsonl             one record per epoch (every loss term, lr, throughput)
      checkpoints/last.safetensors   resumable state, rewritten atomically every epoch
      model/                    the exported best model (config.json + model.safetensors)
      eval.json, report.html, *.png  written by the evaluation at the end
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._version import __version__
from ..config import DataConfig, ModelConfig, ObjectiveConfig, RunConfig, TrainConfig, auto_epochs
from ..data.imageset import ImageSet
from ..data.preprocess import Preprocessing
from ..errors import AekitError
from ..fileio import atomic_write_json
from ..io import Model, load_model, resolve_device, save_model
from ..models import build_model
from ..objectives import build_objective
from ..objectives.corruptions import model_space_range
from ..presets import build_run_config
from . import distributed
from .callbacks import MetricsFile, check_trackers, make_trackers, read_metrics
from .checkpoint import load_checkpoint, save_checkpoint
from .loop import InMemoryBatches, ShardedBatches, fit, shard_indices

RUN_FILE = "run.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_FILE = Path("checkpoints") / "last.safetensors"
MODEL_DIR = "model"
RUN_FORMAT_VERSION = 1

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
            section, field = key.split(".", 1)
            if section not in _SECTIONS:
                raise AekitError(f"unknown config section {section!r} in {key!r}; valid: {', '.join(_SECTIONS)}")
            routed[section][field] = value
        elif key in owners:
            routed[owners[key]][key] = value
        else:
            raise AekitError(f"unknown option {key!r}; valid options: {', '.join(sorted(owners))}")
    return routed


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


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, C) array -> contiguous (N, C, H, W) tensor of the same dtype."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()


def default_dataset(data_dir: str | None) -> str:
    """MNIST when its files are found locally, else scikit-learn's bundled digits."""
    from ..data import resolve_data_dir

    root = resolve_data_dir(data_dir)
    for folder in (root / "mnist", root):
        if (folder / "train-images-idx3-ubyte.gz").is_file() and (folder / "t10k-images-idx3-ubyte.gz").is_file():
            return "mnist"
    return "digits"


def load_splits(data: DataConfig, *, seed: int, progress: bool = True):
    from ..data import load_dataset

    size = data.image_size
    if size is not None and len(size) == 1:
        size = (size[0], size[0])
    return load_dataset(
        data.dataset, data_dir=data.data_dir, val_fraction=data.val_fraction, test_fraction=data.test_fraction,
        seed=seed, limit=data.limit, image_size=size, channels=data.image_channels, progress=progress,
    )


def default_run_dir(preset: str, dataset: str) -> Path:
    base = Path("runs") / f"{preset}-{Path(dataset).stem}"
    candidate, n = base, 2
    while candidate.exists():
        candidate = base.with_name(f"{base.name}-{n}")
        n += 1
    return candidate


def _write_run_file(out: Path, run: RunConfig, preprocessing: Preprocessing, data_info: dict, **status) -> None:
    path = out / RUN_FILE
    previous = json.loads(path.read_text()) if path.exists() else {}
    record = {
        "format_version": RUN_FORMAT_VERSION,
        "aekit_version": __version__,
        "created": previous.get("created", time.strftime("%Y-%m-%dT%H:%M:%S%z")),
        "config": run.to_dict(),
        "preprocessing": preprocessing.to_dict(),
        "data_info": data_info,
        "status": {**previous.get("status", {}), **status},
    }
    atomic_write_json(path, record)


def read_run_file(run_dir: str | os.PathLike) -> dict[str, Any]:
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise AekitError(f"{run_dir} is not an aekit run folder: no {RUN_FILE} in it")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise AekitError(f"{path} is corrupt ({err})") from None
    if record.get("format_version") != RUN_FORMAT_VERSION:
        raise AekitError(
            f"{path} has run format version {record.get('format_version')!r}; this aekit reads {RUN_FORMAT_VERSION}"
        )
    return record


def train(
    preset: str = "deep", *, dataset: str | None = None, out: str | os.PathLike | None = None,
    resume: bool = False, overwrite: bool = False, progress: bool = True, evaluate: bool = True,
    trackers: tuple[str, ...] = (), log: Any = print, nproc: int = 1, **overrides: Any,
) -> Model:
    """Train an autoencoder and write a run folder; returns the trained :class:`~aekit.Model`.

    Args:
        preset: a name from :data:`aekit.presets.PRESETS` (``dense``, ``deep``, ``conv``, ...).
        dataset: built-in dataset name or a path (default: MNIST if found locally, else digits).
        out: the run folder (default ``runs/<preset>-<dataset>``, numbered if taken).
        resume: continue the run in ``out`` from its last checkpoint; only ``epochs`` (to
            train longer), ``device``, ``threads`` and ``data_dir`` may be overridden.
        overwrite: replace an existing run folder instead of refusing.
        progress: show progress bars.
        evaluate: evaluate on the test split and write ``eval.json`` and ``report.html``.
        trackers: any of ``"tensorboard"``, ``"wandb"`` (offline).
        log: where per-epoch lines go (``None`` for silence).
        nproc: data-parallel processes (DDP: gloo on CPU, NCCL with one GPU per process); the
            global batch stays ``batch_size``, split across them. Under ``torchrun`` leave it at 1:
            the processes are already there (see :mod:`aekit.train.distributed`).
        **overrides: config fields by name (``latent_dim=16``, ``epochs=5``, ``lr=3e-3``,
            ``hidden=(512, 256)``), or dotted (``"model.activation": "elu"``).

    Example:
        >>> model = aekit.train("deep", dataset="mnist", latent_dim=32, epochs=20, out="runs/deep32")
        >>> codes = model.encode(images_uint8)
    """
    device_hint = str(overrides.get("device", overrides.get("train.device", "auto")))
    if nproc != 1:
        return _launch_processes(nproc, preset, dataset=dataset, out=out, resume=resume, overwrite=overwrite,
                                 progress=progress, evaluate=evaluate, trackers=trackers, log=log,
                                 device=device_hint, overrides=overrides)
    world = distributed.init_from_env(device_hint)
    if world.distributed and out is None:
        raise AekitError("distributed training needs the run folder named on every rank: pass --out RUN")
    if not world.is_main:
        log, progress = None, False
    if resume:
        if out is None:
            raise AekitError("resume needs the run folder: aekit train --resume RUN")
        return resume_run(out, progress=progress, evaluate=evaluate, trackers=trackers, log=log, **overrides)
    check_trackers(tuple(trackers))
    run = _fresh_run_config(preset, dataset, overrides)
    out = Path(out) if out is not None else default_run_dir(preset, run.data.dataset)
    if not world.is_main:
        pass  # rank 0 alone checks, clears and writes the run folder
    elif (out / RUN_FILE).exists() or (out / MODEL_DIR).exists():
        if not overwrite:
            raise _run_exists(out)
        for name in (RUN_FILE, METRICS_FILE, "checkpoints", MODEL_DIR):
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    if log is not None:
        log(f"loading dataset {run.data.dataset!r} ...")
    splits = load_splits(run.data, seed=run.train.seed, progress=progress)
    preprocessing = Preprocessing.fit(splits.train.images, normalize=run.data.normalize)
    run = replace(run, model=run.model.with_overrides(input_shape=preprocessing.input_shape))
    if run.train.epochs == 0:
        run = replace(run, train=replace(run.train, epochs=auto_epochs(len(splits.train))))
        if log is not None:
            log(f"epochs not given: training {run.train.epochs} epochs ({len(splits.train)} training images)")
    if run.data.normalize and run.model.output_activation == "sigmoid":
        raise AekitError(
            "data.normalize=true standardises inputs, which a sigmoid output cannot reproduce; "
            "also set model.output_activation=none and objective.reconstruction=mse"
        )
    build_objective(run.objective, run.model)  # validate before creating anything on disk
    if world.is_main:
        out.mkdir(parents=True, exist_ok=True)
        _write_run_file(out, run, preprocessing, splits.info, state="running", epochs_done=0,
                        processes=world.size)
    return _execute(out, run, splits, preprocessing, resume=False, progress=progress, evaluate=evaluate,
                    trackers=trackers, log=log)


def resume_run(
    run_dir: str | os.PathLike, *, progress: bool = True, evaluate: bool = True,
    trackers: tuple[str, ...] = (), log: Any = print, **overrides: Any,
) -> Model:
    """Continue a run from ``checkpoints/last.safetensors`` exactly where it stopped."""
    out = Path(run_dir)
    record = read_run_file(out)
    run = RunConfig.from_dict(record["config"])
    allowed = {"epochs", "device", "threads", "data_dir", "train.epochs", "train.device", "train.threads",
               "data.data_dir"}
    refused = sorted(set(overrides) - allowed)
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
            f"cannot change epochs of {out}: its {run.train.schedule} learning-rate schedule was planned for "
            f"{planned} epochs; start a new run instead"
        )
    splits = load_splits(run.data, seed=run.train.seed, progress=progress)
    preprocessing = Preprocessing.fit(splits.train.images, normalize=run.data.normalize)
    if preprocessing != Preprocessing.from_dict(record["preprocessing"]):
        raise AekitError(
            f"the data loaded now differs from the data {out} was trained on (preprocessing "
            f"{preprocessing.to_dict()} vs recorded {record['preprocessing']}); check --data-dir"
        )
    world = distributed.current_world()
    if world.is_main:
        _write_run_file(out, run, preprocessing, splits.info, state="running", processes=world.size)
    return _execute(out, run, splits, preprocessing, resume=True, progress=progress, evaluate=evaluate,
                    trackers=trackers, log=log)


def _fresh_run_config(preset: str, dataset: str | None, overrides: dict[str, Any]) -> RunConfig:
    routed = route_overrides(overrides)
    if dataset is not None:
        routed["data"]["dataset"] = dataset
    run = build_run_config(preset, model=routed["model"], objective=routed["objective"], train=routed["train"],
                           data=routed["data"])
    if run.data.dataset == "default":
        run = replace(run, data=replace(run.data, dataset=default_dataset(run.data.data_dir)))
    return run


def _run_exists(out: Path) -> AekitError:
    return AekitError(f"{out} already holds a run; continue it with --resume, pick another --out, or pass --overwrite")


def _launch_processes(nproc: int, preset: str, *, dataset: str | None, out: str | os.PathLike | None, resume: bool,
                      overwrite: bool, progress: bool, evaluate: bool, trackers: tuple[str, ...], log: Any,
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
        out = Path(out) if out is not None else default_run_dir(preset, run.data.dataset)
        if ((out / RUN_FILE).exists() or (out / MODEL_DIR).exists()) and not overwrite:
            raise _run_exists(out)
    kwargs = dict(preset=preset, dataset=dataset, out=str(out), resume=resume, overwrite=overwrite,
                  progress=progress, evaluate=evaluate, trackers=tuple(trackers), log=log, **overrides)
    distributed.launch(nproc, train, kwargs, device=device)
    return load_model(Path(out) / MODEL_DIR)


def _execute(out: Path, run: RunConfig, splits, preprocessing: Preprocessing, *, resume: bool, progress: bool,
             evaluate: bool, trackers: tuple[str, ...], log: Any) -> Model:
    world = distributed.current_world()
    device = distributed.rank_device(resolve_device(run.train.device), world)
    if run.train.threads:
        torch.set_num_threads(run.train.threads)
    elif world.distributed and device.type == "cpu":
        torch.set_num_threads(distributed.threads_per_rank(world))  # N processes share the cores
    if not world.is_main:
        log, trackers = None, ()
    torch.manual_seed(run.train.seed)
    module = build_model(run.model).to(device)
    objective = build_objective(run.objective, run.model, data_range=model_space_range(preprocessing, device))
    fingerprint = _fingerprint(run)
    checkpoint_path = out / CHECKPOINT_FILE
    resume_from = None
    metrics = MetricsFile(out / METRICS_FILE)
    if resume:
        resume_from = load_checkpoint(checkpoint_path)
        if resume_from.fingerprint != fingerprint:
            raise AekitError(f"{checkpoint_path} belongs to a different configuration than {out / RUN_FILE}")
        if world.is_main:
            metrics.truncate_after(resume_from.state.epoch)
        if resume_from.state.epoch >= run.train.epochs or resume_from.state.stopped_early:
            if log is not None:
                log(f"{out} already finished {resume_from.state.epoch} epochs; pass --epochs N to train longer")
    elif checkpoint_path.exists() and world.is_main:
        checkpoint_path.unlink()
    n_train = len(splits.train)
    if world.distributed:
        # Each process keeps only its shard; rank 0 reloads the whole set after training for the
        # sampler fit and the evaluation.
        mine = shard_indices(n_train, run.train.batch_size, world.rank, world.size)
        shard = images_to_tensor(splits.train.images[mine]).to(device)
        splits.train = ImageSet(splits.train.images[:1].copy())  # a view would keep the whole array alive
        train_batches = ShardedBatches(shard, n_train, run.train.batch_size, preprocessing, shuffle=True,
                                       seed=run.train.seed, rank=world.rank, world_size=world.size)
    else:
        train_batches = InMemoryBatches(images_to_tensor(splits.train.images).to(device), run.train.batch_size,
                                        preprocessing, shuffle=True, seed=run.train.seed)
    val_batches = InMemoryBatches(images_to_tensor(splits.val.images).to(device), max(run.train.batch_size, 1024),
                                  preprocessing, shuffle=False) if len(splits.val) else None
    data_info = splits.info

    def export(best_state: dict[str, torch.Tensor]) -> None:
        best = build_model(run.model)
        best.load_state_dict(best_state)
        save_model(Model(best, preprocessing, run, data_info=data_info), out / MODEL_DIR)

    def checkpoint(**kwargs: Any) -> None:
        save_checkpoint(checkpoint_path, fingerprint=fingerprint, **kwargs)

    callbacks = [metrics, *make_trackers(tuple(trackers), out, run.to_dict())] if world.is_main else []
    if log is not None:
        n_params = sum(p.numel() for p in module.parameters())
        log(f"training {run.preset} on {run.data.dataset}: {n_train} train / {len(splits.val)} val images, "
            f"{n_params:,} parameters, device {device}"
            f"{f' x {world.size} processes' if world.distributed else ''}, run folder {out}")
        if world.distributed:
            log(f"each process holds its shard of the training set ({len(train_batches.data)} images on rank 0)")
    result = fit(module, objective, train_batches, val_batches, run.train, device=device, resume_from=resume_from,
                 save_checkpoint=checkpoint, on_best=export, callbacks=tuple(callbacks), progress=progress, log=log)
    module.load_state_dict(result.best_state)
    model = Model(module, preprocessing, run, path=out / MODEL_DIR, data_info=data_info)
    if not world.is_main:
        return model
    from ..tasks.generate import fit_sampler_after_training

    if world.distributed:
        splits = load_splits(run.data, seed=run.train.seed, progress=False)
    fit_sampler_after_training(model, splits, log=log)  # deterministic AEs become generative
    save_model(model, out / MODEL_DIR)
    _write_run_file(out, run, preprocessing, data_info, state="finished", epochs_done=result.state.epoch,
                    best_epoch=result.state.best_epoch, best_val_loss=result.state.best_val,
                    stopped_early=result.state.stopped_early, train_seconds=round(result.state.elapsed, 2))
    if evaluate:
        from ..tasks.evaluate import evaluate_run

        evaluate_run(model, splits, out, history=read_metrics(out / METRICS_FILE), log=log)
    return model
