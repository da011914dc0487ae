"""Every image net (each model yaml with a `net`) takes any image size and channel count and
returns the input's shape; the conv net's options build and train. Nets come from their
yaml, so a new net file + yaml is tested here with no edit."""

import pytest
import torch

from aelab.nets.image.conv import stage_sizes
from tests.conftest import MODEL_CONFIGS, build_net, model_config

# The autoencoders' nets: a yaml with a net and a latent_dim (null for the unet). The
# classifier's net maps images to classes (tests/test_classifier.py).
IMAGE_NETS = [m for m in MODEL_CONFIGS if {"net", "latent_dim"} <= set(model_config(m).model)]
SHAPES = [(1, 28, 28), (3, 32, 32), (3, 64, 64), (1, 28, 40)]


@pytest.mark.parametrize("model", IMAGE_NETS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_every_image_net_returns_the_input_shape_in_unit_range(model, shape, depth):
    node = model_config(model).model
    has_code = node.latent_dim is not None  # unet: skips, no code
    staged = node.depth is not None  # pca: no stages, no channels
    net = build_net(model, shape, *([f"model.depth={depth}", "model.width=4"] if staged else []),
                    *(["model.latent_dim=8"] if has_code else []))
    assert net.has_code == has_code
    x = torch.rand(2, *shape)
    if not has_code:
        y = net(x)
        assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
        return
    z = net.encode(x)
    code = net.quantize(z)[0] if hasattr(net, "quantize") else z  # the VQ net's code grid
    y = net.decode(code)
    assert y.shape == x.shape
    assert 0 <= y.min() and y.max() <= 1


@pytest.mark.parametrize("norm", ["batch", "group", "none"])
@pytest.mark.parametrize("activation", ["relu", "silu", "gelu"])
def test_conv_options_build_and_train_a_step(norm, activation):
    net = build_net("conv_ae", (3, 32, 32), "model.latent_dim=16", "model.depth=2",
                    "model.width=8", f"model.net.norm={norm}", f"model.net.activation={activation}")
    x = torch.rand(4, 3, 32, 32)
    loss = torch.nn.functional.mse_loss(net(x), x)
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())


def test_stage_sizes_round_up_for_odd_sizes():
    assert stage_sizes(28, 3) == [28, 14, 7, 4]
    assert stage_sizes(32, 3) == [32, 16, 8, 4]


@pytest.mark.parametrize("model", ["conv_ae", "mlp_ae"])
def test_latent_outputs_doubles_the_code_for_vaes(model):
    net = build_net(model, (1, 28, 28), "model.latent_dim=5", "model.depth=2", "model.width=4",
                    latent_outputs=2)
    assert net.encode(torch.rand(3, 1, 28, 28)).shape == (3, 10)


def test_resnet_attention_attends_over_positions_at_the_lowest_resolution():
    from aelab.nets.image.resnet import SelfAttention

    net = build_net("resnet_ae", (3, 32, 32), "model.latent_dim=16", "model.depth=2",
                    "model.width=8", "model.net.attention=true", "model.net.heads=2")
    attention = [m for m in net.modules() if isinstance(m, SelfAttention)]
    assert len(attention) == 2  # the encoder's end and the decoder's start
    x = torch.rand(2, 3, 32, 32)
    assert net(x).shape == x.shape
    # Attention without positions is permutation-equivariant: shuffling the 8x8 map's
    # positions shuffles the output the same way (a convolution would mix neighbours).
    block = attention[0]
    h = torch.randn(2, 16, 8, 8)
    order = torch.randperm(64)
    shuffled = block(h.flatten(2)[..., order].view_as(h)).flatten(2)
    assert torch.allclose(shuffled, block(h).flatten(2)[..., order], atol=1e-5)
    # ... and each output position depends on far-away ones.
    h.requires_grad_(True)
    block(h)[0, :, 0, 0].sum().backward()
    assert h.grad[0, :, 7, 7].abs().sum() > 0
