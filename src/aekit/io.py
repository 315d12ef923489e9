"""The saved-model format: a folder of data, never code.

::

    model/
      config.json          class, format version, aekit version, preset, model / objective /
                           preprocessing config, fitted state (thresholds, sampler settings, ...)
      model.safetensors    the network's weights
      fitted.safetensors   optional tensors of fitted state (codec tables, mixture means, ...)

Reading rebuilds the network from ``config.json`` and loads the weights with ``strict=True``;
nothing is unpickled and no size is guessed from a weight's shape. This module knows the
format only; :class:`aekit.model.Model` is what users hold.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch

from ._version import __version__
from .config import RunConfig
from .data.kinds import preprocessing_from_dict
from .data.preprocess import Preprocessing
from .errors import AekitError
from .fileio import atomic_write_bytes, atomic_write_json, replace_dir
from .models import Autoencoder, build_model

FORMAT_VERSION = 1
CLASS_NAME = "aekit.Autoencoder"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
FITTED_FILE = "fitted.safetensors"
KNOWN_KEYS = frozenset({"class", "format_version", "aekit_version", "preset", "model", "objective",
                        "preprocessing", "train", "data", "data_info", "fitted"})


@dataclass
class SavedModel:
    """Everything a model folder holds, as objects."""

    module: Autoencoder
    preprocessing: Preprocessing  # or another kind's (aekit.data.kinds)
    config: RunConfig
    fitted: dict[str, Any] = field(default_factory=dict)
    fitted_tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    data_info: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


# --------------------------------------------------------------------- write
def config_dict(saved: SavedModel) -> dict[str, Any]:
    """The ``config.json`` record of a model."""
    return {
        "class": CLASS_NAME,
        "format_version": FORMAT_VERSION,
        "aekit_version": __version__,
        "preset": saved.config.preset,
        "model": saved.config.model.to_dict(),
        "objective": saved.config.objective.to_dict(),
        "preprocessing": saved.preprocessing.to_dict(),
        "train": saved.config.train.to_dict(),
        "data": saved.config.data.to_dict(),
        "data_info": saved.data_info,
        "fitted": saved.fitted,
    }


def write_model_dir(saved: SavedModel, path: str | os.PathLike) -> Path:
    """Write ``config.json`` + ``model.safetensors`` (+ ``fitted.safetensors``) atomically.

    The folder is assembled beside the destination and swapped in whole, so a crash never
    leaves a folder with new weights and an old config.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        state = {k: v.detach().cpu().contiguous() for k, v in saved.module.state_dict().items()}
        atomic_write_bytes(tmp / WEIGHTS_FILE, safetensors.torch.save(state, metadata={"format": "pt"}))
        if saved.fitted_tensors:
            fitted = {k: v.detach().cpu().contiguous() for k, v in saved.fitted_tensors.items()}
            atomic_write_bytes(tmp / FITTED_FILE, safetensors.torch.save(fitted))
        atomic_write_json(tmp / CONFIG_FILE, config_dict(saved))
        replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


# --------------------------------------------------------------------- read
def find_model_dir(path: str | os.PathLike) -> Path:
    """A model folder, or a run folder holding one in ``model/``."""
    path = Path(path)
    if not path.exists():
        raise AekitError(f"no such run or model folder: {path}")
    if (path / CONFIG_FILE).is_file():
        return path
    if (path / "model" / CONFIG_FILE).is_file():
        return path / "model"
    if path.is_dir() and (path / "checkpoints").is_dir():
        raise AekitError(
            f"{path} is a run folder without an exported model yet (training did not finish an epoch?); "
            f"resume it with: aekit train --resume {path}"
        )
    raise AekitError(f"{path} is not an aekit model or run folder: expected {CONFIG_FILE} in it or in {path}/model")


def _read_config(model_dir: Path) -> dict[str, Any]:
    try:
        raw = json.loads((model_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise AekitError(f"{model_dir / CONFIG_FILE} is not valid JSON (truncated or corrupt?): {err}") from None
    if not isinstance(raw, dict):
        raise AekitError(f"{model_dir / CONFIG_FILE}: expected a JSON object")
    if raw.get("class") != CLASS_NAME:
        raise AekitError(f"{model_dir}: expected a saved {CLASS_NAME}; got class {raw.get('class')!r}")
    version = raw.get("format_version")
    if not isinstance(version, int):
        raise AekitError(f"{model_dir / CONFIG_FILE}: missing or invalid format_version")
    if version != FORMAT_VERSION:
        newer = version > FORMAT_VERSION
        raise AekitError(
            f"{model_dir} is saved in format version {version}; this aekit ({__version__}) reads version "
            f"{FORMAT_VERSION}" + ("; upgrade aekit to load it" if newer else "")
        )
    missing = [k for k in ("model", "objective", "preprocessing") if k not in raw]
    if missing:
        raise AekitError(f"{model_dir / CONFIG_FILE}: missing key(s) {', '.join(missing)}")
    unknown = sorted(set(raw) - KNOWN_KEYS)
    if unknown:
        raise AekitError(f"{model_dir / CONFIG_FILE}: unknown key(s) {', '.join(unknown)}")
    return raw


def load_tensors(file: Path) -> dict[str, torch.Tensor]:
    try:
        return safetensors.torch.load_file(str(file), device="cpu")
    except FileNotFoundError:
        raise AekitError(f"missing {file.name} in {file.parent}") from None
    except (safetensors.SafetensorError, OSError, ValueError) as err:
        raise AekitError(f"{file} is truncated or corrupt ({err}); re-export or re-train the model") from None


def read_model_dir(path: str | os.PathLike) -> SavedModel:
    """Read a saved model (a model folder, or a run folder holding ``model/``) onto the CPU."""
    model_dir = find_model_dir(path)
    raw = _read_config(model_dir)
    run = RunConfig.from_dict({k: raw[k] for k in ("preset", "model", "objective", "train", "data") if k in raw})
    preprocessing = preprocessing_from_dict(raw["preprocessing"])
    if tuple(run.model.input_shape) != preprocessing.input_shape:
        raise AekitError(
            f"{model_dir}: model input_shape {run.model.input_shape} disagrees with preprocessing "
            f"input_shape {preprocessing.input_shape}"
        )
    module = build_model(run.model)
    state = load_tensors(model_dir / WEIGHTS_FILE)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise AekitError(f"{model_dir / WEIGHTS_FILE} does not match config.json: {err}") from None
    fitted_tensors = load_tensors(model_dir / FITTED_FILE) if (model_dir / FITTED_FILE).exists() else {}
    return SavedModel(module, preprocessing, run, fitted=raw.get("fitted") or {}, fitted_tensors=fitted_tensors,
                      data_info=raw.get("data_info") or {}, path=model_dir)
