"""Samplers, generation, interpolation, latent maps, their CLI verbs and report sections."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import aekit
from aekit.cli import main
from aekit.errors import AekitError, NotFittedError
from aekit.model import load_model
from aekit.runs.pictures import interpolation_strip, manifold, traversal
from aekit.samplers import FULL_COVARIANCE_MAX_DIM, GaussianMixtureSampler, PriorSampler
from aekit.tasks.generate import fit_sampler, generate, get_sampler, saved_sampler
from aekit.tasks.interpolate import interpolate, interpolate_codes
from aekit.tasks.latent_maps import manifold_codes, project
from aekit.tasks.likelihood import PosteriorCollapseWarning


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)  # tiny models: a second thread only adds synchronisation


# ----------------------------------------------------------------------------- samplers
def test_prior_sampler_scales_with_temperature():
    g = torch.Generator().manual_seed(0)
    z = PriorSampler(3).sample(20000, temperature=0.5, generator=g)
    assert z.shape == (20000, 3)
    assert float(z.std()) == pytest.approx(0.5, rel=0.03) and abs(float(z.mean())) < 0.02
    with pytest.raises(AekitError, match="temperature"):
        PriorSampler(3).sample(4, temperature=0)


def two_clusters(n: int = 2000) -> np.ndarray:
    rng = np.random.default_rng(0)
    a = rng.normal([-4.0, 0.0], [0.5, 1.0], size=(n // 2, 2))
    b = rng.normal([4.0, 2.0], [1.0, 0.3], size=(n // 2, 2))
    return np.concatenate([a, b])


def test_mixture_sampler_recovers_clusters_and_round_trips():
    sampler = GaussianMixtureSampler(2, seed=0).fit(two_clusters())
    means = sampler.means_[sampler.means_[:, 0].argsort()]
    torch.testing.assert_close(means, torch.tensor([[-4.0, 0.0], [4.0, 2.0]]), atol=0.15, rtol=0)
    z = sampler.sample(20000, generator=torch.Generator().manual_seed(0))
    left = z[z[:, 0] < 0]
    assert len(left) == pytest.approx(10000, rel=0.05)
    torch.testing.assert_close(left.std(0), torch.tensor([0.5, 1.0]), atol=0.05, rtol=0)
    cooler = sampler.sample(20000, temperature=0.5, generator=torch.Generator().manual_seed(0))
    assert float(cooler[cooler[:, 0] < 0].std(0)[1]) == pytest.approx(0.5, abs=0.05)
    info, tensors = sampler.to_state()
    json.dumps(info)  # JSON-able settings
    again = GaussianMixtureSampler.from_state(info, tensors)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    torch.testing.assert_close(again.sample(10, generator=g1), sampler.sample(10, generator=g2))


def test_wide_codes_get_a_diagonal_mixture_that_samples_and_round_trips():
    rng = np.random.default_rng(1)
    k = FULL_COVARIANCE_MAX_DIM + 1  # above the limit a full covariance fit would cost O(k^3) per component
    centres = np.stack([np.full(k, -3.0), np.full(k, 3.0)])
    scales = np.stack([np.full(k, 0.5), np.full(k, 2.0)])
    codes = np.concatenate([rng.normal(centres[i], scales[i], size=(2000, k)) for i in range(2)])
    sampler = GaussianMixtureSampler(2, seed=0).fit(codes)
    assert sampler.covariance_type_ == "diag" and sampler.covariances_.shape == (2, k)
    z = sampler.sample(4000, generator=torch.Generator().manual_seed(0))
    low = z[z.mean(1) < 0]
    assert len(low) == pytest.approx(2000, rel=0.1)
    assert float(low.std(0).mean()) == pytest.approx(0.5, abs=0.05)
    assert float(z[z.mean(1) > 0].std(0).mean()) == pytest.approx(2.0, abs=0.15)
    info, tensors = sampler.to_state()
    assert info["covariance_type"] == "diag"
    again = GaussianMixtureSampler.from_state(info, tensors)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    torch.testing.assert_close(again.sample(10, generator=g1), sampler.sample(10, generator=g2))
    tensors["covariances"] = torch.ones(2, k, k)
    with pytest.raises(AekitError, match="disagree"):
        GaussianMixtureSampler.from_state(info, tensors)


def test_mixture_sampler_checks():
    with pytest.raises(NotFittedError, match="not fitted"):
        GaussianMixtureSampler(2).sample(3)
    with pytest.raises(AekitError, match="at least 20 codes"):
        GaussianMixtureSampler(10).fit(np.zeros((5, 2)))
    sampler = GaussianMixtureSampler(2).fit(two_clusters(200))
    info, tensors = sampler.to_state()
    del tensors["weights"]
    with pytest.raises(AekitError, match="missing tensor"):
        GaussianMixtureSampler.from_state(info, tensors)


def test_interpolation_paths():
    a, b = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    lin = interpolate_codes(a, b, 5, "linear")
    torch.testing.assert_close(lin[0], a) and torch.testing.assert_close(lin[-1], b)
    torch.testing.assert_close(lin[2], torch.tensor([1.5, 1.5]))
    sl = interpolate_codes(a, b, 5, "slerp")
    torch.testing.assert_close(sl[0], a) and torch.testing.assert_close(sl[-1], b)
    torch.testing.assert_close(sl.norm(dim=1), torch.full((5,), 3.0))  # stays on the circle
    torch.testing.assert_close(interpolate_codes(a, 2 * a, 3, "slerp"), interpolate_codes(a, 2 * a, 3, "linear"))
    with pytest.raises(AekitError, match="at least 2 steps"):
        interpolate_codes(a, b, 1)
    with pytest.raises(AekitError, match="linear, slerp"):
        interpolate_codes(a, b, 3, "cubic")


def test_manifold_grid_layout():
    grid = manifold_codes(3, vae=True)
    assert grid.shape == (9, 2)
    assert grid[0, 0] < grid[2, 0] and grid[0, 1] > grid[6, 1]  # z1 grows rightwards, z2 upwards
    assert grid[0, 0] == pytest.approx(-1.6449, abs=1e-3)  # Φ⁻¹(0.05)
    codes = np.random.default_rng(0).normal(size=(500, 2))
    spans = manifold_codes(4, vae=False, codes=codes)
    assert spans[:, 0].min() == pytest.approx(np.percentile(codes[:, 0], 1))


# ----------------------------------------------------------------------------- trained runs
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A deterministic AE and a VAE trained briefly on 12x12 blobs, with reports."""
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:12, 0:12]
    c = rng.uniform(3, 9, size=(400, 2, 1, 1))
    images = (np.exp(-((xx - c[:, 0]) ** 2 + (yy - c[:, 1]) ** 2) / 6.0) * 255).astype(np.uint8)
    labels = (c[:, 0, 0, 0] > 6).astype(np.int64) + 2 * (c[:, 1, 0, 0] > 6)
    root = tmp_path_factory.mktemp("gen")
    data = root / "blobs.npz"
    np.savez(data, images=images, labels=labels)
    common = dict(dataset=str(data), epochs=3, batch_size=64, progress=False)
    deep = aekit.train("deep", out=root / "deep", latent_dim=3, hidden=(32,), **common)
    with warnings.catch_warnings():  # three epochs are too few to be sure the posterior is in use
        warnings.simplefilter("ignore", PosteriorCollapseWarning)
        vae = aekit.train("vae", out=root / "vae", latent_dim=2, hidden=(64, 32), lr=3e-3, **common)
    return {"deep": root / "deep", "vae": root / "vae", "data": data, "deep_model": deep, "vae_model": vae}


