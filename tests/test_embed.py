"""AutoencoderTransformer (scikit-learn contract, Pipeline), code evaluation, aekit encode / decode."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from aekit.cli import main
from aekit.errors import AekitError, NotFittedError
from aekit.runs.codes import read_codes, write_codes
from aekit.tasks.embed import AutoencoderTransformer, compare_with_pca, evaluate_codes, infer_image_shape


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def fitted(digits):
    """A deep AE with an 8-D code, trained through the transformer on flattened rows."""
    torch.manual_seed(0)
    X = digits.train.images.reshape(len(digits.train), -1)
    return AutoencoderTransformer("deep", latent_dim=8, epochs=30, train_kwargs={"batch_size": 32}).fit(X)


def test_params_follow_the_sklearn_contract():
    t = AutoencoderTransformer("conv", latent_dim=16, epochs=3)
    params = t.get_params()
    assert params["model"] == "conv" and params["latent_dim"] == 16 and params["epochs"] == 3
    t.set_params(latent_dim=4)
    assert t.latent_dim == 4
    c = clone(t)
    assert c.get_params() == t.get_params() and c is not t
    with pytest.raises(NotFittedError, match="fit"):
        t.transform(np.zeros((2, 64)))


def test_image_shape_inference():
    assert infer_image_shape(784) == (1, 28, 28)
    assert infer_image_shape(3072) == (3, 32, 32)
    assert infer_image_shape(64) == (1, 8, 8)
    with pytest.raises(AekitError, match="image_shape"):
        infer_image_shape(100 + 1)


def test_transform_inverse_and_shapes(fitted, digits):
    X = digits.test.images.reshape(len(digits.test), -1)
    Z = fitted.transform(X)
    assert Z.shape == (len(X), 8) and Z.dtype == np.float32
    np.testing.assert_allclose(Z, fitted.model_.encode(digits.test.images), rtol=1e-6)
    back = fitted.inverse_transform(Z)
    assert back.shape == X.shape and back.dtype == np.uint8  # fit saw uint8
    err = np.mean((back.astype(float) - X) ** 2) / 255 ** 2
    assert err < np.mean((X.mean(0) - X) ** 2) / 255 ** 2  # better than the mean image
    with pytest.raises(AekitError, match=r"\[0, 1\]"):
        fitted.transform(X.astype(np.float32))  # 0..255 floats are refused, not misread
    with pytest.raises(AekitError, match="rows of 64"):
        fitted.transform(X[:, :10])
    assert list(fitted.get_feature_names_out()[:2]) == ["z0", "z1"]


def test_pipeline_with_a_trained_model(fitted, digits):
    X_train = digits.train.images.reshape(len(digits.train), -1).astype(np.float64)
    X_test = digits.test.images.reshape(len(digits.test), -1).astype(np.float64)
    pipe = make_pipeline(MinMaxScaler(clip=True), AutoencoderTransformer(fitted.model_), KNeighborsClassifier(5))
    # MinMaxScaler rescales per pixel, which the model never saw: the point is that it runs and
    # accepts [0, 1] floats; accuracy is checked with the model's own input below.
    pipe.fit(X_train, digits.train.labels)
    assert 0.0 <= pipe.score(X_test, digits.test.labels) <= 1.0
    pipe = make_pipeline(AutoencoderTransformer(fitted.model_), KNeighborsClassifier(5))
    pipe.fit(X_train.astype(np.uint8), digits.train.labels)
    assert pipe.score(X_test.astype(np.uint8), digits.test.labels) > 0.85


def test_evaluate_codes_against_sklearn_directly():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 5)) * 5
    y = rng.integers(0, 3, 300)
    X = centers[y] + rng.normal(size=(300, 5))
    r = evaluate_codes(X[:200], y[:200], X[200:], y[200:], X[200:])
    assert r["knn_accuracy"] > 0.95 and r["linear_probe_accuracy"] > 0.95
    assert r["trustworthiness"] == pytest.approx(1.0)  # identity map keeps every neighbour
    shuffled = evaluate_codes(X[:200], y[:200], rng.permutation(X[200:]), y[200:], X[200:])
    assert shuffled["knn_accuracy"] < 0.7 and shuffled["trustworthiness"] < 0.9


def test_compare_with_pca(fitted, digits):
    result = compare_with_pca(fitted.model_, digits.train, digits.test)
    assert result["latent_dim"] == 8
    for side in ("model", "pca"):
        assert 0.5 < result[side]["knn_accuracy"] <= 1.0
        assert 0.5 < result[side]["trustworthiness"] <= 1.0


def test_code_files_round_trip(tmp_path):
    codes = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    for suffix in (".npy", ".csv"):
        path = write_codes(tmp_path / f"c{suffix}", codes, names=[f"n{i}" for i in range(5)], labels=np.arange(5))
        back, names = read_codes(path, 3)
        np.testing.assert_array_equal(back, codes)  # repr() of float32 values is exact
        assert names is None if suffix == ".npy" else names == [f"n{i}" for i in range(5)]
    with pytest.raises(AekitError, match=r"\(N, 4\)"):
        read_codes(tmp_path / "c.npy", 4)
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        with pytest.raises(AekitError, match="pip install pyarrow"):
            write_codes(tmp_path / "c.parquet", codes)
    else:
        back, _ = read_codes(write_codes(tmp_path / "c.parquet", codes), 3)
        np.testing.assert_array_equal(back, codes)


def test_csv_codes_keep_names_with_commas_and_quotes(tmp_path):
    codes = np.random.default_rng(1).normal(size=(3, 2)).astype(np.float32)
    names = ['a,"b"', 'say "hi"', "plain"]
    path = write_codes(tmp_path / "c.csv", codes, names=names, labels=[0, 1, 2])
    assert path.read_text().splitlines()[1].startswith('"a,""b""",')  # the csv module's quoting
    back, got = read_codes(path, 2)
    np.testing.assert_array_equal(back, codes)
    assert got == names


