"""Saved models: a folder of data, never code.

::

    model/
      config.json          class, format version, aekit version, preset, model / objective /
                           preprocessing config, fitted state (thresholds, sampler settings, ...)
      model.safetensors    the network's weights
      fitted.safetensors   optional tensors of fitted state (codec tables, mixture means, ...)

Loading rebuilds the network from ``config.json`` and loads the weights with
``strict=True``; nothing is unpickled and no size is guessed from a weight's shape.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.torch
import torch

from ._version import __version__
from .config import ModelConfig, ObjectiveConfig, RunConfig
from .data.preprocess import InputSpace, Preprocessing
from .errors import AekitError
from .fileio import atomic_write_bytes, atomic_write_json, replace_dir
from .models import Autoencoder, build_model

FORMAT_VERSION = 1
CLASS_NAME = "aekit.Autoencoder"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
FITTED_FILE = "fitted.safetensors"


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else CPU; an unavailable device is a clear error."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise AekitError(f"device {device!r} was asked for but CUDA is not available here; use --device cpu or auto")
    if device == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise AekitError("device 'mps' was asked for but is not available here; use --device cpu or auto")
    return torch.device(device)


class Model:
    """A trained autoencoder plus everything needed to use it on real images.

    This is what :func:`aekit.load` and :func:`aekit.train` return. Its methods take images as
    users have them (uint8 or [0, 1] float; NumPy or torch; one image or a batch) and apply the
    recorded preprocessing; outputs come back in the same space.

    Attributes:
        module: the :class:`~aekit.models.Autoencoder` (model-space tensors in and out).
        preprocessing: the recorded :class:`~aekit.data.preprocess.Preprocessing`.
        config: the :class:`~aekit.config.RunConfig` it was trained with.
        fitted: JSON-able fitted state saved with the model (filled in by tasks).
        fitted_tensors: tensor fitted state saved with the model.
        path: the folder it was loaded from, if any.
    """

    def __init__(
        self, module: Autoencoder, preprocessing: Preprocessing, config: RunConfig, *,
        fitted: dict[str, Any] | None = None, fitted_tensors: dict[str, torch.Tensor] | None = None,
        path: str | os.PathLike | None = None, data_info: dict[str, Any] | None = None,
    ):
        self.module = module.eval()
        self.preprocessing = preprocessing
        self.config = config
        self.fitted = dict(fitted or {})
        self.fitted_tensors = dict(fitted_tensors or {})
        self.path = Path(path) if path is not None else None
        self.data_info = dict(data_info or {})

    # ----------------------------------------------------------------- properties
    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    @property
    def latent_dim(self) -> int:
        """Values in one code (``ModelConfig.code_size``: ``latent_dim``, or c*h*w for a spatial code)."""
        return self.config.model.code_size

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.preprocessing.input_shape

    def to(self, device: str | torch.device) -> Model:
        self.module.to(resolve_device(device))
        return self

    def identity(self) -> str:
        """SHA-256 of the weights and config: names this exact model (e.g. in compressed files)."""
        digest = hashlib.sha256()
        digest.update(json.dumps(self.config.model.to_dict(), sort_keys=True).encode())
        digest.update(json.dumps(self.preprocessing.to_dict(), sort_keys=True).encode())
        for name, tensor in sorted(self.module.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()

    # ----------------------------------------------------------------- inference
    def _batches(self, x: torch.Tensor, batch_size: int):
        for start in range(0, x.shape[0], batch_size):
            yield x[start:start + batch_size]

    @torch.inference_mode()
    def encode(self, images: Any, *, batch_size: int = 1024) -> Any:
        """Images -> codes (N, k) float32 (NumPy for NumPy input, torch for torch input)."""
        x, space = self.preprocessing.to_model(images, device=self.device)
        codes = torch.cat([self.module.encode(b) for b in self._batches(x, batch_size)]).float().cpu()
        codes = codes if space.batched else codes[0]
        return codes if space.is_torch else codes.numpy()

    @torch.inference_mode()
    def posterior(self, images: Any) -> Any:
        """Images -> the VAE posterior q(z|x) (``mean``, ``std``, ``sample``, ``kl``, ``log_prob``), batched."""
        x, _ = self.preprocessing.to_model(images, device=self.device)
        return self.module.posterior(x)

    @torch.inference_mode()
    def decode(self, codes: Any, *, as_float: bool = False, batch_size: int = 1024) -> Any:
        """Codes (N, k) -> images (N, H, W, C): uint8 by default, floats in [0, 1] with ``as_float``."""
        is_torch = isinstance(codes, torch.Tensor)
        z = codes if is_torch else torch.from_numpy(np.asarray(codes, dtype=np.float32))
        batched = z.ndim == 2
        if z.ndim == 1:
            z = z.unsqueeze(0)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise AekitError(f"expected codes of shape (N, {self.latent_dim}); got {tuple(codes.shape)}")
        if not bool(torch.isfinite(z).all()):
            raise AekitError("expected finite codes; got NaN or Inf")
        z = z.float().to(self.device)
        y = torch.cat([self.module.decode(b) for b in self._batches(z, batch_size)])
        space = InputSpace(is_torch, not as_float, torch.float32, "hwc", batched)
        return self.preprocessing.from_model(y, space)

    @torch.inference_mode()
    def reconstruct(self, images: Any, *, batch_size: int = 1024) -> Any:
        """Images -> reconstructions, in the same dtype, layout and array type as the input."""
        x, space = self.preprocessing.to_model(images, device=self.device)
        y = torch.cat([self.module(b).x_hat for b in self._batches(x, batch_size)])
        return self.preprocessing.from_model(y, space)

    def summary(self) -> str:
        from .tasks.summary import summary_text

        return summary_text(self)

    def save(self, path: str | os.PathLike) -> Path:
        return save_model(self, path)

    def __repr__(self) -> str:
        where = f", path='{self.path}'" if self.path else ""
        return (f"Model(preset={self.config.preset!r}, input_shape={self.input_shape}, "
                f"latent_dim={self.latent_dim}{where})")


# --------------------------------------------------------------------- save
def model_config_dict(model: Model) -> dict[str, Any]:
    return {
        "class": CLASS_NAME,
        "format_version": FORMAT_VERSION,
        "aekit_version": __version__,
        "preset": model.config.preset,
        "model": model.config.model.to_dict(),
        "objective": model.config.objective.to_dict(),
        "preprocessing": model.preprocessing.to_dict(),
        "train": model.config.train.to_dict(),
        "data": model.config.data.to_dict(),
        "data_info": model.data_info,
        "fitted": model.fitted,
    }


def save_model(model: Model, path: str | os.PathLike) -> Path:
    """Write ``config.json`` + ``model.safetensors`` (+ ``fitted.safetensors``) atomically.

    The folder is assembled beside the destination and swapped in whole, so a crash never
    leaves a folder with new weights and an old config.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        state = {k: v.detach().cpu().contiguous() for k, v in model.module.state_dict().items()}
        atomic_write_bytes(tmp / WEIGHTS_FILE, safetensors.torch.save(state, metadata={"format": "pt"}))
        if model.fitted_tensors:
            fitted = {k: v.detach().cpu().contiguous() for k, v in model.fitted_tensors.items()}
            atomic_write_bytes(tmp / FITTED_FILE, safetensors.torch.save(fitted))
        atomic_write_json(tmp / CONFIG_FILE, model_config_dict(model))
        replace_dir(tmp, path)
    except BaseException:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise
    model.path = path
    return path