def test_deterministic_model_gets_a_saved_mixture_sampler(runs):
    model = load_model(runs["deep"])
    sampler = saved_sampler(model)
    assert sampler is not None and sampler.latent_dim == 3 and model.fitted["sampler"].n_fit_ > 100
    images = generate(model, 8, seed=1)
    assert images.shape == (8, 12, 12, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, generate(model, 8, seed=1))  # reproducible by seed
    assert not np.array_equal(images, generate(model, 8, seed=2))
    with pytest.raises(AekitError, match="needs a VAE"):
        get_sampler(model, "prior")


def test_sampler_missing_raises_with_a_hint_and_refits(runs, tmp_path):
    model = load_model(runs["deep"])
    model.fitted.pop("sampler")
    model.save(tmp_path / "m")
    bare = load_model(tmp_path / "m")
    with pytest.raises(NotFittedError, match="--fit-sampler"):
        generate(bare, 4)
    fit_sampler(bare, np.zeros((40, 12, 12, 1), dtype=np.uint8) + np.arange(40, dtype=np.uint8)[:, None, None, None])
    bare.save(tmp_path / "m")
    assert saved_sampler(load_model(tmp_path / "m")) is not None


def test_vae_samples_the_prior_and_interpolates(runs):
    model = load_model(runs["vae"])
    assert get_sampler(model).kind == "prior" and saved_sampler(model) is None
    hot, cold = generate(model, 16, temperature=1.0), generate(model, 16, temperature=0.1)
    assert hot.shape == (16, 12, 12, 1) and hot.std(axis=0).mean() > cold.std(axis=0).mean()
    a, b = np.zeros((12, 12), np.uint8), np.full((12, 12, 1), 200, np.uint8)
    path = interpolate(model, a, b, steps=6, method="slerp")
    assert path.shape == (6, 12, 12, 1)
    np.testing.assert_array_equal(path[0], model.reconstruct(b[None] * 0)[0])  # ends are reconstructions
    strip = interpolation_strip(model, a, b, steps=6, methods=("linear", "slerp"))
    assert strip.ndim == 3 and strip.shape[1] > strip.shape[0]
    with pytest.raises(AekitError, match="expected one 12x12 image"):
        interpolate(model, np.zeros((5, 5)), b)