def test_cli_encode_decode(fitted, digits, tmp_path, capsys):
    model_dir = fitted.model_.save(tmp_path / "m")
    np.savez(tmp_path / "t.npz", x=digits.test.images[:10], y=digits.test.labels[:10])
    assert main(["encode", str(model_dir), str(tmp_path / "t.npz"), "-o", str(tmp_path / "codes.csv")]) == 0
    codes, names = read_codes(tmp_path / "codes.csv", 8)
    np.testing.assert_allclose(codes, fitted.model_.encode(digits.test.images[:10]), rtol=1e-6)
    assert main(["encode", str(model_dir), str(tmp_path / "t.npz"), "-o", str(tmp_path / "codes.npy")]) == 0
    assert main(["decode", str(model_dir), str(tmp_path / "codes.csv"), "-o", str(tmp_path / "dec")]) == 0
    assert sorted(p.stem for p in (tmp_path / "dec").glob("*.png")) == sorted(names)
    capsys.readouterr()
    assert main(["encode", str(model_dir), str(tmp_path / "t.npz"), "-o", str(tmp_path / "codes.txt")]) == 2
    assert ".npy, .csv, .parquet" in capsys.readouterr().err
    np.save(tmp_path / "bad.npy", np.zeros((2, 5), np.float32))
    assert main(["decode", str(model_dir), str(tmp_path / "bad.npy"), "-o", str(tmp_path / "dec")]) == 2
    assert "(N, 8)" in capsys.readouterr().err


def test_vector_transformer_passes_scikit_learn_checks():
    """On feature rows the transformer is a plain scikit-learn estimator: every common check passes."""
    from sklearn.utils.estimator_checks import check_estimator

    results = check_estimator(AutoencoderTransformer("deep", kind="vector", latent_dim=2, epochs=2), on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert len(results) > 40 and failed == []


def test_vector_transformer_on_a_table():
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(400, 2))
    X = latent @ rng.normal(size=(2, 10)) * 50 + 1000  # 10 correlated features far from [0, 1]
    t = AutoencoderTransformer("deep", kind="vector", latent_dim=2, epochs=40, train_kwargs={"batch_size": 32}).fit(X)
    Z = t.transform(X)
    assert Z.shape == (400, 2) and Z.dtype == np.float32
    back = t.inverse_transform(Z)
    assert back.shape == X.shape
    assert np.mean((back - X) ** 2) < 0.2 * np.var(X, axis=0).mean()  # far better than the mean row
    with pytest.raises(ValueError, match="features"):
        t.transform(X[:, :9])
