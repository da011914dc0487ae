"""The ResNet encoder and decoder as modules of their own, reused by the ResNet VQ-VAE
(model=resnet_vqvae); resnet_ae's checkpoints keep their parameter names."""

import math

import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from aelab.errors import AelabError
from aelab.nets.image.resnet import ResBlock, ResNetDecoder, ResNetEncoder, SelfAttention
from aelab.nets.image.vq import ResNetVQAutoencoder
from aelab.options import check_options
from aelab.run import generate, load_run
from aelab.run_dir import instantiate_model
from tests.conftest import build_model, build_net, model_config, train_run

# ResNetAutoencoder's parameter names at depth 2, one block per stage, as runs saved them
# before the encoder and decoder became modules of their own (each has a weight and a bias).
SAVED = {
    False: "encoder.0 encoder.1.body.0 encoder.1.body.2 encoder.1.body.3 encoder.1.body.5 "
           "encoder.2 encoder.3.body.0 encoder.3.body.2 encoder.3.body.3 encoder.3.body.5 "
           "encoder.4 to_latent from_latent decoder.0.body.0 decoder.0.body.2 decoder.0.body.3 "
           "decoder.0.body.5 decoder.1.conv decoder.2.body.0 decoder.2.body.2 decoder.2.body.3 "
           "decoder.2.body.5 decoder.3 decoder.5.conv",
    True: "encoder.0 encoder.1.body.0 encoder.1.body.2 encoder.1.body.3 encoder.1.body.5 "
          "encoder.2 encoder.3.body.0 encoder.3.body.2 encoder.3.body.3 encoder.3.body.5 "
          "encoder.4.norm encoder.4.qkv encoder.4.proj encoder.5 to_latent from_latent "
          "decoder.0.norm decoder.0.qkv decoder.0.proj decoder.1.body.0 decoder.1.body.2 "
          "decoder.1.body.3 decoder.1.body.5 decoder.2.conv decoder.3.body.0 decoder.3.body.2 "
          "decoder.3.body.3 decoder.3.body.5 decoder.4 decoder.6.conv",
}


@pytest.mark.parametrize("attention", [False, True])
def test_resnet_ae_keeps_the_parameter_names_its_checkpoints_hold(attention):
    net = build_net("resnet_ae", (1, 28, 28), "model.depth=2", "model.net.blocks=1",
                    f"model.net.attention={attention}")
    saved = [f"{m}.{p}" for m in SAVED[attention].split() for p in ("weight", "bias")]
    assert list(net.state_dict()) == saved


@pytest.mark.parametrize("shape,grid", [((1, 28, 28), (7, 7)), ((3, 28, 28), (7, 7)),
                                        ((3, 32, 32), (8, 8))])
def test_the_resnet_vq_net_codes_a_grid_and_decodes_it_to_the_image_shape(shape, grid):
    # The yaml's depth (2): Fashion-MNIST's 28 px give conv_vqvae's 7x7 grid.
    net = build_net("resnet_vqvae", shape, "model.width=8", "model.latent_dim=4",
                    "model.net.num_codes=16").eval()  # eval: no EMA update moves the codebook
    assert isinstance(net.encoder, ResNetEncoder) and isinstance(net.decoder, ResNetDecoder)
    assert net.has_code and net.grid_shape == grid
    x = torch.rand(3, *shape)
    z = net.encode(x)
    assert z.shape == (3, 4, *grid)  # continuous, before quantisation
    quantised, codes, commitment = net.quantize(z)
    assert quantised.shape == z.shape and codes.shape == (3, *grid) and commitment.item() >= 0
    assert 0 <= codes.min() and codes.max() < 16
    # snapped onto the codebook (z + (q - z) in the straight-through estimator: q up to rounding)
    assert torch.allclose(quantised, net.quantizer.lookup(codes), atol=1e-6)
    assert net.decode_logits(quantised).shape == x.shape
    assert torch.allclose(net.decode_codes(codes), net.decode(quantised), atol=1e-6)
    assert net(x).shape == x.shape and 0 <= net(x).min() and net(x).max() <= 1


