"""The registries: one table per kind of part, and parts added from outside aekit work by name.

Each test that registers something does it here, outside the package, the way a user would,
and removes it again so the other tests see the built-in tables.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

import aekit
from aekit.config import ModelConfig, ObjectiveConfig
from aekit.errors import AekitError
from aekit.models import build_model
from aekit.models.latents import Latent, PointMass, register_latent
from aekit.objectives import build_objective, parse_corruption, register_corruption, register_regulariser
from aekit.objectives.corruptions import Bounds
from aekit.objectives.reconstruction import register_likelihood
from aekit.registry import CORRUPTIONS, LATENTS, LIKELIHOODS, REGULARISERS, SOURCES, Registry

SRC = Path(__file__).resolve().parents[1] / "src" / "aekit"


# --------------------------------------------------------------------------- the Registry itself
def test_unknown_names_list_the_valid_ones():
    table = Registry("widget")
    table.register("a", 1)
    table.register("b")(2)
    assert table.get("b") == 2 and table.names() == ("a", "b") and "a" in table and len(table) == 2
    with pytest.raises(AekitError, match=r"unknown widget 'foo'; valid: a, b"):
        table.get("foo")
    with pytest.raises(AekitError, match=r"unknown corruption 'poisson'; valid: gaussian, salt_pepper, masking"):
        CORRUPTIONS.get("poisson")


def test_duplicate_names_are_refused():
    table = Registry("widget")
    table.register("a", 1)
    with pytest.raises(AekitError, match="widget named 'a' is already registered"):
        table.register("a", 2)
    assert table.get("a") == 1  # the first entry stays
    with pytest.raises(AekitError, match="already registered"):
        register_corruption("gaussian")(lambda u, c, g: u)
    assert table.remove("a") == 1 and "a" not in table


def test_the_built_in_tables():
    assert CORRUPTIONS.names() == ("gaussian", "salt_pepper", "masking", "blocks", "speckle")
    assert REGULARISERS.names() == ("l1", "sparsity", "contractive", "rate")
    assert LIKELIHOODS.names() == ("mse", "bce", "gaussian")
    assert LATENTS.names() == ("deterministic", "gaussian", "quantised")
    assert SOURCES.names() == ("builtin", "folder", "array")
    assert aekit.register_corruption is register_corruption and aekit.register_regulariser is register_regulariser
    assert aekit.register_latent is register_latent and aekit.register_likelihood is register_likelihood


# --------------------------------------------------------------------------- a corruption from outside
@pytest.fixture
def mynoise():
    calls = []

    @register_corruption("mynoise", level=Bounds("a share of rows", 0, 1), key="y", strength=0.2)
    def drop_rows(u, c, generator):
        calls.append(c.level)
        rows = torch.rand(u.shape[0], 1, u.shape[2], 1, generator=generator, device=u.device) < c.level
        return u.masked_fill(rows, 0.0)

    yield calls
    CORRUPTIONS.remove("mynoise")


def test_a_corruption_registered_outside_trains_by_name(mynoise, digits):
    model = aekit.fit(digits.train.images[:300], preset="denoising", corruption=("mynoise:0.3",), epochs=1,
                      device="cpu")
    assert model.config.objective.corruption == ("mynoise:0.3",)
    assert mynoise and set(mynoise) == {0.3}  # applied to the training batches
    assert np.isfinite(model.history[-1]["train/loss"])
    with pytest.raises(AekitError, match="expected a share of rows in"):
        parse_corruption("mynoise:2")


def test_a_corruption_registered_outside_reaches_help_and_viewer(mynoise):
    from aekit.cli.train import _noise_help
    from aekit.serve.app import corruption_menu

    assert "mynoise:LEVEL" in _noise_help()
    entry = next(e for e in corruption_menu() if e["name"] == "mynoise")
    assert (entry["key"], entry["strength"], entry["viewer_spec"]) == ("y", 0.2, "{name}:{strength}")
    ObjectiveConfig(corruption=("gaussian:0.1", "mynoise:0.5"))  # config validation accepts it
    with pytest.raises(AekitError, match="named one of gaussian, salt_pepper, masking, blocks, speckle, mynoise"):
        ObjectiveConfig(corruption=("yournoise:0.5",))


def test_the_viewer_hard_codes_no_corruption():
    static = SRC / "serve" / "static"
    for path in (static / "viewer.js", static / "index.html"):
        text = path.read_text()
        for name in CORRUPTIONS.names():
            assert f'"{name}"' not in text and f"={name}" not in text, f"{path.name} names {name!r}"


# --------------------------------------------------------------------------- a regulariser from outside
@pytest.fixture
def code_l2():
    @register_regulariser("code_l2")
    def penalty(model, x, out, config):
        return out.z.flatten(1).pow(2).sum(1)

    yield penalty
    REGULARISERS.remove("code_l2")


def test_a_regulariser_registered_outside_is_weighted_by_spec(code_l2, digits):
    config = ModelConfig(input_shape=(1, 8, 8), latent_dim=4, hidden=(16,))
    model = build_model(config).train()
    x = torch.rand(5, 1, 8, 8)
    terms = build_objective(ObjectiveConfig(regularisers=("code_l2:0.5",)), config)(model, x)
    z = model.encode(x)
    torch.testing.assert_close(terms["code_l2"], 0.5 * z.pow(2).sum(1).mean())
    torch.testing.assert_close(terms["loss"], terms["recon"] + terms["code_l2"])

    fitted = aekit.fit(digits.train.images[:300], preset="deep", regularisers=("code_l2:1e-3",), epochs=1,
                       device="cpu")
    assert "train/code_l2" in fitted.history[-1] and fitted.history[-1]["train/code_l2"] > 0


@pytest.mark.parametrize("specs, message", [
    (("nope:1",), "naming one of l1, sparsity"),
    (("code_l2",), "finite weight ≥ 0"),
    (("code_l2:-1",), "finite weight ≥ 0"),
    (("code_l2:1", "code_l2:2"), "listed twice"),
    (("l1:0.1",), "set objective.l1 instead"),
])
def test_regulariser_specs_are_checked(code_l2, specs, message):
    with pytest.raises(AekitError, match=message):
        ObjectiveConfig(regularisers=specs)


# --------------------------------------------------------------------------- a likelihood and a latent from outside
def test_a_likelihood_registered_outside_is_a_reconstruction_choice():
    def l1_error(out, target, reduction="mean"):
        per_pixel = (out.x_hat.float() - target).abs().flatten(1)
        return per_pixel.sum(1) if reduction == "sum" else per_pixel.mean(1)

    register_likelihood("mae", pixel_nll=lambda out, target, sigma: (out.x_hat.float() - target).abs())(l1_error)
    try:
        config = ModelConfig(input_shape=(1, 8, 8), latent_dim=4, hidden=(16,))
        model = build_model(config).eval()
        x = torch.rand(3, 1, 8, 8)
        terms = build_objective(ObjectiveConfig(reconstruction="mae"), config)(model, x)
        torch.testing.assert_close(terms["recon"], (model(x).x_hat - x).abs().mean())
    finally:
        LIKELIHOODS.remove("mae")


def test_a_latent_registered_outside_builds_and_trains_without_kl():
    @register_latent("tanh_code")
    class TanhLatent(Latent):
        def __init__(self, dim):
            super().__init__()
            self.latent_dim = self.in_features = dim

        @classmethod
        def from_config(cls, config):
            return cls(config.latent_dim)

        def posterior(self, h):
            return PointMass(torch.tanh(h))

        def forward(self, h):
            q = self.posterior(h)
            return q.mode(), q

    try:
        config = ModelConfig(input_shape=(1, 8, 8), latent_dim=3, hidden=(16,), latent="tanh_code")
        model = build_model(config)
        terms = build_objective(ObjectiveConfig(), config)(model, torch.rand(4, 1, 8, 8))
        assert set(terms) == {"recon", "loss"}
        assert model.encode(torch.rand(2, 1, 8, 8)).abs().max() <= 1
        with pytest.raises(AekitError, match="adds noise to its code"):
            ModelConfig(latent="tanh_code", code_activation="relu")
    finally:
        LATENTS.remove("tanh_code")


# --------------------------------------------------------------------------- one latent interface
def _posterior(latent: str, training: bool):
    config = ModelConfig(input_shape=(1, 8, 8), latent_dim=4, hidden=(16,), latent=latent)
    torch.manual_seed(0)
    model = build_model(config).train(training)
    return model, model(torch.rand(6, 1, 8, 8))


@pytest.mark.parametrize("training", [True, False])
def test_deterministic_latent_posterior_is_a_point_mass(training):
    model, out = _posterior("deterministic", training)
    q = out.posterior
    assert q.prior is None and model.latent.prior is None
    assert torch.equal(q.kl(), torch.zeros(6)) and torch.equal(q.kl_per_dim(), torch.zeros(6, 4))
    assert torch.equal(q.mode(), q.sample()) and torch.equal(q.mode(), out.z)
    assert torch.equal(q.sample(3), out.z.expand(3, 6, 4))


def test_quantised_latent_posterior_is_a_unit_box_with_no_kl():
    model, out = _posterior("quantised", True)
    q = out.posterior
    assert q.prior is None and torch.equal(q.kl(), torch.zeros(6))
    assert (out.z - q.mode()).abs().max() <= 0.5 and not torch.equal(out.z, q.mode())  # noisy while training
    _, out = _posterior("quantised", False)
    assert torch.equal(out.z, out.posterior.mode())


def test_gaussian_latent_posterior_has_a_prior_and_a_kl():
    model, out = _posterior("gaussian", False)
    q = out.posterior
    assert model.latent.prior is not None and q.prior is not None
    assert torch.equal(q.mode(), q.mean) and torch.equal(out.z, q.mean)
    torch.testing.assert_close(q.kl(), q.kl_per_dim().sum(-1))
    assert (q.kl() > 0).all()
    torch.testing.assert_close(model.latent.prior.log_prob(torch.zeros(2, 4)), torch.full((2,), -2 * np.log(2 * np.pi)))


@pytest.mark.parametrize("latent, kl", [("deterministic", False), ("quantised", False), ("gaussian", True)])
def test_only_latents_with_a_prior_get_a_kl_term(latent, kl):
    config = ModelConfig(input_shape=(1, 8, 8), latent_dim=4, hidden=(16,), latent=latent)
    model = build_model(config)
    objective = build_objective(ObjectiveConfig(reconstruction="mse"), config)
    for training in (True, False):
        assert ("kl" in objective(model.train(training), torch.rand(4, 1, 8, 8))) == kl


def test_posterior_is_refused_for_latents_without_a_prior():
    model = build_model(ModelConfig(input_shape=(1, 8, 8), latent_dim=4, hidden=(16,)))
    with pytest.raises(AekitError, match="use encode"):
        model.posterior(torch.rand(2, 1, 8, 8))


# --------------------------------------------------------------------------- nobody asks "is this a VAE"
LATENT_TYPE_CHECKS = [
    re.compile(r"\b(GaussianLatent|QuantisedLatent|DeterministicLatent)\b"),  # the classes, imported or tested
    re.compile(r"""\blatent\s*(==|!=|\bin\b|\bnot in\b)\s*[("']"""),     # config.model.latent == "gaussian"
    re.compile(r"""[)"']\s*(==|!=)\s*\S*\.latent\b"""),                  # "gaussian" == config.latent
]


