"""The denoise and inpaint tasks and CLI verbs: files in and out, kept pixels, scores, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from aekit.cli import main
from aekit.data import read_images, write_image
from aekit.data.preprocess import Preprocessing
from aekit.metrics import psnr_from_mse
from aekit.model import Model, save_model
from aekit.models import build_model
from aekit.presets import build_run_config
from aekit.tasks.inpaint import box_mask, inpaint, inpaint_unit, masked_quality, random_block_masks

SHAPE = (1, 12, 12)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    run = build_run_config("conv-denoising", input_shape=SHAPE, model={"latent_dim": 2, "channels": (4, 4)})
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "m"
    save_model(Model(build_model(run.model), Preprocessing(SHAPE), run), path)
    return path


@pytest.fixture
def digits(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "in"
    for i in range(3):
        write_image(folder / f"d{i}.png", rng.integers(0, 256, size=(12, 12), dtype=np.uint8))
    return folder


def test_denoise_writes_same_size_outputs_and_scores_against_the_clean_inputs(model_dir, digits, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["denoise", str(model_dir), str(digits), "-o", str(out), "--noise", "gaussian:0.3"]) == 0
    assert "denoised" in capsys.readouterr().out
    names = sorted(p.name for p in out.glob("*.png"))
    assert names == ["comparison.png", "d0.png", "d0_noisy.png", "d1.png", "d1_noisy.png", "d2.png", "d2_noisy.png"]
    clean = read_images(sorted(digits.glob("*.png"))).images.astype(np.float64) / 255
    noisy = read_images(sorted(out.glob("*_noisy.png"))).images.astype(np.float64) / 255
    assert noisy.shape == clean.shape and not np.array_equal(noisy, clean)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["noise"] == ["gaussian:0.3"] and len(metrics["per_image"]) == 3
    # the input score is that of the noisy files written (saved as uint8: 1/510 rounding at most)
    assert metrics["input"]["psnr"] == pytest.approx(psnr_from_mse(float(((noisy - clean) ** 2).mean())), abs=0.05)
    # the same seed gives the same noise; another seed another one
    main(["denoise", str(model_dir), str(digits), "-o", str(tmp_path / "again"), "--noise", "gaussian:0.3"])
    main(["denoise", str(model_dir), str(digits), "-o", str(tmp_path / "seed1"), "--noise", "gaussian:0.3",
          "--seed", "1"])
    again = (tmp_path / "again" / "d0_noisy.png").read_bytes()
    assert again == (out / "d0_noisy.png").read_bytes() != (tmp_path / "seed1" / "d0_noisy.png").read_bytes()


def test_denoise_with_a_reference_and_without(model_dir, digits, tmp_path):
    out = tmp_path / "ref"
    assert main(["denoise", str(model_dir), str(digits), "-o", str(out), "--reference", str(digits), "--json"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["input"]["psnr"] == float("inf") and metrics["output"]["psnr"] < 60
    plain = tmp_path / "plain"
    assert main(["denoise", str(model_dir), str(digits / "d0.png"), "-o", str(plain)]) == 0
    assert sorted(p.name for p in plain.iterdir()) == ["comparison.png", "d0.png"]


@pytest.mark.parametrize("extra, message", [
    (["--noise", "gaussian:0.3", "--reference", "x.png"], "not both"),
    (["--noise", "poisson:3"], "unknown corruption"),
])
def test_denoise_bad_input_exits_2(model_dir, digits, tmp_path, capsys, extra, message):
    assert main(["denoise", str(model_dir), str(digits), "-o", str(tmp_path / "o"), *extra]) == 2
    assert message in capsys.readouterr().err


def test_denoise_rejects_images_of_the_wrong_size(model_dir, tmp_path, capsys):
    write_image(tmp_path / "big.png", np.zeros((20, 20), dtype=np.uint8))
    assert main(["denoise", str(model_dir), str(tmp_path / "big.png"), "-o", str(tmp_path / "o")]) == 2
    assert "12x12" in capsys.readouterr().err


def test_inpaint_keeps_known_pixels_and_scores_only_the_hole(model_dir, digits, tmp_path):
    out = tmp_path / "box"
    assert main(["inpaint", str(model_dir), str(digits), "--box", "2,3,5,4", "-o", str(out)]) == 0
    clean = read_images(sorted(digits.glob("*.png"))).images
    filled = read_images([out / f"d{i}.png" for i in range(3)]).images
    assert (out / "comparison.png").stat().st_size > 500
    hole = box_mask(12, 12, (2, 3, 5, 4))
    assert hole.sum() == 20 and hole[3:7, 2:7].all()
    assert np.array_equal(filled[:, ~hole], clean[:, ~hole])  # every known pixel kept exactly
    assert not np.array_equal(filled[:, hole], clean[:, hole])
    masked = read_images([out / f"d{i}_masked.png" for i in range(3)]).images
    assert (masked[:, hole] == 0).all()
    metrics = json.loads((out / "metrics.json").read_text())
    err = ((filled[:, hole].astype(np.float64) - clean[:, hole]) / 255) ** 2
    assert metrics["masked_pixels"] == 60
    assert metrics["masked_mse"] == pytest.approx(float(err.mean()), abs=2e-3)  # PNG rounding only
    # the same hole given as a mask image gives the same result
    write_image(tmp_path / "mask.png", hole.astype(np.uint8) * 255)
    out2 = tmp_path / "mask"
    assert main(["inpaint", str(model_dir), str(digits), "--mask", str(tmp_path / "mask.png"), "-o", str(out2)]) == 0
    assert (out2 / "d1.png").read_bytes() == (out / "d1.png").read_bytes()


@pytest.mark.parametrize("extra, message", [
    (["--box", "1,2,3"], "x,y,w,h"),
    (["--box", "20,0,4,4"], "outside"),
    (["--box", "0,0,4,4", "--iterations", "0"], "iterations"),
])
def test_inpaint_bad_input_exits_2(model_dir, digits, tmp_path, capsys, extra, message):
    assert main(["inpaint", str(model_dir), str(digits), "-o", str(tmp_path / "o"), *extra]) == 2
    assert message in capsys.readouterr().err


def test_inpaint_rejects_a_mask_of_the_wrong_size(model_dir, digits, tmp_path, capsys):
    write_image(tmp_path / "mask.png", np.full((10, 10), 255, dtype=np.uint8))
    assert main(["inpaint", str(model_dir), str(digits), "--mask", str(tmp_path / "mask.png"),
                 "-o", str(tmp_path / "o")]) == 2
    assert "expected 12x12" in capsys.readouterr().err


def test_inpaint_api_keeps_dtype_layout_and_known_pixels(model_dir):
    from aekit.model import load_model

    model = load_model(model_dir)
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(4, 12, 12), dtype=np.uint8)
    hole = box_mask(12, 12, "4,4,3,3")
    out = inpaint(model, images, hole, iterations=2)
    assert out.dtype == np.uint8 and out.shape == images.shape
    assert np.array_equal(out[:, ~hole], images[:, ~hole])
    floats = inpaint(model, torch.from_numpy(images[:, None] / 255.0).float(), hole)
    assert isinstance(floats, torch.Tensor) and floats.shape == (4, 1, 12, 12)
    torch.testing.assert_close(floats[:, 0][:, torch.from_numpy(~hole)],
                               torch.from_numpy(images / 255.0).float()[:, torch.from_numpy(~hole)])


def test_masked_quality_and_random_blocks():
    clean = torch.zeros(2, 1, 4, 4)
    filled = clean.clone()
    filled[0, 0, 0, 0] = 0.5
    filled[1, 0, 3, 3] = 1.0  # outside the mask: must not count
    mask = torch.zeros(2, 1, 4, 4, dtype=torch.bool)
    mask[:, :, :2, :2] = True
    q = masked_quality(clean, filled, mask)
    assert q["masked_pixels"] == 8 and q["masked_mse"] == pytest.approx(0.25 / 8)
    blocks = random_block_masks(5, 28, 28, size=10, seed=3)
    assert (blocks.flatten(1).sum(1) == 100).all()
    assert torch.equal(blocks, random_block_masks(5, 28, 28, size=10, seed=3))


def test_inpaint_unit_iterates_on_its_own_fill(monkeypatch):
    from aekit.tasks import inpaint as inpaint_module

    seen = []

    def fake_reconstruct(model, x, batch_size):  # stands in for the model: predicts 0.5 everywhere
        seen.append(x.clone())
        return torch.full_like(x, 0.5)

    monkeypatch.setattr(inpaint_module, "reconstruct_unit", fake_reconstruct)
    x = torch.ones(1, 1, 4, 4)
    mask = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    mask[..., 1:3, 1:3] = True
    out = inpaint_unit(None, x, mask, iterations=3)
    assert len(seen) == 3
    assert (seen[0][mask] == 0).all() and (seen[1][mask] == 0.5).all()  # the hole is erased, then refined
    assert (out[mask] == 0.5).all() and (out[~mask] == 1).all()


def test_train_noise_flag_end_to_end(blobs_npy, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--preset", "conv-denoising-spatial", "--dataset", str(blobs_npy), "--epochs", "1",
                 "--latent", "2", "--channels", "4,4", "--noise", "salt_pepper:0.2+masking:0.1",
                 "--out", str(out), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["objective"]["corruption"] == ["salt_pepper:0.2", "masking:0.1"]
    evaluation = json.loads((out / "eval.json").read_text())
    assert evaluation["latent"]["code_size"] == 2 * 3 * 3  # 2 channels on the 3x3 grid of a 12x12 input
    assert "Latent code" in (out / "report.html").read_text()
    assert "dead units" in capsys.readouterr().out
    bad = main(["train", "--preset", "denoising", "--dataset", str(blobs_npy), "--noise", "gaussian:-1",
                "--out", str(tmp_path / "bad")])
    assert bad == 2 and "SIGMA ≥ 0" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()  # refused before anything was written


def test_noisy_training_resumes_bit_for_bit(blobs_npy, tmp_path):
    import aekit

    common = dict(dataset=str(blobs_npy), progress=False, evaluate=False, latent_dim=2, channels=(4,),
                  corruption=("gaussian:0.3", "blocks:2-4"), schedule="none")  # cosine would refuse longer resumes
    straight = aekit.train("conv-denoising", out=tmp_path / "a", epochs=2, **common)
    aekit.train("conv-denoising", out=tmp_path / "b", epochs=1, **common)
    resumed = aekit.train(out=tmp_path / "b", resume=True, epochs=2, progress=False, evaluate=False)
    for (name, a), (_, b) in zip(straight.module.state_dict().items(), resumed.module.state_dict().items(),
                                 strict=True):
        assert torch.equal(a, b), name


def test_the_comparison_picture_never_overwrites_an_output(tmp_path):
    from aekit.runs.files import free_name

    assert free_name(tmp_path, "comparison", {"d0"}) == tmp_path / "comparison.png"
    assert free_name(tmp_path, "comparison", {"comparison", "comparison_1"}) == tmp_path / "comparison_2.png"


def test_evaluate_denoising_scores_noisy_and_denoised_against_clean(model_dir):
    from aekit.model import load_model
    from aekit.objectives import parse_corruptions
    from aekit.tasks.denoise import denoise, evaluate_denoising

    model = load_model(model_dir)
    rng = np.random.default_rng(2)
    clean = rng.integers(0, 256, size=(20, 12, 12, 1), dtype=np.uint8)
    result = evaluate_denoising(model, clean, "salt_pepper:0.2", seed=5)
    x = torch.from_numpy(clean).permute(0, 3, 1, 2).float() / 255
    noisy = parse_corruptions("salt_pepper:0.2")(x, torch.Generator().manual_seed(5))
    assert result["noise"] == ["salt_pepper:0.2"] and result["n"] == 20
    assert result["noisy"]["mse"] == pytest.approx(float((noisy - x).pow(2).mean()), rel=1e-5)
    out = denoise(model, noisy.permute(0, 2, 3, 1).numpy())
    assert result["model"]["mse"] == pytest.approx(float(((out - clean / 255.0) ** 2).mean()), rel=1e-4)
