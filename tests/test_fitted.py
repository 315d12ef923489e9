"""Fitted components: the registry, each component's round trip, malformed saved state, older folders."""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch

import aekit.io  # noqa: F401  (registers the components io reads)
from aekit.codec import Codec, CodePrior, CodeTables, fit_codec
from aekit.codec.container import ID_BYTES, read_header
from aekit.data.preprocess import Preprocessing
from aekit.errors import AekitError, NotFittedError
from aekit.fitted import FITTED, FittedComponent, register_fitted
from aekit.model import Model, load_model
from aekit.models import build_model
from aekit.presets import build_run_config
from aekit.samplers import GaussianMixtureSampler
from aekit.tasks.anomaly import AnomalyDetector
from aekit.tasks.generate import fit_sampler, generate
from aekit.thresholds import AnomalyThreshold

SRC = Path(__file__).resolve().parents[1] / "src" / "aekit"
V1 = Path(__file__).resolve().parent / "data" / "format_v1"  # written by aekit before typed components (make.py)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def tiny_codec() -> Model:
    run = build_run_config("codec", input_shape=(1, 8, 8), model={"latent_dim": 6, "channels": (4, 8)})
    torch.manual_seed(0)
    module = build_model(run.model)
    with torch.no_grad():  # spread the codes over several integers so the tables have work to do
        module.encoder[-1].weight.mul_(8)
    return Model(module, Preprocessing((1, 8, 8)), run)


def images(n: int = 60, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 8, 8, 1), dtype=np.uint8)


@pytest.fixture(scope="module")
def fitted_model() -> Model:
    """A tiny model with all three components fitted."""
    model = tiny_codec()
    fit_sampler(model, images(), n_components=2)
    AnomalyDetector(model, contamination=0.1).fit(images())
    fit_codec(model, images(), steps=(1.0, 0.5))
    return model


@pytest.fixture
def saved(fitted_model, tmp_path) -> Path:
    return fitted_model.save(tmp_path / "model")


def samples(sampler: GaussianMixtureSampler) -> torch.Tensor:
    return sampler.sample(16, generator=torch.Generator().manual_seed(3))


# ----------------------------------------------------------------------------- registry
def test_registry_holds_each_component_under_its_key():
    assert FITTED["sampler"] is GaussianMixtureSampler
    assert FITTED["anomaly"] is AnomalyThreshold
    assert FITTED["codec"] is CodeTables
    assert all(cls.key == key and cls.fit_hint for key, cls in FITTED.items())


def test_register_refuses_a_taken_or_malformed_key():
    class Impostor(FittedComponent):
        key = "sampler"

    with pytest.raises(TypeError, match="taken by GaussianMixtureSampler"):
        register_fitted(Impostor)
    Impostor.key = "a.b"
    with pytest.raises(TypeError, match="without dots"):
        register_fitted(Impostor)
    assert FITTED["sampler"] is GaussianMixtureSampler


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("key", ["sampler", "anomaly", "codec"])
def test_each_component_round_trips_through_its_state(fitted_model, key):
    original = fitted_model.fitted[key]
    info, tensors = original.to_state()
    info = json.loads(json.dumps(info))  # plain JSON, as config.json holds it
    assert all(isinstance(t, torch.Tensor) and not name.startswith(key) for name, t in tensors.items())
    again = type(original).from_state(info, tensors)
    if key == "sampler":
        torch.testing.assert_close(samples(again), samples(original), rtol=0, atol=0)
    else:
        assert again == original
    assert again.to_state()[0] == info


def test_saving_and_loading_keeps_every_component_and_its_behaviour(fitted_model, saved):
    loaded = load_model(saved)
    assert {k: type(v) for k, v in loaded.fitted.items()} == \
        {"sampler": GaussianMixtureSampler, "anomaly": AnomalyThreshold, "codec": CodeTables}
    torch.testing.assert_close(samples(loaded.fitted["sampler"]), samples(fitted_model.fitted["sampler"]))
    np.testing.assert_array_equal(generate(loaded, 8, seed=1), generate(fitted_model, 8, seed=1))
    x = images(20, seed=5)
    det, again = AnomalyDetector.from_model(fitted_model), AnomalyDetector.from_model(loaded)
    assert again.threshold_ == det.threshold_ and again.scale_ == det.scale_ and again.score_ == det.score_
    np.testing.assert_array_equal(again.predict(x), det.predict(x))
    assert loaded.fitted["codec"].steps == [0.5, 1.0]
    for step in (0.5, 1.0):
        data = Codec(fitted_model, step).compress(x)
        assert Codec(loaded, step).compress(x) == data
        np.testing.assert_array_equal(Codec(loaded, step).decompress(data), Codec(fitted_model, step).decompress(data))
    names = safetensors.torch.load_file(str(saved / "fitted.safetensors")).keys()
    assert sorted(names) == ["codec.0.5.offset", "codec.0.5.pmf", "codec.1.offset", "codec.1.pmf",
                             "sampler.covariances", "sampler.means", "sampler.weights"]


