import numpy as np
import pytest
import torch

from aekit.data import ImageSet
from aekit.data.preprocess import Preprocessing
from aekit.errors import AekitError
from aekit.metrics import summarize_scores
from aekit.model import Model
from aekit.models import build_model
from aekit.presets import build_run_config
from aekit.tasks.evaluate import evaluate_model, fit_pca, pca_reconstruct, sample_indices, to_unit


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    basis = rng.random((3, 36))
    def make(n):
        images = (rng.random((n, 3)) @ basis / 3 * 255).clip(0, 255).astype(np.uint8).reshape(n, 6, 6, 1)
        return ImageSet(images, rng.integers(0, 4, n))
    return make(300), make(120)


def test_pca_baseline_matches_a_hand_projection(data):
    train, test = data
    xt, xs = to_unit(train.images), to_unit(test.images)
    pca = fit_pca(xt, 2)
    flat = xt.reshape(len(xt), -1).double().numpy()
    mean = flat.mean(0)
    _, _, vt = np.linalg.svd(flat - mean, full_matrices=False)
    v = vt[:2].T
    test_flat = xs.reshape(len(xs), -1).double().numpy()
    by_hand = ((test_flat - mean) @ v @ v.T + mean).clip(0, 1)
    np.testing.assert_allclose(pca_reconstruct(pca, xs).reshape(len(xs), -1).numpy(), by_hand, atol=1e-5)


def test_evaluate_model_reports_model_pca_and_consistent_per_class(data):
    train, test = data
    run = build_run_config("deep", input_shape=(1, 6, 6), model={"latent_dim": 3})
    torch.manual_seed(0)
    model = Model(build_model(run.model), Preprocessing((1, 6, 6)), run)
    result = evaluate_model(model, test, pca_train=train)
    assert result["n"] == 120 and result["latent_dim"] == 3 and result["compression_factor"] == 12
    assert result["pca"]["n_components"] == 3
    # the data is rank 3, so PCA-3 reconstructs it almost exactly while an untrained model does not
    assert result["pca"]["mse"] < 1e-4 < result["model"]["mse"]
    rows = result["per_class"]
    assert sum(r["n"] for r in rows) == 120
    weighted = sum(r["mse"] * r["n"] for r in rows) / 120
    assert weighted == pytest.approx(result["model"]["mse"])
    assert "_pca" not in result


def test_summarize_scores_psnr_is_of_the_mean_mse():
    scores = {"mse": np.array([0.01, 0.0001]), "bce": np.zeros(2), "ssim": np.ones(2)}
    out = summarize_scores(scores)
    assert out["psnr"] == pytest.approx(10 * np.log10(1 / 0.00505))
    assert out["psnr_mean_per_image"] == pytest.approx(30.0)


def test_sample_indices_cover_every_class_first(data):
    _, test = data
    idx = sample_indices(test, 8)
    assert len(idx) == 8 and len(set(idx)) == 8
    assert set(test.labels[idx]) == set(np.unique(test.labels))


def test_eval_of_a_model_fitted_in_memory_asks_for_a_dataset(tmp_path):
    import aekit
    from aekit.cli import main

    images = (np.random.default_rng(0).random((64, 8, 8)) * 255).astype(np.uint8)
    aekit.fit(images, preset="dense", epochs=1, latent_dim=2, save_to=tmp_path / "m")
    with pytest.raises(AekitError, match="in memory.*--dataset"):
        aekit.evaluate(tmp_path / "m")
    assert main(["eval", str(tmp_path / "m")]) == 2
