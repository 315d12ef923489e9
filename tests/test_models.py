import pytest
import torch

from aekit.config import ModelConfig
from aekit.models import auto_hidden_sizes, build_model, resolved_hidden
from aekit.models.blocks import activation


def test_auto_hidden_sizes_follow_the_design_rule():
    assert auto_hidden_sizes(784, 16) == (64,)  # the example in DESIGN.md
    assert auto_hidden_sizes(784, 32) == (128,)
    assert auto_hidden_sizes(784, 2) == (32, 8)
    assert auto_hidden_sizes(3072, 64) == (256,)
    assert auto_hidden_sizes(64, 32) == ()


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 31, 17), (1, 8, 8), (2, 5, 9)])
@pytest.mark.parametrize("down, up", [("stride", "transpose"), ("pool", "nearest")])
def test_conv_autoencoder_any_size_and_channels(shape, down, up):
    cfg = ModelConfig(architecture="conv", input_shape=shape, latent_dim=6, channels=(4, 8, 8),
                      downsample=down, upsample=up)
    model = build_model(cfg).eval()
    x = torch.rand(3, *shape)
    out = model(x)
    assert out.x_hat.shape == x.shape
    assert out.z.shape == (3, 6)
    assert out.x_hat.min() >= 0 and out.x_hat.max() <= 1
    # encode and decode work on their own and agree with forward
    torch.testing.assert_close(model.decode(model.encode(x)), out.x_hat)


@pytest.mark.parametrize("act", ["relu", "leaky_relu", "elu", "celu", "gelu", "tanh", "sigmoid"])
def test_every_activation_builds(act):
    model = build_model(ModelConfig(input_shape=(1, 8, 8), latent_dim=3, hidden=(16,), activation=act))
    assert model(torch.rand(2, 1, 8, 8)).x_hat.shape == (2, 1, 8, 8)


def test_dense_preset_is_one_layer_each_side():
    cfg = ModelConfig(hidden=(), code_activation="relu", latent_dim=32)
    model = build_model(cfg)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 32), (32, 784)]
    assert (model.encode(torch.rand(4, 1, 28, 28)) >= 0).all()  # ReLU code


def test_resolved_hidden_given_and_auto():
    assert resolved_hidden(ModelConfig(hidden=(512, 256))) == (512, 256)
    assert resolved_hidden(ModelConfig(hidden="auto", latent_dim=16)) == (64,)


def test_output_activation_none_gives_unbounded_outputs():
    model = build_model(ModelConfig(input_shape=(1, 4, 4), latent_dim=2, hidden=(), output_activation="none"))
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(3.0)
    assert model(torch.ones(1, 1, 4, 4)).x_hat.max() > 1


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 31, 17), (2, 5, 9)])
@pytest.mark.parametrize("down, up", [("stride", "transpose"), ("pool", "nearest")])
def test_spatial_bottleneck_any_size(shape, down, up):
    cfg = ModelConfig(architecture="conv", input_shape=shape, latent_dim=3, channels=(4, 8), downsample=down,
                      upsample=up, bottleneck="spatial")
    h, w = (shape[1] + 3) // 4, (shape[2] + 3) // 4  # two halvings, rounding up
    assert cfg.code_size == 3 * h * w
    model = build_model(cfg).eval()
    x = torch.rand(2, *shape)
    out = model(x)
    assert out.x_hat.shape == x.shape and out.z.shape == (2, cfg.code_size)
    torch.testing.assert_close(model.decode(model.encode(x)), out.x_hat)
    assert not any(isinstance(m, torch.nn.Linear) for m in model.modules())  # fully convolutional
    # the code keeps its layout: a change in one corner of the input stays in that corner of the map
    y = x.clone()
    y[:, :, 0, 0] += 1.0
    moved = (model.encode(y) - model.encode(x)).abs().reshape(2, 3, h, w).sum((0, 1))
    assert moved[0, 0] > 0 and moved[-1, -1] == 0


def test_spatial_bottleneck_needs_conv():
    from aekit.errors import AekitError

    with pytest.raises(AekitError, match="architecture=conv"):
        ModelConfig(architecture="mlp", bottleneck="spatial")
    with pytest.raises(AekitError, match="bottleneck"):
        ModelConfig(architecture="conv", bottleneck="wide")


@pytest.mark.parametrize("act,dropout,pool_first", [("relu", 0.0, True), ("tanh", 0.0, True), ("gelu", 0.0, False),
                                                    ("relu", 0.2, False)])
def test_pooling_encoder_pools_before_a_monotonic_activation_with_the_same_result(act, dropout, pool_first):
    config = ModelConfig(architecture="conv", input_shape=(1, 9, 9), channels=(4, 6), downsample="pool",
                         activation=act, dropout=dropout, latent_dim=8)
    encoder = build_model(config).encoder.eval()
    kinds = [type(m).__name__ for m in encoder]
    assert (kinds[1] == "MaxPool2d") == pool_first
    # the textbook order, conv -> activation [-> dropout] -> pool, with the same modules
    convs = [m for m in encoder if isinstance(m, torch.nn.Conv2d)]
    tail = list(encoder)[kinds.index("Flatten"):]
    stage = [activation(act), torch.nn.MaxPool2d(2, ceil_mode=True)]
    reference = torch.nn.Sequential(convs[0], *stage, convs[1], *stage, *tail)
    x = torch.randn(5, 1, 9, 9, requires_grad=True)
    torch.testing.assert_close(encoder(x), reference(x))
    grads = [torch.autograd.grad(net(x).square().sum(), x)[0] for net in (encoder, reference)]
    torch.testing.assert_close(*grads)
