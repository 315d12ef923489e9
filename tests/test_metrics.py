"""Metrics against hand computation and against scikit-image's SSIM reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aekit import metrics
from aekit.errors import AekitError
from aekit.metrics import (
    bce_per_sample,
    mse_per_sample,
    per_sample_scores,
    psnr_from_mse,
    ssim,
    ssim_map,
    ssim_window,
    summarize,
    summarize_scores,
)

skm = pytest.importorskip("skimage.metrics")
skdata = pytest.importorskip("skimage.data")
ndimage = pytest.importorskip("scipy.ndimage")


def _skimage_ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0, full: bool = False):
    """skimage's SSIM of one (C, H, W) float64 pair, with aekit's window for that size."""
    win, sigma = ssim_window(*a.shape[-2:])
    return skm.structural_similarity(
        a,
        b,
        data_range=data_range,
        gaussian_weights=True,
        sigma=sigma,
        win_size=win,
        use_sample_covariance=False,
        channel_axis=0,
        full=full,
    )


def _check_against_skimage(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> None:
    ours = ssim(torch.from_numpy(a).float(), torch.from_numpy(b).float(), data_range)
    ref = np.array([_skimage_ssim(a[i], b[i], data_range) for i in range(len(a))])
    assert ours.shape == (len(a),)
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-4, rtol=0)


def test_ssim_matches_skimage_on_random_pairs():
    rng = np.random.default_rng(0)
    a = rng.random((4, 1, 28, 28))
    noise = np.array([0.02, 0.1, 0.3, 1.0]).reshape(4, 1, 1, 1)  # one noise level per pair
    b = np.clip(a + noise * rng.standard_normal(a.shape), 0, 1)
    _check_against_skimage(a, b)
    # Unrelated images too (SSIM near 0, where a sign or normalisation slip shows most).
    _check_against_skimage(a, rng.random(a.shape))


def test_ssim_matches_skimage_on_blurred_natural_image():
    img = skdata.camera()[::4, ::4].astype(np.float64) / 255.0  # 128x128, real edges and texture
    blurred = ndimage.gaussian_filter(img, 1.2)
    a, b = img[None, None], blurred[None, None]
    _check_against_skimage(a, b)
    assert 0.3 < ssim(torch.from_numpy(a), torch.from_numpy(b)).item() < 0.95


def test_ssim_matches_skimage_multichannel_and_data_range():
    img = skdata.astronaut()[::8, ::8].astype(np.float64)  # (64, 64, 3), values 0..255
    a = img.transpose(2, 0, 1)[None]
    rng = np.random.default_rng(1)
    b = np.clip(a + rng.normal(0, 20, a.shape), 0, 255)
    _check_against_skimage(a, b, data_range=255.0)
    # Channels are averaged: SSIM of the stack is the mean of per-channel SSIMs.
    per_channel = [
        ssim(torch.from_numpy(a[:, c : c + 1]), torch.from_numpy(b[:, c : c + 1]), 255)
        for c in range(3)
    ]
    stacked = ssim(torch.from_numpy(a), torch.from_numpy(b), 255)
    assert torch.allclose(stacked, torch.stack(per_channel).mean(0))


@pytest.mark.parametrize("size", [(8, 8), (5, 9), (10, 12)])
def test_ssim_small_images_use_shrunk_window(size):
    win, sigma = ssim_window(*size)
    assert win % 2 == 1 and win <= min(size) and win >= min(size) - 1
    assert sigma == pytest.approx(1.5 * win / 11)
    rng = np.random.default_rng(2)
    a = rng.random((6, 1, *size))
    b = np.clip(a + rng.normal(0, 0.15, a.shape), 0, 1)
    _check_against_skimage(a, b)


def test_ssim_window_standard_and_too_small():
    assert ssim_window(28, 28) == (11, 1.5)
    assert ssim_window(11, 300) == (11, 1.5)
    with pytest.raises(ValueError, match="at least 3x3"):
        ssim_window(2, 8)


def test_identical_images_ssim_one_psnr_inf():
    x = torch.rand(3, 2, 16, 16)
    assert torch.allclose(ssim(x, x.clone()), torch.ones(3), atol=1e-6)
    assert torch.allclose(ssim_map(x, x.clone()), torch.ones_like(x), atol=1e-5)
    assert torch.isinf(psnr_from_mse(mse_per_sample(x, x.clone()))).all()
    assert summarize(x, x.clone())["psnr"] == math.inf


def test_psnr_known_values():
    assert psnr_from_mse(0.01) == pytest.approx(20.0)
    assert psnr_from_mse(1e-4) == pytest.approx(40.0)
    assert psnr_from_mse(1.0, data_range=255.0) == pytest.approx(20 * math.log10(255))
    assert psnr_from_mse(0.0) == math.inf
    t = psnr_from_mse(torch.tensor([0.1, 0.001, 0.0]))
    assert torch.allclose(t[:2], torch.tensor([10.0, 30.0]))
    assert torch.isinf(t[2])
    with pytest.raises(ValueError, match="mse >= 0"):
        psnr_from_mse(-1.0)


def test_mse_and_bce_against_hand_computation():
    x = torch.tensor([[[[0.0, 1.0], [0.5, 1.0]]], [[[1.0, 1.0], [0.0, 0.0]]]])
    x_hat = torch.tensor([[[[0.5, 0.5], [0.5, 0.0]]], [[[0.9, 0.8], [0.1, 0.2]]]])
    mse = mse_per_sample(x, x_hat)
    assert torch.allclose(
        mse, torch.tensor([(0.25 + 0.25 + 0 + 1) / 4, (0.01 + 0.04 + 0.01 + 0.04) / 4])
    )
    bce = bce_per_sample(x, x_hat, eps=1e-7)
    # Sample 0: pixel (x=1, p=0) is clamped to p=1e-7 and costs -log(1e-7).
    s0 = (math.log(2) * 3 + -math.log(1e-7)) / 4
    s1 = -(math.log(0.9) + math.log(0.8) + math.log(0.9) + math.log(0.8)) / 4
    assert torch.allclose(bce, torch.tensor([s0, s1]), rtol=1e-5)
    # Same as torch's reference on unclamped values.
    p = torch.rand(4, 3, 5, 5) * 0.98 + 0.01
    t = torch.rand(4, 3, 5, 5)
    ref = torch.nn.functional.binary_cross_entropy(p, t, reduction="none").flatten(1).mean(1)
    assert torch.allclose(bce_per_sample(t, p), ref, atol=1e-6)


def test_ssim_map_matches_skimage_full_map_and_interior_mean():
    rng = np.random.default_rng(3)
    a = rng.random((2, 3, 20, 24))
    b = np.clip(a + rng.normal(0, 0.2, a.shape), 0, 1)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    m = ssim_map(ta, tb)
    assert m.shape == ta.shape
    _, full = _skimage_ssim(a[0], b[0], full=True)
    np.testing.assert_allclose(m[0].numpy(), full, atol=1e-6)
    # The interior (a 5 px border dropped) averages to ssim(); the padded border differs.
    interior = m[..., 5:-5, 5:-5].flatten(1).mean(1)
    assert torch.allclose(interior, ssim(ta, tb), atol=1e-6)
    assert not torch.allclose(m.flatten(1).mean(1), ssim(ta, tb), atol=1e-6)


def test_ssim_is_differentiable():
    x = torch.rand(2, 1, 12, 12)
    x_hat = torch.rand(2, 1, 12, 12, requires_grad=True)
    (1 - ssim(x, x_hat)).sum().backward()
    assert x_hat.grad is not None and torch.isfinite(x_hat.grad).all()


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        (torch.rand(2, 28, 28), torch.rand(2, 28, 28), r"shape \(N, C, H, W\)"),
        (torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 9), "same shape"),
        (torch.zeros(2, 1, 8, 8, dtype=torch.uint8), torch.rand(2, 1, 8, 8), "floating-point"),
    ],
)
def test_bad_input_is_a_clear_error(x, y, match):
    for fn in (mse_per_sample, bce_per_sample, ssim, ssim_map, summarize):
        with pytest.raises(ValueError, match=match):
            fn(x, y)


def test_aekit_error_is_a_value_error():
    assert issubclass(AekitError, ValueError)


def test_shape_mismatch_is_an_aekit_error_naming_both_shapes():
    x, y = torch.rand(2, 1, 8, 8), torch.rand(3, 1, 8, 8)
    for fn in (mse_per_sample, bce_per_sample, ssim, ssim_map, summarize):
        with pytest.raises(AekitError, match=r"expected x and x_hat of the same shape, got \(2, 1, 8, 8\) and "
                                             r"\(3, 1, 8, 8\)"):
            fn(x, y)
    with pytest.raises(AekitError, match="expected images at least 3x3 px, got 2x2"):
        ssim(torch.rand(1, 1, 2, 2), torch.rand(1, 1, 2, 2))


def test_summarize_on_10k_images_runs_in_chunks(monkeypatch):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(10_000, 1, 28, 28, generator=g)
    x_hat = (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)

    seen: list[int] = []
    real_ssim = metrics.ssim

    def spy(a, b, data_range=1.0):
        seen.append(a.shape[0])
        return real_ssim(a, b, data_range)

    monkeypatch.setattr(metrics, "ssim", spy)
    out = summarize(x, x_hat, chunk_size=2048)
    assert seen == [2048] * 4 + [10_000 - 4 * 2048]
    assert set(out) == {"mse", "bce", "psnr", "psnr_mean_per_image", "ssim"}
    assert all(isinstance(v, float) for v in out.values())

    mse = mse_per_sample(x, x_hat).double()
    assert out["mse"] == pytest.approx(mse.mean().item(), rel=1e-6)
    assert out["psnr"] == pytest.approx(psnr_from_mse(mse.mean().item()), rel=1e-6)
    assert out["psnr_mean_per_image"] == pytest.approx(psnr_from_mse(mse).mean().item(), rel=1e-6)
    # Mean of per-image PSNR is never below PSNR of the mean MSE (Jensen: -log is convex).
    assert out["psnr_mean_per_image"] >= out["psnr"]
    monkeypatch.undo()
    small = summarize(x[:300], x_hat[:300], chunk_size=7)
    whole = summarize(x[:300], x_hat[:300], chunk_size=300)
    for k in whole:
        assert small[k] == pytest.approx(whole[k], rel=1e-6)
    assert whole["ssim"] == pytest.approx(ssim(x[:300], x_hat[:300]).mean().item(), rel=1e-6)


def test_per_sample_scores_feed_summarize_and_min_mse_caps_exact_images():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(50, 1, 12, 12, generator=g)
    x_hat = (x + 0.05 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    x_hat[0] = x[0]  # one exact reconstruction
    scores = per_sample_scores(x, x_hat, chunk_size=16)
    assert set(scores) == {"mse", "bce", "ssim"}
    assert all(v.shape == (50,) and v.dtype == torch.float64 for v in scores.values())
    assert torch.equal(scores["mse"].float(), mse_per_sample(x, x_hat))
    assert summarize_scores(scores) == summarize(x, x_hat, chunk_size=16)
    assert summarize_scores(scores)["psnr_mean_per_image"] == math.inf
    capped = summarize_scores(scores, min_mse=1e-12)["psnr_mean_per_image"]
    rest = psnr_from_mse(scores["mse"][1:]).sum().item()
    assert capped == pytest.approx((120.0 + rest) / 50)
