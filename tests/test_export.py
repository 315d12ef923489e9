"""ONNX export: the three graphs run in onnxruntime and match PyTorch to 1e-5; preprocessing travels along."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from aekit.cli import main
from aekit.data.preprocess import Preprocessing
from aekit.model import Model, load_model, save_model
from aekit.models import build_model
from aekit.presets import build_run_config

onnx = pytest.importorskip("onnx", reason="ONNX export needs the onnx extra (pip install 'aekit[onnx]')")
ort = pytest.importorskip("onnxruntime", reason="the export check needs onnxruntime (pip install 'aekit[onnx]')")
pytest.importorskip("onnxscript", reason="torch.onnx.export(dynamo=True) needs onnxscript")

SHAPE = (1, 8, 8)


def saved_model(tmp_path, preset: str, prep: Preprocessing | None = None):
    run = build_run_config(preset, input_shape=SHAPE, model={"latent_dim": 3, "channels": (4, 8)})
    torch.manual_seed(0)
    module = build_model(run.model)
    # Random but not tiny weights, so a wrong graph cannot pass by producing ~0 everywhere.
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.1 * torch.randn_like(p))
    model = Model(module, prep or Preprocessing(SHAPE), run)
    return save_model(model, tmp_path / preset)


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("preset", ["dense", "conv", "vae"])
def test_graphs_match_pytorch(preset, tmp_path, capsys):
    run = saved_model(tmp_path, preset)
    out = tmp_path / "onnx"
    assert main(["export", str(run), "--format", "onnx", "-o", str(out)]) == 0
    assert "onnxruntime vs PyTorch" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["autoencoder.onnx", "decoder.onnx", "encoder.onnx",
                                                     "export.json"]
    module = load_model(run).module.eval()
    g = torch.Generator().manual_seed(3)
    for n in (1, 4):  # the batch dimension is free
        x = torch.rand(n, *SHAPE, generator=g)
        with torch.no_grad():
            h = module.encoder(x)
            z = module.encode(x)
            x_hat = module.decode(z)
        enc = session(out / "encoder.onnx").run(None, {"x": x.numpy()})
        if preset == "vae":
            q = module.latent.posterior(h)
            assert len(enc) == 2
            np.testing.assert_allclose(enc[0], q.mean.numpy(), rtol=0, atol=1e-5)
            np.testing.assert_allclose(enc[1], q.logvar.numpy(), rtol=0, atol=1e-5)
        else:
            assert len(enc) == 1
            np.testing.assert_allclose(enc[0], z.numpy(), rtol=0, atol=1e-5)
        dec = session(out / "decoder.onnx").run(None, {"z": z.numpy()})[0]
        np.testing.assert_allclose(dec, x_hat.numpy(), rtol=0, atol=1e-5)
        full_x_hat, full_z = session(out / "autoencoder.onnx").run(None, {"x": x.numpy()})
        np.testing.assert_allclose(full_x_hat, x_hat.numpy(), rtol=0, atol=1e-5)
        np.testing.assert_allclose(full_z, z.numpy(), rtol=0, atol=1e-5)
        assert float(np.abs(x_hat.numpy() - 0.5).max()) > 1e-3  # outputs are not a constant
    manifest = json.loads((out / "export.json").read_text())
    assert max(manifest["max_abs_diff_vs_pytorch"].values()) < 1e-5
    assert manifest["graphs"]["encoder.onnx"]["outputs"] == (
        {"mean": ["N", 3], "logvar": ["N", 3]} if preset == "vae" else {"z": ["N", 3]})


def test_preprocessing_in_metadata_reproduces_reconstruct(tmp_path, capsys):
    """Pixels -> the metadata's preprocessing -> autoencoder.onnx -> back equals Model.reconstruct."""
    prep = Preprocessing(SHAPE, mean=(0.3,), std=(0.2,))
    run = saved_model(tmp_path, "deep", prep)
    out = tmp_path / "onnx"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["export", str(run), "-o", str(out)]) == 2  # a non-empty folder is not replaced silently
    assert "--overwrite" in capsys.readouterr().err and (out / "keep.txt").exists()
    assert main(["export", str(run), "-o", str(out), "--overwrite"]) == 0
    assert not (out / "keep.txt").exists()
    proto = onnx.load(str(out / "autoencoder.onnx"))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["aekit.role"] == "autoencoder"
    recorded = json.loads(meta["aekit.preprocessing"])
    assert recorded["mean"] == [0.3] and recorded["std"] == [0.2] and recorded["input_shape"] == [1, 8, 8]
    pixels = np.random.default_rng(0).integers(0, 256, size=(5, 8, 8, 1), dtype=np.uint8)
    mean = np.asarray(recorded["mean"], np.float32)
    std = np.asarray(recorded["std"], np.float32)
    x = ((pixels / np.float32(recorded["uint8_scale"]) - mean) / std).astype(np.float32).transpose(0, 3, 1, 2)
    x_hat = session(out / "autoencoder.onnx").run(None, {"x": x})[0]
    back = np.round(np.clip(x_hat * std[None, :, None, None] + mean[None, :, None, None], 0, 1) * 255)
    want = load_model(run).reconstruct(pixels)
    assert np.abs(back.transpose(0, 2, 3, 1) - want.astype(np.float64)).max() <= 1
