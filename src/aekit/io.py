"""The saved-model format: a folder of data, never code.

::

    model/
      config.json          class, format version, aekit version, preset, model / objective /
                           preprocessing config; under "fitted", each fitted component's settings
      model.safetensors    the network's weights
      fitted.safetensors   optional tensors of the fitted components, named "<key>.<name>"
                           ("sampler.means", "codec.1.pmf", ...)

Reading rebuilds the network from ``config.json`` and loads the weights with ``strict=True``;
nothing is unpickled and no size is guessed from a weight's shape. Fitted components (the
mixture sampler, the anomaly threshold, the code tables; :mod:`aekit.fitted`) are rebuilt by the
class registered under their key, which checks its entry; an unknown key, a malformed entry, a
tensor the entry needs that is missing, or a tensor no entry needs, is an error naming the file
and the key. This module knows the format only; :class:`aekit.model.Model` is what users hold.
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

from . import codetables, samplers, thresholds  # noqa: F401  (they register the fitted components read here)
from ._version import __version__
from .config import RunConfig
from .data.kinds import preprocessing_from_dict
from .data.preprocess import Preprocessing
from .errors import AekitError
from .fileio import atomic_write_bytes, atomic_write_json, replace_dir
from .fitted import FittedComponent, MissingTensor, check_components, fitted_type
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
    fitted: dict[str, FittedComponent] = field(default_factory=dict)
    data_info: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


# --------------------------------------------------------------------- fitted components
def fitted_state(fitted: dict[str, FittedComponent]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``config.json["fitted"]`` and the ``fitted.safetensors`` tensors of ``fitted``."""
    check_components(fitted)
    info: dict[str, Any] = {}
    tensors: dict[str, torch.Tensor] = {}
    for key, component in fitted.items():
        info[key], own = component.to_state()
        try:
            json.dumps(info[key])
        except (TypeError, ValueError) as err:
            raise AekitError(f"fitted[{key!r}]: its settings are not plain JSON ({err})") from None
        tensors.update({f"{key}.{name}": t.detach().cpu().contiguous() for name, t in own.items()})
    return info, tensors


def read_fitted(info: Any, tensors: dict[str, torch.Tensor], model_dir: Path) -> dict[str, FittedComponent]:
    """Rebuild each component of ``config.json["fitted"]`` through the class registered under its key."""
    config_file, tensor_file = model_dir / CONFIG_FILE, model_dir / FITTED_FILE
    if not isinstance(info, dict):
        raise AekitError(f"{config_file}: \"fitted\" must be a JSON object of fitted components; got "
                         f"{type(info).__name__}")
    strays = sorted(name for name in tensors if name.split(".", 1)[0] not in info)
    if strays:
        raise AekitError(f"{tensor_file}: tensor(s) {', '.join(strays)} belong to no fitted component of "
                         f"{CONFIG_FILE} (fitted: {', '.join(sorted(info)) or 'none'})")
    fitted = {}
    for key, entry in info.items():
        try:
            cls = fitted_type(key)
        except AekitError as err:
            raise AekitError(f"{config_file}: fitted[{key!r}]: {err}; this aekit ({__version__}) cannot read it")\
                from None
        prefix = f"{key}."
        own = {name[len(prefix):]: t for name, t in tensors.items() if name.startswith(prefix)}
        try:
            component = cls.from_state(entry, own)
        except MissingTensor as err:
            where = tensor_file if tensor_file.exists() else f"{model_dir} (no {FITTED_FILE})"
            raise AekitError(f"{where}: missing tensor {prefix + err.name!r}, which fitted[{key!r}] in "
                             f"{CONFIG_FILE} needs; refit it: {cls.fit_hint}") from None
        except AekitError as err:
            raise AekitError(f"{config_file}: fitted[{key!r}] is malformed: {err}; refit it: {cls.fit_hint}") \
                from None
        # the tensors the rebuilt component saves are the ones its entry names; any other is left over
        extra = sorted(prefix + name for name in set(own) - set(component.to_state()[1]))
        if extra:
            raise AekitError(f"{tensor_file}: tensor(s) {', '.join(extra)} are not part of fitted[{key!r}] as "
                             f"{CONFIG_FILE} describes it; refit it: {cls.fit_hint}")
        fitted[key] = component
    return fitted


# --------------------------------------------------------------------- write
def config_dict(saved: SavedModel, fitted: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``config.json`` record of a model (``fitted``: the components' JSON, from :func:`fitted_state`)."""
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
        "fitted": fitted_state(saved.fitted)[0] if fitted is None else fitted,
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
        fitted_info, fitted_tensors = fitted_state(saved.fitted)
        if fitted_tensors:
            atomic_write_bytes(tmp / FITTED_FILE, safetensors.torch.save(fitted_tensors))
        atomic_write_json(tmp / CONFIG_FILE, config_dict(saved, fitted_info))
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
    fitted = read_fitted({} if raw.get("fitted") is None else raw["fitted"], fitted_tensors, model_dir)
    return SavedModel(module, preprocessing, run, fitted=fitted, data_info=raw.get("data_info") or {},
                      path=model_dir)
