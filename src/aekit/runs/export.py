"""Export a saved model to ONNX: ``encoder.onnx``, ``decoder.onnx`` and ``autoencoder.onnx``.

::

    aekit export RUN --format onnx -o exported/

    exported/
      encoder.onnx       x (N, C, H, W) -> z (N, k)            deterministic latents
                         x (N, C, H, W) -> mean, logvar (N, k)  Gaussian latents (VAE)
      decoder.onnx       z (N, k) -> x_hat (N, C, H, W)
      autoencoder.onnx   x (N, C, H, W) -> x_hat, z             (z is the posterior mean for a VAE)
      export.json        preprocessing, inputs / outputs, aekit version, ONNX-vs-PyTorch check

Every graph takes and returns *model space* tensors (float32, NCHW, batch size free), exactly
what :class:`aekit.models.Autoencoder` sees. How to get there from pixels is the recorded
preprocessing, stored as JSON in each file's metadata (``aekit.preprocessing``) and in
``export.json``: ``x = (pixels / 255 - mean) / std`` (no ``mean``/``std``: ``x = pixels / 255``),
and the way back is ``clamp(x_hat * std + mean, 0, 1) * 255``.

The graphs come from ``torch.onnx.export(dynamo=True)`` (``torch.export`` + onnxscript), and
the export checks itself: the three graphs run in onnxruntime on a random batch and their
largest difference from PyTorch is recorded.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._version import __version__
from ..errors import AekitError
from ..fileio import atomic_write_bytes, atomic_write_json, replace_dir
from ..model import Model

FORMATS = ("onnx",)
DEFAULT_OPSET = 18


class _Encoder(nn.Module):
    """x -> the statistics of the posterior: z for a code, (mean, logvar) for a Gaussian latent."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor):
        stats = tuple(self.module.latent.posterior(self.module.encoder(x)).statistics().values())
        return stats[0] if len(stats) == 1 else stats


class _Decoder(nn.Module):
    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.module.decode(z)