def test_model_posterior_takes_images_as_users_have_them(runs):
    model = load_model(runs["vae"])
    images = np.random.default_rng(0).integers(0, 256, size=(5, 12, 12), dtype=np.uint8)
    q = model.posterior(images)
    np.testing.assert_allclose(q.mean.numpy(), model.encode(images), rtol=0, atol=1e-6)
    assert q.sample().shape == (5, 2) and q.kl().shape == (5,) and (q.std > 0).all()


def test_cli_train_vae_options(runs, tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--preset", "vae", "--dataset", str(runs["data"]), "--epochs", "1", "--latent", "2",
                 "--hidden", "16", "--beta", "2", "--kl-warmup", "3", "--free-bits", "0.1", "--binarize", "static",
                 "--out", str(out), "--no-eval", "--no-progress"]) == 0
    objective = json.loads((out / "run.json").read_text())["config"]["objective"]
    assert (objective["beta"], objective["kl_warmup"], objective["free_bits"], objective["binarize"]) == \
        (2.0, 3.0, 0.1, "static")
    assert "train/kl" in (out / "metrics.jsonl").read_text()


def test_latent_maps(runs):
    vae, deep = load_model(runs["vae"]), load_model(runs["deep"])
    picture = manifold(vae, 5)
    assert picture.shape[:2] == (5 * 36, 5 * 36)  # 12 px cells enlarged 3x to reach 28 px
    with pytest.raises(AekitError, match="2-D code"):
        manifold(deep, 5)
    codes = np.asarray(deep.encode(np.zeros((30, 12, 12, 1), np.uint8) + np.arange(30, dtype=np.uint8)[:, None, None,
                                                                                                       None]))
    picture, order = traversal(deep, codes=codes, steps=5)
    assert len(order) == 3 and picture.ndim == 3
    assert project(codes, "pca").shape == (30, 2) and project(codes, "tsne").shape == (30, 2)
    with pytest.raises(AekitError, match="pca, tsne, umap"):
        project(codes, "isomap")


