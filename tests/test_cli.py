"""The `aekit` command in-process: verbs work, and bad input is one clear line with exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import aekit
from aekit.cli import main
from cli_helpers import fails


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", "--preset", "deep", "--dataset", "digits", "--latent", "8", "--epochs", "4",
                 "--out", str(out), "--no-progress"]) == 0
    return out


def test_train_writes_report_and_eval_prints_table(run_dir, capsys):
    assert (run_dir / "report.html").exists()
    assert main(["eval", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "PCA-8" in out and "PSNR" in out
    assert main(["eval", str(run_dir), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"]["mse"] > 0 and result["pca"]["n_components"] == 8
    assert result["per_class"][0]["label"] == 0 and len(result["per_class"]) == 10


def test_summary_shows_sizes_and_compression(run_dir, capsys):
    assert main(["summary", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "compression factor 8.0x" in out
    assert "layer sizes (auto): 64 -> 16 -> 8 -> 16 -> 64" in out
    assert main(["summary", str(run_dir), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["parameters"] == sum(layer["params"] for layer in info["layers"])


def test_reconstruct_keeps_size_and_mode(run_dir, tmp_path, capsys):
    digits = aekit.data.load_dataset("digits").test.images[:3, :, :, 0]
    for i, d in enumerate(digits):
        Image.fromarray(d, mode="L").save(tmp_path / f"d{i}.png")
    np.save(tmp_path / "batch.npy", digits)
    out = tmp_path / "out"
    assert main(["reconstruct", str(run_dir), *(str(tmp_path / f"d{i}.png") for i in range(3)),
                 str(tmp_path / "batch.npy"), "-o", str(out)]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == ["batch_0000.png", "batch_0001.png", "batch_0002.png", "d0.png", "d1.png", "d2.png"]
    im = Image.open(out / "d0.png")
    assert im.mode == "L" and im.size == (8, 8)
    model = aekit.load(run_dir)
    np.testing.assert_array_equal(np.asarray(im), model.reconstruct(digits[0]))


def test_missing_dataset_folder(tmp_path, capsys):
    fails(capsys, ["train", "--dataset", "mnist", "--data-dir", str(tmp_path / "nowhere"), "--out",
                   str(tmp_path / "r")], "train-images-idx3-ubyte.gz")
    assert not (tmp_path / "r").exists()


def test_corrupt_idx_file(tmp_path, capsys):
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz"):
        (folder / name).write_bytes(b"\x1f\x8b garbage")
    fails(capsys, ["train", "--dataset", "mnist", "--data-dir", str(tmp_path / "data"), "--out",
                   str(tmp_path / "r")], "error:")


def test_corrupt_png(run_dir, tmp_path, capsys):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    fails(capsys, ["reconstruct", str(run_dir), str(tmp_path / "bad.png"), "-o", str(tmp_path / "o")], "bad.png")


def test_wrong_size_and_channels(run_dir, tmp_path, capsys):
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "big.png")
    fails(capsys, ["reconstruct", str(run_dir), str(tmp_path / "big.png"), "-o", str(tmp_path / "o")],
          "takes 8x8 grayscale images; got 28x28 grayscale")
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[..., 0] = 255
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    fails(capsys, ["reconstruct", str(run_dir), str(tmp_path / "rgb.png"), "-o", str(tmp_path / "o")],
          "got 8x8 RGB")


def test_nan_in_an_array(run_dir, tmp_path, capsys):
    arr = np.full((4, 8, 8), 0.5, np.float32)
    arr[1, 2, 3] = np.nan
    np.save(tmp_path / "nan.npy", arr)
    fails(capsys, ["reconstruct", str(run_dir), str(tmp_path / "nan.npy"), "-o", str(tmp_path / "o")], "NaN")
    fails(capsys, ["train", "--dataset", str(tmp_path / "nan.npy"), "--out", str(tmp_path / "r")], "NaN")


def test_truncated_and_future_model_folders(run_dir, tmp_path, capsys):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(run_dir / "model", broken)
    blob = (broken / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(blob[:100])
    for verb in ("summary", "eval"):
        fails(capsys, [verb, str(broken)], "truncated or corrupt")
    future = tmp_path / "future"
    shutil.copytree(run_dir / "model", future)
    config = json.loads((future / "config.json").read_text())
    config["format_version"] = 2
    (future / "config.json").write_text(json.dumps(config))
    fails(capsys, ["summary", str(future)], "format version 2", "upgrade aekit")


def test_truncated_checkpoint_on_resume(tmp_path, capsys):
    run = tmp_path / "r"
    assert main(["train", "--preset", "dense", "--dataset", "digits", "--epochs", "1", "--out", str(run),
                 "--no-progress", "--no-eval"]) == 0
    ckpt = run / "checkpoints" / "last.safetensors"
    ckpt.write_bytes(ckpt.read_bytes()[:50])
    fails(capsys, ["train", "--resume", str(run)], "truncated or corrupt")


def test_unknown_options_are_errors(tmp_path, capsys):
    fails(capsys, ["train", "--dataset", "digits", "--set", "model.hiden=3", "--out", str(tmp_path / "r")],
          "unknown key(s) hiden")
    fails(capsys, ["train", "--preset", "nope", "--dataset", "digits"], "valid presets")
    fails(capsys, ["train", "--dataset", "digits", "--activation", "swish", "--out", str(tmp_path / "r")],
          "expected one of")


def test_metrics_bad_input_is_a_user_error_not_an_internal_error(tmp_path, capsys):
    # SSIM needs images of at least 3x3 px; on a 2x2-px run, eval used to end in "internal error: ValueError".
    np.save(tmp_path / "tiny.npy", np.random.default_rng(0).integers(0, 256, (60, 2, 2), dtype=np.uint8))
    run = tmp_path / "r"
    assert main(["train", "--preset", "deep", "--dataset", str(tmp_path / "tiny.npy"), "--latent", "2",
                 "--epochs", "1", "--out", str(run), "--no-progress", "--no-eval"]) == 0
    err = fails(capsys, ["eval", str(run)], "ssim: expected images at least 3x3 px, got 2x2")
    assert "internal error" not in err
