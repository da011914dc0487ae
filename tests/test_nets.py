"""The nets take any image size and channel count and return the input's shape."""

import pytest
import torch

from aelab.nets.image.conv import ConvAutoencoder, stage_sizes
from aelab.nets.image.mlp import MLPAutoencoder


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 64, 64), (1, 28, 40)])
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_conv_autoencoder_returns_input_shape_in_unit_range(shape, depth):
    net = ConvAutoencoder(shape, latent_dim=8, depth=depth, width=4)
    x = torch.rand(2, *shape)
    z = net.encode(x)
    y = net.decode(z)
    assert z.shape == (2, 8)
    assert y.shape == x.shape
    assert 0 <= y.min() and y.max() <= 1


@pytest.mark.parametrize("norm", ["batch", "group", "none"])
@pytest.mark.parametrize("activation", ["relu", "silu", "gelu"])
def test_conv_options_build_and_train_a_step(norm, activation):
    net = ConvAutoencoder((3, 32, 32), 16, 2, 8, norm=norm, activation=activation)
    x = torch.rand(4, 3, 32, 32)
    loss = torch.nn.functional.mse_loss(net(x), x)
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())


def test_stage_sizes_round_up_for_odd_sizes():
    assert stage_sizes(28, 3) == [28, 14, 7, 4]
    assert stage_sizes(32, 3) == [32, 16, 8, 4]


def test_latent_outputs_doubles_the_code_for_vaes():
    net = ConvAutoencoder((1, 28, 28), latent_dim=5, depth=2, width=4, latent_outputs=2)
    assert net.encode(torch.rand(3, 1, 28, 28)).shape == (3, 10)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_mlp_autoencoder(shape):
    net = MLPAutoencoder(shape, latent_dim=8, depth=2, width=32)
    x = torch.rand(5, *shape)
    assert net(x).shape == x.shape
    assert net.encode(x).shape == (5, 8)


def test_unknown_activation_is_named():
    with pytest.raises(ValueError, match="unknown activation 'swishy'"):
        ConvAutoencoder((1, 28, 28), activation="swishy")