# --------------------------------------------------------------------- load
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
    return raw


def _load_tensors(file: Path) -> dict[str, torch.Tensor]:
    try:
        return safetensors.torch.load_file(str(file), device="cpu")
    except FileNotFoundError:
        raise AekitError(f"missing {file.name} in {file.parent}") from None
    except (safetensors.SafetensorError, OSError, ValueError) as err:
        raise AekitError(f"{file} is truncated or corrupt ({err}); re-export or re-train the model") from None


def load_model(path: str | os.PathLike, *, device: str | torch.device = "cpu") -> Model:
    """Load a saved model (a model folder, or a run folder holding ``model/``)."""
    model_dir = find_model_dir(path)
    raw = _read_config(model_dir)
    known = {"class", "format_version", "aekit_version", "preset", "model", "objective", "preprocessing",
             "train", "data", "data_info", "fitted"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise AekitError(f"{model_dir / CONFIG_FILE}: unknown key(s) {', '.join(unknown)}")
    run = RunConfig.from_dict({k: raw[k] for k in ("preset", "model", "objective", "train", "data") if k in raw})
    model_cfg: ModelConfig = run.model
    ObjectiveConfig.from_dict(raw["objective"])
    preprocessing = Preprocessing.from_dict(raw["preprocessing"])
    if tuple(model_cfg.input_shape) != preprocessing.input_shape:
        raise AekitError(
            f"{model_dir}: model input_shape {model_cfg.input_shape} disagrees with preprocessing "
            f"input_shape {preprocessing.input_shape}"
        )
    module = build_model(model_cfg)
    state = _load_tensors(model_dir / WEIGHTS_FILE)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise AekitError(f"{model_dir / WEIGHTS_FILE} does not match config.json: {err}") from None
    fitted_tensors = _load_tensors(model_dir / FITTED_FILE) if (model_dir / FITTED_FILE).exists() else {}
    model = Model(module, preprocessing, run, fitted=raw.get("fitted") or {}, fitted_tensors=fitted_tensors,
                  path=model_dir, data_info=raw.get("data_info") or {})
    return model.to(device)