def test_reports_hold_the_new_sections(runs):
    vae_html = (runs["vae"] / "report.html").read_text()
    for heading in ("Likelihood", "Samples", "Interpolation", "Latent space"):
        assert f"<h2>{heading}</h2>" in vae_html
    assert (runs["vae"] / "manifold.png").is_file() and (runs["vae"] / "latent_map.png").is_file()
    result = json.loads((runs["vae"] / "eval.json").read_text())
    assert result["likelihood"]["nll"] <= -result["likelihood"]["elbo_same_images"] + 1.0
    deep_html = (runs["deep"] / "report.html").read_text()
    assert "<h2>Likelihood</h2>" not in deep_html and "<h2>Samples</h2>" in deep_html
    assert (runs["deep"] / "latent_pca.png").is_file() and (runs["deep"] / "latent_tsne.png").is_file()
    assert (runs["deep"] / "traversal.png").is_file()


# ----------------------------------------------------------------------------- CLI
@pytest.mark.filterwarnings("ignore::aekit.tasks.likelihood.PosteriorCollapseWarning")  # 3-epoch VAE
def test_cli_generate_interpolate_likelihood(runs, tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["generate", str(runs["vae"]), "-n", "16", "-o", str(out), "--temperature", "0.8"]) == 0
    assert Image.open(out).size[0] > 16 * 12
    assert main(["generate", str(runs["vae"]), "--what", "manifold", "-n", "6", "-o", str(tmp_path / "m.png")]) == 0
    assert main(["generate", str(runs["deep"]), "--what", "traversal", "-o", str(tmp_path / "t.png")]) == 0
    assert main(["generate", str(runs["deep"]), "-n", "9", "-o", str(tmp_path / "d.png"),
                 "--fit-sampler", "--components", "3"]) == 0
    assert load_model(runs["deep"]).fitted["sampler"].n_components == 3
    # indices into the test split, and files
    assert main(["interpolate", str(runs["vae"]), "0", "5", "--steps", "4", "--method", "both",
                 "-o", str(tmp_path / "s.png")]) == 0
    Image.fromarray(np.zeros((12, 12), np.uint8)).save(tmp_path / "a.png")
    assert main(["interpolate", str(runs["vae"]), str(tmp_path / "a.png"), "3", "-o", str(tmp_path / "s2.png")]) == 0
    capsys.readouterr()
    assert main(["likelihood", str(runs["vae"]), "-k", "20", "--limit", "10", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["nll_k"] == 20 and result["nll_n"] == 10 and result["nll"] > 0
    assert main(["likelihood", str(runs["vae"]), "-k", "5", "--limit", "5"]) == 0
    text = capsys.readouterr().out
    assert "ELBO" in text and "NLL" in text and "K=5" in text and "active units" in text
    assert main(["eval", str(runs["vae"]), "--no-report"]) == 0
    assert "ELBO" in capsys.readouterr().out


def test_cli_errors_are_one_line(runs, tmp_path, capsys):
    assert main(["generate", str(runs["deep"]), "--what", "manifold", "-o", str(tmp_path / "x.png")]) == 2
    assert "2-D code" in capsys.readouterr().err
    assert main(["likelihood", str(runs["deep"])]) == 2
    assert "VAE" in capsys.readouterr().err
    assert main(["interpolate", str(runs["vae"]), "0", "99999", "-o", str(tmp_path / "x.png")]) == 2
    assert "expected an index" in capsys.readouterr().err
    assert main(["generate", str(runs["deep"]), "--sampler", "prior", "-o", str(tmp_path / "x.png")]) == 2