def test_a_model_without_fitted_state_writes_no_fitted_tensors(tmp_path):
    path = tiny_codec().save(tmp_path / "m")
    assert not (path / "fitted.safetensors").exists()
    assert json.loads((path / "config.json").read_text())["fitted"] == {}
    assert load_model(path).fitted == {}


# ----------------------------------------------------------------------------- older folders
def test_a_model_saved_before_typed_components_still_loads_and_decodes_its_files():
    """``format_v1`` was written by aekit 4fb6ed2, when fitted state was raw JSON plus raw tensors."""
    model = load_model(V1 / "model")
    expected = np.load(V1 / "expected.npz")
    assert isinstance(model.fitted["sampler"], GaussianMixtureSampler)
    assert isinstance(model.fitted["anomaly"], AnomalyThreshold) and isinstance(model.fitted["codec"], CodeTables)
    data = (V1 / "images.aek").read_bytes()
    np.testing.assert_array_equal(Codec(model).decompress(data), expected["decoded"])
    assert Codec(model).compress(expected["probe"]) == data  # same model id, same tables, same bytes
    det = AnomalyDetector.from_model(model)
    assert det.threshold_ == float(expected["threshold"]) and det.score_ == "mse"
    np.testing.assert_allclose(det.score_samples(expected["probe"]), expected["scores"], rtol=1e-6)
    assert np.abs(generate(model, 4, seed=1).astype(int) - expected["generated"]).max() <= 1


def test_a_hand_written_folder_in_the_first_format_loads(tmp_path):
    """config.json["fitted"] and fitted.safetensors exactly as the code before typed components wrote them."""
    model = tiny_codec()
    path = model.save(tmp_path / "m")
    means = torch.tensor([[-1.0, 0, 0, 0, 0, 0], [1.0, 0, 0, 0, 0, 0]])
    covariances = torch.eye(6).repeat(2, 1, 1) * 0.25
    offset, pmf = np.arange(-2, 4, dtype=np.int64), np.full((6, 5), 0.2)
    config = json.loads((path / "config.json").read_text())
    config["fitted"] = {
        "sampler": {"kind": "gmm", "n_components": 2, "covariance_type": "full", "latent_dim": 6, "n_fit": 200,
                    "seed": 0, "train_log_likelihood": -3.5},
        "anomaly": {"score": "mse", "threshold": 0.02, "scale": 0.004, "n_fit": 50, "contamination": None,
                    "percentile": 99.0, "elbo_samples": 4, "seed": 0},
        "codec": {"tables": {"1": {"step": 1.0, "dim": 6, "symbols": 5, "n_fit": 300}}},
    }
    (path / "config.json").write_text(json.dumps(config))
    safetensors.torch.save_file({"sampler.means": means, "sampler.covariances": covariances,
                                 "sampler.weights": torch.tensor([0.25, 0.75]),
                                 "codec.1.offset": torch.from_numpy(offset), "codec.1.pmf": torch.from_numpy(pmf)},
                                str(path / "fitted.safetensors"))
    loaded = load_model(path)
    sampler = loaded.fitted["sampler"]
    torch.testing.assert_close(sampler.means_, means)
    assert sampler.covariance_type_ == "full" and sampler.n_fit_ == 200 and sampler.train_log_likelihood_ == -3.5
    assert loaded.fitted["anomaly"] == AnomalyThreshold("mse", 0.02, 0.004, 50, None, 99.0, 4, 0)
    prior = loaded.fitted["codec"][1.0]
    np.testing.assert_array_equal(prior.offset, offset)
    np.testing.assert_array_equal(prior.pmf, pmf)
    assert prior.n_fit == 300
    # a compressed file's model id covers the same bytes as before: weights, config and the tables
    digest = hashlib.sha256()
    digest.update(np.float64(1.0).tobytes())
    digest.update(offset.astype("<i8").tobytes())
    digest.update(pmf.astype("<f8").tobytes())
    header, _ = read_header(Codec(loaded).compress(images(2)))
    assert header.model_id == hashlib.sha256(loaded.identity().encode() + digest.digest()).digest()[:ID_BYTES]
    # and saving it again writes the same names and settings
    again = loaded.save(tmp_path / "again")
    assert json.loads((again / "config.json").read_text())["fitted"] == config["fitted"]
    assert sorted(safetensors.torch.load_file(str(again / "fitted.safetensors"))) == \
        sorted(safetensors.torch.load_file(str(path / "fitted.safetensors")))