class _Autoencoder(nn.Module):
    """x -> (x_hat, z), with the posterior mean as z for a Gaussian latent (eval mode)."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor):
        z, _ = self.module.latent(self.module.encoder(x))
        return self.module.decode(z), z


def graph_specs(model: Model) -> dict[str, dict[str, Any]]:
    """File name -> wrapper, input name and example, output names, of the three graphs."""
    module = model.module.eval()
    c, h, w = model.input_shape
    x = torch.rand(2, c, h, w)
    z = torch.randn(2, model.latent_dim)
    with torch.no_grad():
        statistics = list(module.latent.posterior(module.encoder(x)).statistics())
    return {
        "encoder.onnx": dict(wrapper=_Encoder(module), input="x", example=x,
                             outputs=statistics),
        "decoder.onnx": dict(wrapper=_Decoder(module), input="z", example=z, outputs=["x_hat"]),
        "autoencoder.onnx": dict(wrapper=_Autoencoder(module), input="x", example=x, outputs=["x_hat", "z"]),
    }


def _metadata(model: Model, role: str) -> dict[str, str]:
    return {
        "aekit.version": __version__,
        "aekit.role": role,
        "aekit.preset": str(model.config.preset),
        "aekit.latent": model.config.model.latent,
        "aekit.latent_dim": str(model.latent_dim),
        "aekit.input_shape": json.dumps(list(model.input_shape)),
        "aekit.preprocessing": json.dumps(model.preprocessing.to_dict()),
        "aekit.model_space": "x = (pixels/255 - mean)/std per channel (pixels/255 without mean/std), "
                             "float32 NCHW; outputs back: clamp(x_hat*std + mean, 0, 1)*255",
        "aekit.model_identity": model.identity(),
    }


def _to_onnx(wrapper: nn.Module, example: torch.Tensor, input_name: str, outputs: list[str],
             opset: int) -> Any:
    """One graph as an ``onnx.ModelProto`` with a free batch dimension."""
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    quiet = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(quiet):
        warnings.simplefilter("ignore")
        try:
            program = torch.onnx.export(
                wrapper.eval(), (example,), dynamo=True, input_names=[input_name], output_names=outputs,
                dynamic_shapes=({0: batch},), opset_version=opset, verbose=False, report=False,
            )
        except Exception as err:  # the exporter's errors are long; keep the gist
            raise AekitError(f"ONNX export of {type(wrapper).__name__.strip('_').lower()} failed: "
                             f"{type(err).__name__}: {str(err).splitlines()[0][:300]}") from err
    return program.model_proto


def _check_with_onnxruntime(files: dict[str, bytes], specs: dict[str, dict[str, Any]], n: int = 5,
                            seed: int = 0) -> dict[str, float]:
    """Largest |ONNX - PyTorch| per graph on a random batch of ``n`` (model-space inputs)."""
    import onnxruntime as ort

    generator = torch.Generator().manual_seed(seed)
    diffs = {}
    for name, spec in specs.items():
        example = spec["example"]
        if spec["input"] == "x":
            inputs = torch.rand((n, *example.shape[1:]), generator=generator)
        else:
            inputs = torch.randn((n, *example.shape[1:]), generator=generator)
        session = ort.InferenceSession(files[name], providers=["CPUExecutionProvider"])
        got = session.run(None, {spec["input"]: inputs.numpy()})
        with torch.inference_mode():
            want = spec["wrapper"](inputs)
        want = want if isinstance(want, tuple) else (want,)
        diffs[name] = max(float(np.abs(g - w.numpy()).max()) for g, w in zip(got, want, strict=True))
    return diffs


def export_onnx(model: Model, out_dir: str | os.PathLike, *, opset: int = DEFAULT_OPSET, overwrite: bool = False,
                verify: bool = True) -> dict[str, Any]:
    """Write ``encoder.onnx``, ``decoder.onnx``, ``autoencoder.onnx`` and ``export.json`` to ``out_dir``.

    Args:
        model: a loaded model.
        out_dir: the folder to create (assembled beside it and swapped in whole).
        opset: ONNX opset version.
        overwrite: replace an existing non-empty ``out_dir``.
        verify: run the graphs in onnxruntime and record the largest difference from PyTorch.

    Returns:
        The manifest written to ``export.json``.
    """
    try:
        import onnx
    except ImportError:
        raise AekitError("ONNX export needs the onnx and onnxscript packages; install them with: "
                         "pip install 'aekit[onnx]'") from None
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise AekitError(f"expected an output folder; {out_dir} is a file")
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise AekitError(f"{out_dir} already exists and is not empty; pass --overwrite to replace it")
    model.module.cpu().eval()
    specs = graph_specs(model)
    files: dict[str, bytes] = {}
    for name, spec in specs.items():
        proto = _to_onnx(spec["wrapper"], spec["example"], spec["input"], spec["outputs"], opset)
        onnx.helper.set_model_props(proto, _metadata(model, name.removesuffix(".onnx")))
        proto.doc_string = f"aekit {model.config.preset} {name.removesuffix('.onnx')}; model-space tensors"
        files[name] = proto.SerializeToString()
    c, h, w = model.input_shape
    k = model.latent_dim
    shapes = {"x": ["N", c, h, w], "z": ["N", k], "mean": ["N", k], "logvar": ["N", k], "x_hat": ["N", c, h, w]}
    manifest: dict[str, Any] = {
        "format": "onnx",
        "opset": opset,
        "aekit_version": __version__,
        "preset": model.config.preset,
        "latent": model.config.model.latent,
        "model_identity": model.identity(),
        "preprocessing": model.preprocessing.to_dict(),
        "model_space": _metadata(model, "")["aekit.model_space"],
        "graphs": {name: {"inputs": {spec["input"]: shapes[spec["input"]]},
                          "outputs": {o: shapes[o] for o in spec["outputs"]}} for name, spec in specs.items()},
    }
    if verify:
        try:
            manifest["max_abs_diff_vs_pytorch"] = _check_with_onnxruntime(files, specs)
        except ImportError:
            manifest["max_abs_diff_vs_pytorch"] = None  # onnxruntime not installed: nothing to run them with
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        for name, data in files.items():
            atomic_write_bytes(tmp / name, data)
        atomic_write_json(tmp / "export.json", manifest)
        replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def export(model: Model, out_dir: str | os.PathLike, *, format: str = "onnx", **kwargs: Any) -> dict[str, Any]:
    """Export ``model`` in ``format`` (only ``onnx`` so far) to ``out_dir``."""
    if format not in FORMATS:
        raise AekitError(f"expected an export format in {', '.join(FORMATS)}; got {format!r}")
    return export_onnx(model, out_dir, **kwargs)


__all__ = ["FORMATS", "export", "export_onnx", "graph_specs"]
