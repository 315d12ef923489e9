"""Automatic speed settings (precision, memory layout) and the fused BCE they rely on."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from aekit.config import ModelConfig, ObjectiveConfig, TrainConfig
from aekit.models import AEOutput, build_model
from aekit.objectives import bce, build_objective
from aekit.train import speed

CPU, CUDA = torch.device("cpu"), torch.device("cuda")  # CUDA only names a device here; nothing runs on it


def dense():
    return build_model(ModelConfig(architecture="mlp", input_shape=(1, 8, 8), latent_dim=4, hidden=(16,)))


def conv():
    return build_model(ModelConfig(architecture="conv", input_shape=(1, 8, 8), latent_dim=4, channels=(4, 8)))


@pytest.mark.parametrize("native", [True, False])
def test_auto_follows_the_model_the_objective_and_the_device(monkeypatch, native):
    monkeypatch.setattr(speed, "cpu_has_native_bf16", lambda: native)
    auto, bf16 = TrainConfig(), "bf16" if native else "fp32"
    for model, chosen_here in ((conv(), (bf16, True)), (dense(), ("fp32", False))):
        chosen = speed.resolve(auto, model, CPU)
        assert (chosen.precision, chosen.channels_last) == chosen_here
    # VAEs, and terms no tolerance run covers, stay in float32
    for terms in (ObjectiveConfig(contractive=1e-3), ObjectiveConfig(rate=0.01)):
        assert speed.resolve(auto, conv(), CPU, build_objective(terms)).precision == "fp32"
    vae = build_model(ModelConfig(architecture="conv", input_shape=(1, 8, 8), latent_dim=4, channels=(4, 8),
                                  latent="gaussian"))
    assert (speed.resolve(auto, vae, CPU).precision, speed.resolve(auto, vae, CPU).channels_last) == ("fp32", True)
    # nothing automatic off the CPU; explicit settings always win
    on_gpu = speed.resolve(auto, conv(), CUDA)
    assert (on_gpu.precision, on_gpu.channels_last) == ("fp32", False)
    fixed = speed.resolve(TrainConfig(precision="bf16", memory_format="contiguous"), conv(), CPU)
    assert (fixed.precision, fixed.channels_last) == ("bf16", False)
    assert speed.resolve(TrainConfig(precision="fp32", memory_format="channels_last"), dense(), CUDA).channels_last


def test_unknown_settings_are_refused():
    with pytest.raises(Exception, match="memory_format"):
        TrainConfig(memory_format="nhwc")
    with pytest.raises(Exception, match="precision"):
        TrainConfig(precision="fp16")


def test_channels_last_layout_changes_conv_weights_only_not_results():
    plain = conv()
    model = speed.apply_layout(copy.deepcopy(plain), speed.SpeedSettings("fp32", True, ""))
    convs = [m.weight for m in model.modules() if isinstance(m, speed.CONV_LAYERS) and min(m.weight.shape[:2]) > 1]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous() for w in convs)
    linears = [m.weight for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all(w.is_contiguous() for w in linears)
    x = torch.rand(3, 1, 8, 8)
    torch.testing.assert_close(model(x).x_hat, plain(x).x_hat)


def test_optimizer_moments_take_their_weights_layout():
    model = speed.apply_layout(conv(), speed.SpeedSettings("fp32", True, ""))
    opt = torch.optim.Adam(model.parameters())
    model(torch.rand(2, 1, 8, 8)).x_hat.mean().backward()
    opt.step()
    state = opt.state_dict()
    for s in state["state"].values():  # as a checkpoint restores them: contiguous
        for k in ("exp_avg", "exp_avg_sq"):
            s[k] = s[k].contiguous()
    fresh = torch.optim.Adam(model.parameters())
    fresh.load_state_dict(state)
    speed.match_state_layout(fresh)
    for p in model.parameters():
        for k in ("exp_avg", "exp_avg_sq"):
            assert fresh.state[p][k].stride() == p.stride()
            assert torch.equal(fresh.state[p][k], opt.state[p][k])


@pytest.mark.parametrize("shape,reduction", [((6, 1, 28, 28), "mean"), ((4, 3, 5, 5), "sum"), ((5, 30), "mean")])
def test_fused_bce_matches_torch_in_value_and_gradient(shape, reduction):
    torch.manual_seed(0)
    logits = (torch.randn(shape) * 6).requires_grad_()  # includes saturated logits
    reference = logits.detach().clone().requires_grad_()
    target = torch.rand(shape)
    ours = bce(AEOutput(logits=logits, z=None), target, reduction)
    theirs = F.binary_cross_entropy_with_logits(reference, target, reduction="none").flatten(1)
    theirs = theirs.sum(1) if reduction == "sum" else theirs.mean(1)
    assert ours.shape == (shape[0],)
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-6 * (theirs.abs().max().item() + 1))
    weights = torch.randn(shape[0])
    (ours * weights).sum().backward()
    (theirs * weights).sum().backward()
    torch.testing.assert_close(logits.grad, reference.grad, rtol=1e-6, atol=1e-9)