# ----------------------------------------------------------------------------- malformed saved state
def _edit_config(path: Path, edit) -> None:
    config = json.loads((path / "config.json").read_text())
    edit(config["fitted"])
    (path / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("edit, message", [
    (lambda f: f.update(attributes={"names": []}), r"config.json: fitted\['attributes'\]: unknown fitted component"),
    (lambda f: f["anomaly"].update(threshold="high"), r"fitted\[.anomaly.\] is malformed: threshold: expected a"),
    (lambda f: f["anomaly"].update(threshold=float("nan")), r"fitted\['anomaly'\].*threshold: expected a finite"),
    (lambda f: f["anomaly"].pop("score"), r"fitted\['anomaly'\].*missing required field 'score'"),
    (lambda f: f["anomaly"].update(score="l1"), r"fitted\['anomaly'\].*score: expected one of mse"),
    (lambda f: f["anomaly"].update(n_fit=True), r"fitted\['anomaly'\].*n_fit: expected an integer"),
    (lambda f: f["anomaly"].update(percentile=99.0), r"fitted\['anomaly'\].*either a contamination or"),
    (lambda f: f.update(sampler=[1, 2]), r"fitted\['sampler'\] is malformed: sampler: expected a JSON object"),
    (lambda f: f["sampler"].update(kind="flow"), r"fitted\['sampler'\].*unknown saved sampler kind 'flow'"),
    (lambda f: f["sampler"].update(n_components=3), r"fitted\['sampler'\].*tensors disagree"),
    (lambda f: f["codec"].update(tables=None), r"fitted\['codec'\].*tables: expected a JSON object"),
    (lambda f: f["codec"]["tables"]["1"].update(step=2.0), r"fitted\['codec'\].*tables\['1'\]: holds the tables of"),
    (lambda f: f["codec"]["tables"]["1"].update(symbols=99), r"fitted\['codec'\].*inconsistent shapes"),
])
def test_malformed_entries_are_clear_errors_naming_file_and_key(saved, edit, message):
    _edit_config(saved, edit)
    with pytest.raises(AekitError, match=message) as err:
        load_model(saved)
    assert str(saved / "config.json") in str(err.value)
    assert "refit it" in str(err.value) or "unknown" in str(err.value)


def test_fitted_must_be_an_object(saved):
    config = json.loads((saved / "config.json").read_text())
    config["fitted"] = ["sampler"]
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(AekitError, match='config.json: "fitted" must be a JSON object'):
        load_model(saved)


def _edit_tensors(path: Path, edit) -> None:
    tensors = safetensors.torch.load_file(str(path / "fitted.safetensors"))
    edit(tensors)
    safetensors.torch.save_file(tensors, str(path / "fitted.safetensors"))


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.pop("sampler.weights"), r"fitted.safetensors: missing tensor 'sampler.weights'.*fitted\['sampler'\]"),
    (lambda t: t.pop("codec.0.5.pmf"), r"fitted.safetensors: missing tensor 'codec.0.5.pmf'.*fitted\['codec'\]"),
    (lambda t: t.update({"codec.2.pmf": torch.ones(6, 5) / 5}), r"codec.2.pmf are not part of fitted\['codec'\]"),
    (lambda t: t.update({"anomaly.scores": torch.ones(3)}), r"anomaly.scores are not part of fitted\['anomaly'\]"),
    (lambda t: t.update({"attributes.directions": torch.ones(3)}), r"attributes.directions belong to no fitted"),
    (lambda t: t["sampler.means"].__setitem__((0, 0), float("nan")), r"fitted\['sampler'\].*'means'.*finite"),
    (lambda t: t.update({"sampler.weights": torch.tensor([0.9, 0.9])}), r"fitted\['sampler'\].*summing to 1"),
    (lambda t: t.update({"codec.1.offset": t["codec.1.offset"].float()}), r"fitted\['codec'\].*expected integers"),
    (lambda t: t.update({"codec.1.pmf": torch.zeros_like(t["codec.1.pmf"])}), r"fitted\['codec'\].*positive prob"),
])
def test_missing_extra_and_bad_tensors_are_clear_errors(saved, edit, message):
    _edit_tensors(saved, edit)
    with pytest.raises(AekitError, match=message):
        load_model(saved)


