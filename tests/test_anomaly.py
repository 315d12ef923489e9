"""AnomalyDetector and ``aekit detect``: scores against hand computations, thresholds, persistence, CLI."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from aekit.cli import main
from aekit.data.preprocess import Preprocessing
from aekit.errors import AekitError, NotFittedError
from aekit.model import Model
from aekit.models import build_model
from aekit.presets import build_run_config
from aekit.tasks.anomaly import AnomalyDetector, pixel_errors, roc_curve_auc
from aekit.tasks.likelihood import elbo


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def detector(digits, tmp_path_factory):
    """A deep AE trained on the digit 0 only."""
    train = digits.train.images[digits.train.labels == 0]
    torch.manual_seed(0)
    return AnomalyDetector("deep", contamination=0.05, epochs=60, latent_dim=4, batch_size=16,
                           out=tmp_path_factory.mktemp("det") / "run").fit(train)


def tiny_model(preset: str) -> Model:
    run = build_run_config(preset, input_shape=(1, 8, 8), model={"latent_dim": 3, "hidden": (16,)})
    torch.manual_seed(0)
    return Model(build_model(run.model), Preprocessing((1, 8, 8)), run)


def images(n: int = 20, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 8, 8, 1), dtype=np.uint8)


def test_scores_match_hand_computation():
    model = tiny_model("deep")
    x = images()
    unit = x.astype(np.float64) / 255
    recon = model.reconstruct(x.astype(np.float32) / 255).astype(np.float64)
    mse, mse_maps = pixel_errors(model, x, "mse")
    np.testing.assert_allclose(mse, ((unit - recon) ** 2).mean(axis=(1, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(mse_maps, ((unit - recon) ** 2)[..., 0], rtol=1e-4, atol=1e-8)
    bce, _ = pixel_errors(model, x, "bce")
    y = np.clip(recon, 1e-7, 1 - 1e-7)
    np.testing.assert_allclose(bce, -(unit * np.log(y) + (1 - unit) * np.log(1 - y)).mean(axis=(1, 2, 3)),
                               rtol=1e-4)
    ssim_scores, ssim_maps = pixel_errors(model, x, "ssim")
    assert ssim_maps.shape == (20, 8, 8) and ((ssim_scores >= 0) & (ssim_scores <= 2)).all()


def test_vae_score_is_the_negative_elbo():
    model = tiny_model("vae")
    x = images(8)
    scores, maps = pixel_errors(model, x, "auto", elbo_samples=1, seed=3)
    xm = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255
    reference = -elbo(model.module, xm, model.config.objective, generator=torch.Generator().manual_seed(3))["elbo"]
    np.testing.assert_allclose(scores, reference.numpy(), rtol=1e-5)
    assert maps.shape == (8, 8, 8) and (maps >= 0).all()
    with pytest.raises(AekitError, match="needs a VAE"):
        pixel_errors(tiny_model("deep"), x, "elbo")


def test_threshold_from_contamination_and_percentile():
    model = tiny_model("deep")
    x = images(200)
    scores, _ = pixel_errors(model, x, "mse")
    det = AnomalyDetector(model, contamination=0.1).fit(x)
    assert det.threshold_ == pytest.approx(np.quantile(scores, 0.9))
    assert det.predict(x).sum() == 20  # exactly the top 10 %
    det = AnomalyDetector(model, percentile=95).fit(x)
    assert det.threshold_ == pytest.approx(np.percentile(scores, 95))
    proba = det.predict_proba(x)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    np.testing.assert_array_equal(det.predict(x), (proba[:, 1] > 0.5).astype(int))
    np.testing.assert_allclose(det.decision_function(x), scores - det.threshold_)


def test_not_fitted_and_bad_arguments():
    with pytest.raises(NotFittedError, match="fit"):
        AnomalyDetector(tiny_model("deep")).predict(images())
    with pytest.raises(AekitError, match="contamination"):
        AnomalyDetector("deep", contamination=0.7)
    with pytest.raises(AekitError, match="score"):
        AnomalyDetector("deep", score="l1")
    with pytest.raises(NotFittedError, match="no anomaly threshold"):
        AnomalyDetector.from_model(tiny_model("deep"))


def test_detector_separates_digits_and_round_trips(detector, digits, tmp_path):
    test = digits.test
    truth = (test.labels != 0).astype(int)
    _, _, auc = roc_curve_auc(detector.score_samples(test.images), truth)
    assert auc > 0.9, auc  # one-class: 0 is normal
    normal_flagged = detector.predict(test.images[truth == 0]).mean()
    assert normal_flagged < 0.25
    detector.save(tmp_path / "m")
    again = AnomalyDetector.load(tmp_path / "m")
    assert again.threshold_ == detector.threshold_ and again.score_ == "mse"
    np.testing.assert_array_equal(again.predict(test.images), detector.predict(test.images))


def test_cli_detect(detector, digits, tmp_path, capsys):
    model_dir = detector.save(tmp_path / "m")
    test = digits.test
    np.savez(tmp_path / "test.npz", x=test.images[:200], y=test.labels[:200])
    out = tmp_path / "out"
    assert main(["detect", str(model_dir), str(tmp_path / "test.npz"), "-o", str(out), "--normal-classes", "0",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["auroc"] > 0.85 and result["n"] == 200
    for name in ("scores.csv", "detect.json", "histogram.png", "most_anomalous.png", "roc.png", "report.html"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader(open(out / "scores.csv")))
    assert len(rows) == 200 and {r["anomaly"] for r in rows} <= {"0", "1"}
    assert float(rows[0]["score"]) > 0
    np.save(tmp_path / "truth.npy", (test.labels[:200] != 0).astype(np.int64))
    assert main(["detect", str(model_dir), str(tmp_path / "test.npz"), "-o", str(out),
                 "--labels", str(tmp_path / "truth.npy"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["auroc"] == pytest.approx(result["auroc"])


def test_cli_detect_csv_quotes_names_and_reads_labels_back(detector, digits, tmp_path, capsys):
    from aekit.data import write_image

    model_dir = detector.save(tmp_path / "m")
    names = ['zero,"a"', "one", 'say "two", ok']
    for name, i in zip(names, (0, 1, 2), strict=True):
        write_image(tmp_path / "in" / f"{name}.png", digits.test.images[i])
    labels = tmp_path / "truth.csv"
    # one per input, in the inputs' (sorted file name) order; quoted names hold commas
    labels.write_text('name,label\none,1\n"say ""two"", ok",1\n"zero,""a""",0\n')
    out = tmp_path / "out"
    assert main(["detect", str(model_dir), str(tmp_path / "in"), "-o", str(out), "--labels", str(labels),
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n_true_anomalies"] == 2
    with open(out / "scores.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["name"] for r in rows) == sorted(names)
    assert {r["name"]: r["label"] for r in rows} == {names[0]: "0", names[1]: "1", names[2]: "1"}
    # scores.csv, whose last column is the label, reads back as a labels file
    assert main(["detect", str(model_dir), str(tmp_path / "in"), "-o", str(tmp_path / "again"),
                 "--labels", str(out / "scores.csv"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_true_anomalies"] == 2


def test_cli_detect_fit_and_errors(digits, tmp_path, capsys):
    model = tiny_model("deep")
    model.save(tmp_path / "m")
    np.save(tmp_path / "x.npy", digits.test.images[:50])
    out = tmp_path / "out"
    code = main(["detect", str(tmp_path / "m"), str(tmp_path / "x.npy"), "-o", str(out)])
    assert code == 2 and "--fit" in capsys.readouterr().err
    assert main(["detect", str(tmp_path / "m"), str(tmp_path / "x.npy"), "-o", str(out), "--fit",
                 str(tmp_path / "x.npy"), "--percentile", "90", "--save"]) == 0
    capsys.readouterr()
    assert main(["detect", str(tmp_path / "m"), str(tmp_path / "x.npy"), "-o", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_anomalies"] == 5
    np.save(tmp_path / "bad.npy", np.array([0, 1, 2]))
    code = main(["detect", str(tmp_path / "m"), str(tmp_path / "x.npy"), "-o", str(out), "--labels",
                 str(tmp_path / "bad.npy")])
    assert code == 2 and "one label per input" in capsys.readouterr().err
    np.save(tmp_path / "big.npy", np.zeros((3, 10, 10), np.uint8))
    code = main(["detect", str(tmp_path / "m"), str(tmp_path / "big.npy"), "-o", str(out)])
    assert code == 2 and "8x8" in capsys.readouterr().err


def test_rows_of_a_table_like_a_pyod_detector():
    """AnomalyDetector on (N, D) features: an MLP trained by default, scores from standardised errors,
    per-feature maps that point at the column that made a row anomalous."""
    from aekit.tasks.anomaly import ROW_PRESET, AnomalyDetector, roc_curve_auc

    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(2, 6))
    normal = rng.normal(size=(800, 2)) @ mixing * [1, 10, 100, 1, 10, 100] + 50  # correlated, mixed units
    test = rng.normal(size=(200, 2)) @ mixing * [1, 10, 100, 1, 10, 100] + 50
    labels = np.zeros(200, int)
    labels[:20] = 1
    test[:20, 4] += 60  # breaks the correlation in column 4 only (6 of its standard deviations or so)
    det = AnomalyDetector(latent_dim=2, epochs=60, batch_size=64, contamination=0.05).fit(normal)
    assert det.model_.config.preset == ROW_PRESET and det.model_.input_shape == (6,)
    scores = det.score_samples(test)
    assert scores.shape == (200,)
    assert roc_curve_auc(scores, labels)[2] > 0.95
    maps = det.pixel_maps(test[:20])
    assert maps.shape == (20, 6) and (maps.argmax(1) == 4).mean() > 0.8
    assert det.predict(test).sum() >= 15
    with pytest.raises(AekitError, match="compares images"):
        AnomalyDetector(det.model_, score="ssim").fit(normal)


def test_a_vae_scores_rows_by_its_elbo():
    from aekit.tasks.anomaly import AnomalyDetector

    rng = np.random.default_rng(1)
    normal = rng.normal(size=(400, 5)) * [1, 2, 3, 4, 5]
    det = AnomalyDetector("vae", latent_dim=2, epochs=5, batch_size=64).fit(normal)
    assert det.score_ == "elbo"
    far = normal[:10] + 40
    assert det.score_samples(far).min() > det.score_samples(normal[:10]).max()
    assert det.pixel_maps(normal[:3]).shape == (3, 5)
