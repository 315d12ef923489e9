"""Learned compression: the rate term against brute force, code tables, the .aek file, the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import aekit
from aekit.cli import main
from aekit.codec import Codec, CodePrior, fit_codec
from aekit.codec.container import read_header
from aekit.data.preprocess import Preprocessing
from aekit.errors import AekitError, NotFittedError
from aekit.model import Model
from aekit.models import build_model
from aekit.models.latents import FactorizedDensity, QuantisedLatent
from aekit.objectives import build_objective
from aekit.objectives.regularisers import rate_bpp
from aekit.presets import build_run_config


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def tiny_codec(seed: int = 0, latent_dim: int = 6) -> Model:
    run = build_run_config("codec", input_shape=(1, 8, 8), model={"latent_dim": latent_dim, "channels": (4, 8)})
    torch.manual_seed(seed)
    module = build_model(run.model)
    with torch.no_grad():  # spread the codes over several integers so the tables have work to do
        module.encoder[-1].weight.mul_(8)
    return Model(module, Preprocessing((1, 8, 8)), run)


def images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 8, 8, 1), dtype=np.uint8)


# --------------------------------------------------------------------------- rate term
def test_density_interval_probability_matches_numerical_integration():
    torch.manual_seed(0)
    density = FactorizedDensity(3, components=3)
    with torch.no_grad():
        density.loc.normal_(0, 2)
        density.log_scale.uniform_(-1, 1)
        density.logits.normal_()
    z = torch.tensor([[-7.3, 0.2, 12.0], [0.0, 3.6, -0.49]], dtype=torch.float64)
    density = density.double().requires_grad_(False)
    prob = density.interval_prob(z)

    def pdf(t, d):  # mixture of logistics, by hand
        w = torch.softmax(density.logits[d], 0)
        s = torch.exp(density.log_scale[d])
        u = (t[:, None] - density.loc[d]) / s
        return (w * torch.exp(-u) / (s * (1 + torch.exp(-u)) ** 2)).sum(1)

    for b in range(2):
        for d in range(3):
            t = torch.linspace(float(z[b, d]) - 0.5, float(z[b, d]) + 0.5, 20001, dtype=torch.float64)
            reference = torch.trapezoid(pdf(t, d), t)
            assert float(prob[b, d]) == pytest.approx(float(reference), rel=1e-6, abs=1e-12)
    bits = density.bits(z)
    np.testing.assert_allclose(bits.numpy(), -np.log2(np.clip(prob.numpy(), 1e-9, None)).sum(1), rtol=1e-6)


def test_density_is_a_distribution_over_integers():
    density = FactorizedDensity(2).double().requires_grad_(False)
    z = torch.arange(-60, 61, dtype=torch.float64)[:, None].expand(-1, 2)
    np.testing.assert_allclose(density.interval_prob(z).sum(0).detach().numpy(), 1.0, atol=1e-9)


def test_quantised_latent_adds_uniform_noise_only_in_training():
    latent = QuantisedLatent(4)
    h = torch.zeros(5000, 4)
    z, _ = latent.train()(h)
    assert z.abs().max() <= 0.5 and abs(float(z.mean())) < 0.02 and float(z.var()) == pytest.approx(1 / 12, rel=0.1)
    z, _ = latent.eval()(h)
    assert torch.equal(z, h)


def test_rate_term_is_bits_per_pixel_weighted():
    model = tiny_codec()
    run = model.config
    objective = build_objective(run.objective, run.model)
    x = torch.rand(4, 1, 8, 8)
    module = model.module.eval()
    with torch.no_grad():
        terms = objective(module, x)
        out = module(x)
        expected = run.objective.rate * module.latent.density.bits(out.z) / 64
        assert float(terms["rate"]) == pytest.approx(float(expected.mean()), rel=1e-5)
        bpp = float(rate_bpp(module, x, out.z).mean())
    assert bpp == pytest.approx(float(expected.mean()) / run.objective.rate)
    with pytest.raises(AekitError, match="latent=quantised"):
        bad = build_run_config("deep", input_shape=(1, 8, 8), objective={"rate": 0.1})
        build_objective(bad.objective, bad.model)


# --------------------------------------------------------------------------- tables
def test_code_prior_fit_and_mapping():
    rng = np.random.default_rng(0)
    codes = rng.normal(scale=[1.0, 4.0], size=(5000, 2)).astype(np.float32)
    prior = CodePrior.fit(codes, step=0.5)
    np.testing.assert_allclose(prior.pmf.sum(1), 1.0)
    sym = prior.symbols_of(codes)
    np.testing.assert_array_equal(prior.codes_of(sym), np.rint(codes / 0.5) * 0.5)  # inside the window: exact
    far = prior.codes_of(prior.symbols_of(np.array([[1e4, -1e4]], np.float32)))
    assert far[0, 0] < 1e4 and far[0, 1] > -1e4  # clamped to the window's edge
    # ideal bits of the fitted data ~ the empirical entropy of the quantised codes
    q = np.rint(codes[:, 0] / 0.5)
    _, counts = np.unique(q, return_counts=True)
    entropy = -(counts / counts.sum() * np.log2(counts / counts.sum())).sum()
    ideal = -np.log2(prior.pmf[0, sym[:, 0]]).mean()
    assert ideal == pytest.approx(entropy, abs=0.02)
    with pytest.raises(AekitError, match="float16"):
        CodePrior.fit(codes, step=0.1)


# --------------------------------------------------------------------------- files
def test_round_trip_is_bit_identical_and_small():
    model = tiny_codec()
    fit_codec(model, images(500), steps=(1.0, 2.0))
    x = images(20, seed=1)
    for step in (1.0, 2.0):
        codec = Codec(model, step)
        expected = codec.quantised_codes(x)
        archive = codec.compress(x)
        np.testing.assert_array_equal(codec.decompress_codes(archive), expected)
        np.testing.assert_array_equal(codec.decompress(archive), model.decode(expected))
        ideal = codec.prior.bits(codec.symbols(x)).sum() / 8
        assert len(archive) <= math.ceil(ideal) + 4 + 30  # coder overhead + header + CRC
        for i in range(3):
            single = codec.compress(x[i])
            np.testing.assert_array_equal(codec.decompress_codes(single), expected[i:i + 1])
            assert codec.decompress(single).shape == (8, 8, 1)
    header, _ = read_header(Codec(model, 2.0).compress(x))
    assert header.count == 20 and header.shape == (1, 8, 8) and header.step == 2.0


def test_bad_files_and_models_are_clear_errors():
    model = tiny_codec()
    fit_codec(model, images(300))
    codec = Codec(model)
    data = codec.compress(images(5))
    with pytest.raises(AekitError, match="truncated or corrupt"):
        codec.decompress(data[:-3])
    with pytest.raises(AekitError, match="truncated"):
        codec.decompress(data[:8])
    with pytest.raises(AekitError, match="not an aekit compressed file"):
        codec.decompress(b"\x89PNG\r\n\x1a\n" + bytes(40))
    flipped = bytearray(data)
    flipped[-6] ^= 0xFF
    with pytest.raises(AekitError, match="corrupt"):
        codec.decompress(bytes(flipped))
    newer = bytearray(data)
    newer[3] = 9
    with pytest.raises(AekitError, match="version 9"):
        codec.decompress(bytes(newer))
    other = tiny_codec(seed=1)
    fit_codec(other, images(300))
    with pytest.raises(AekitError, match="different model"):
        Codec(other).decompress(data)
    bigger = build_run_config("codec", input_shape=(1, 12, 12), model={"latent_dim": 6, "channels": (4, 8)})
    big = Model(build_model(bigger.model), Preprocessing((1, 12, 12)), bigger)
    fit_codec(big, np.zeros((10, 12, 12, 1), np.uint8))
    with pytest.raises(AekitError, match="8x8"):
        Codec(big).decompress(data)
    with pytest.raises(AekitError, match="8x8"):
        codec.compress(np.zeros((2, 12, 12, 1), np.uint8))
    with pytest.raises(NotFittedError, match="--fit-codec"):
        Codec(model, 4.0)


def test_saved_tables_travel_with_the_model(tmp_path):
    model = tiny_codec()
    fit_codec(model, images(300))
    data = Codec(model).compress(images(4))
    model.save(tmp_path / "m")
    loaded = aekit.load(tmp_path / "m")
    np.testing.assert_array_equal(Codec(loaded).decompress(data), Codec(model).decompress(data))


def test_cli_compress_decompress(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--preset", "codec", "--dataset", "digits", "--latent", "6", "--epochs", "2",
                 "--set", "model.channels=4,8", "--out", str(run), "--no-progress", "--no-eval"]) == 0
    capsys.readouterr()
    test = aekit.data.load_dataset("digits").test.images[:12]
    np.save(tmp_path / "x.npy", test)
    assert main(["compress", str(run), str(tmp_path / "x.npy"), "-o", str(tmp_path / "aek")]) == 2
    assert "--fit-codec" in capsys.readouterr().err
    assert main(["compress", str(run), "--fit-codec"]) == 0
    assert main(["compress", str(run), str(tmp_path / "x.npy"), "-o", str(tmp_path / "aek"), "--json"]) == 0
    capsys.readouterr()
    assert len(list((tmp_path / "aek").glob("*.aek"))) == 12
    assert main(["compress", str(run), str(tmp_path / "x.npy"), "-o", str(tmp_path / "all.aek"), "--archive",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["images"] == 12 and len(result["written"]) == 1
    assert main(["decompress", str(run), str(tmp_path / "aek"), str(tmp_path / "all.aek"), "-o",
                 str(tmp_path / "png")]) == 0
    restored = sorted((tmp_path / "png").glob("*.png"))
    assert len(restored) == 24
    model = aekit.load(run)
    codec = Codec(model)
    from aekit.data import read_images

    back = read_images([tmp_path / "png" / "x_0003.png"]).images[0]
    np.testing.assert_array_equal(back, model.decode(codec.quantised_codes(test[3:4]))[0])
    (tmp_path / "junk.aek").write_bytes(b"hello world, not compressed at all")
    capsys.readouterr()
    assert main(["decompress", str(run), str(tmp_path / "junk.aek"), "-o", str(tmp_path / "png")]) == 2
    assert "not an aekit compressed file" in capsys.readouterr().err