def test_a_missing_fitted_tensor_file_is_a_clear_error(saved):
    (saved / "fitted.safetensors").unlink()
    with pytest.raises(AekitError, match=r"\(no fitted.safetensors\): missing tensor 'sampler.means'"):
        load_model(saved)


def test_saving_checks_each_component_is_of_its_registered_type(fitted_model, tmp_path):
    with pytest.raises(AekitError, match=r"fitted\['anomaly'\]: expected a AnomalyThreshold; got dict"):
        Model(fitted_model.module, fitted_model.preprocessing, fitted_model.config, fitted={"anomaly": {"t": 1}})
    model = Model(fitted_model.module, fitted_model.preprocessing, fitted_model.config)
    model.fitted["sampler"] = fitted_model.fitted["codec"]
    with pytest.raises(AekitError, match=r"fitted\['sampler'\]: expected a GaussianMixtureSampler; got CodeTables"):
        model.save(tmp_path / "m")
    model.fitted = {"thresholds": fitted_model.fitted["anomaly"]}
    with pytest.raises(AekitError, match="unknown fitted component 'thresholds'"):
        model.save(tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_component_values_are_checked_when_built():
    with pytest.raises(AekitError, match="threshold: expected a finite"):
        AnomalyThreshold("mse", float("inf"), 1.0, 10)
    with pytest.raises(AekitError, match="finite scores"):
        AnomalyThreshold.fit(np.array([0.1, np.nan]), score="mse")
    with pytest.raises(AekitError, match="expected a CodePrior"):
        CodeTables({1.0: "table"})
    tables = CodeTables({1.0: CodePrior.fit(np.zeros((4, 2)), 1.0)})
    assert 1.0 in tables and 2.0 not in tables and "x" not in tables and list(tables) == [1.0]


# ----------------------------------------------------------------------------- guards
def test_absent_components_raise_not_fitted_with_the_command_that_fits_them():
    model = tiny_codec()
    with pytest.raises(NotFittedError, match="--fit-sampler"):
        generate(model, 2)
    with pytest.raises(NotFittedError, match="--fit NORMAL_IMAGES --save"):
        AnomalyDetector.from_model(model)
    with pytest.raises(NotFittedError, match="--fit-codec"):
        Codec(model)


# ----------------------------------------------------------------------------- one reader of fitted JSON
def _uses(tree: ast.AST) -> list[str]:
    """Raw fitted-state access in a module: ``x["fitted"]``, ``x.get("fitted")``, ``fitted_tensors``,
    and ``to_state`` / ``from_state`` calls."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and node.slice.value == "fitted":
            found.append(f'["fitted"] at line {node.lineno}')
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "get" and node.args and isinstance(node.args[0], ast.Constant) \
                    and node.args[0].value == "fitted":
                found.append(f'.get("fitted") at line {node.lineno}')
            if node.func.attr in ("to_state", "from_state", "to_fitted", "from_fitted"):
                found.append(f".{node.func.attr}() at line {node.lineno}")
        elif isinstance(node, ast.Attribute | ast.Name) and getattr(node, "attr", getattr(node, "id", "")) \
                == "fitted_tensors":
            found.append(f"fitted_tensors at line {node.lineno}")
    return found


def test_only_io_reads_saved_fitted_state():
    """Tasks, the CLI, the server and runs see components; only io turns them into JSON and tensors and back."""
    offenders = {}
    for file in sorted(SRC.rglob("*.py")):
        if file.relative_to(SRC).as_posix() == "io.py":
            continue
        found = _uses(ast.parse(file.read_text(encoding="utf-8")))
        if found:
            offenders[file.relative_to(SRC).as_posix()] = found
    assert offenders == {}
    assert _uses(ast.parse("m.fitted_tensors; c['fitted']; s.from_state(i, t)")) != []  # the scan sees them