def test_the_resnet_vq_net_takes_the_resnet_options():
    net = build_net("resnet_vqvae", (3, 32, 32), "model.width=8", "model.net.blocks=2",
                    "model.net.attention=true", "model.net.heads=2", "model.net.groups=4")
    attention = [m for m in net.modules() if isinstance(m, SelfAttention)]
    assert len(attention) == 2 and attention[0].heads == 2  # encoder end, decoder start
    assert sum(isinstance(m, ResBlock) for m in net.encoder) == 2 * 2  # blocks x stages
    assert all(m.num_groups == 4 for m in net.modules() if isinstance(m, torch.nn.GroupNorm))
    x = torch.rand(2, 3, 32, 32)
    net.train()
    quantised, _, commitment = net.quantize(net.encode(x))
    loss = F.mse_loss(net.decode(quantised), x) + commitment
    loss.backward()  # straight through the quantiser: the encoder learns too
    assert all(p.grad is not None for p in net.parameters())


@pytest.mark.parametrize("overrides,says", [
    (["model.net.attention=true", "model.net.heads=3"],
     "model.net.heads=3 does not divide the 64 channels at the lowest resolution"),
    (["model.depth=6"], "model.depth=6 does not fit 28x28 images: .* use model.depth<=5"),
    (["model.net.num_codes=1"], "model.net.num_codes=1 must be >= 2"),
])
def test_a_bad_resnet_vq_option_is_named_with_its_fix(overrides, says):
    with pytest.raises(AelabError, match=says):
        cfg = model_config("resnet_vqvae", *overrides)
        check_options(cfg)  # what train.py checks before building
        instantiate_model(cfg, image_shape=(1, 28, 28))


def test_a_resnet_vqvae_run_trains_and_a_code_prior_on_it_samples_images(tmp_path):
    # One test, not two on a shared fixture: pytest-xdist would train both runs on each worker.
    vq = train_run(tmp_path / "vq", "model=resnet_vqvae", "model.net.num_codes=16",
                   "data.image_size=28")  # shapes are RGB; 28 px: the 7x7 grid
    assert vq["global_step"] == 3 and math.isfinite(vq["test/loss"])
    assert 0 < vq["test/codebook_usage"] <= 1 and vq["test/codebook_perplexity"] >= 1
    assert math.isfinite(vq["test/psnr"]) and vq["test/commitment"] >= 0
    saved = torch.load(tmp_path / "vq" / "checkpoints" / "best.ckpt",
                       weights_only=True)["state_dict"]
    assert "net.encoder.0.weight" in saved and saved["net.quantizer.codebook"].shape == (16, 32)

    prior = train_run(tmp_path / "prior", "model=code_prior", f"model.vqvae_run={tmp_path / 'vq'}",
                      "model.depth=1", "model.width=16", "model.heads=2", "data.image_size=28")
    assert prior["test/nll"] > 0
    _, _, model, _ = load_run(str(tmp_path / "prior"))
    assert isinstance(model.vqvae.net, ResNetVQAutoencoder) and model.grid_shape == (7, 7)
    assert torch.equal(model.vqvae.net.quantizer.codebook, saved["net.quantizer.codebook"])
    torch.manual_seed(0)
    samples = model.sample(3)
    assert samples.shape == (3, 3, 28, 28) and 0 <= samples.min() and samples.max() <= 1
    out = generate(str(tmp_path / "prior"), "sample", n=4, seed=0)
    assert out.exists() and out.stat().st_size > 0


def test_the_code_prior_names_the_vq_models_when_given_another_run(tmp_path):
    (tmp_path / ".hydra").mkdir()  # the saved config is read before any checkpoint
    (tmp_path / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(model_config("resnet_ae")))
    with pytest.raises(AelabError, match=r"is a .*ImageAutoencoder run; the code prior needs a "
                                         r"VQ-VAE run \(model=conv_vqvae or resnet_vqvae\)"):
        build_model("code_prior", f"model.vqvae_run={tmp_path}", image_shape=(3, 28, 28))