def test_no_code_outside_latents_asks_which_latent_a_model_has():
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if path == SRC / "models" / "latents.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if any(pattern.search(line) for pattern in LATENT_TYPE_CHECKS):
                offenders.append(f"{path.relative_to(SRC)}:{number}: {line.strip()}")
    assert not offenders, "ask the latent what it can do (latent.prior, ...) instead:\n" + "\n".join(offenders)


def test_the_latent_check_finds_a_planted_one():
    lines = ['if isinstance(m.latent, GaussianLatent):', 'if config.model.latent == "gaussian":',
             'vae = model_config.latent in ("gaussian",)', 'if "quantised" != cfg.latent:']
    assert all(any(p.search(line) for p in LATENT_TYPE_CHECKS) for line in lines)
    assert not any(p.search("latent_dim = config.latent_dim") for p in LATENT_TYPE_CHECKS)


# --------------------------------------------------------------------------- a data source from outside
def test_a_source_registered_outside_loads_by_name(tmp_path):
    from aekit.data import ImageSet, load_dataset
    from aekit.data.sources import register_source

    @register_source("stripes", describe="stripes:N", claims=lambda name: str(name).startswith("stripes:"))
    def stripes(name, official, **_):
        n = int(str(name).split(":")[1])
        images = np.zeros((n, 6, 6, 1), np.uint8)
        images[:, ::2] = 255
        return {"all": ImageSet(images)}, {"source": "generated"}, str(name)

    try:
        splits = load_dataset("stripes:50", val_fraction=0.2, test_fraction=0.2)
        assert (len(splits.train), len(splits.val), len(splits.test)) == (32, 8, 10)
        with pytest.raises(AekitError, match=r"a folder of images, a \.npy/\.npz file or stripes:N"):
            load_dataset(tmp_path / "missing")
    finally:
        SOURCES.remove("stripes")
