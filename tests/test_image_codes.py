"""Image codes: dense or spatial (model.net.latent), their size logged as model/code_size, and
PCA (model=pca), the best linear code of the same size."""

import pytest
import torch

from aelab.errors import AelabError
from aelab.nets.image.pca import PCA
from tests.conftest import build_model, build_net, train_run


@pytest.mark.parametrize("model", ["conv_ae", "resnet_ae"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_a_spatial_code_is_a_map_of_latent_dim_floats(model, shape):
    # 28 px: 14 -> 7 -> 4 after three stages; 32 px: 4 as well: a 4x4 map of 2 channels.
    net = build_net(model, shape, "model.net.latent=spatial", "model.latent_dim=32",
                    "model.depth=3", "model.width=4")
    x = torch.rand(2, *shape)
    z = net.encode(x)
    assert z.shape == (2, 32) and net.decode(z).shape == x.shape
    assert isinstance(net.to_latent, torch.nn.Conv2d) and net.to_latent.out_channels == 2
    if model == "resnet_ae":
        return  # GroupNorm spreads any change over the whole map: no locality to check
    # Each code float sits at one place of the map: changing the top-left corner's code
    # changes the top-left of the image more than the bottom-right (BatchNorm in eval mode).
    net.eval()
    dz = torch.zeros_like(z).view(2, 2, 4, 4)
    dz[:, :, 0, 0] = 5.0
    change = (net.decode(z + dz.flatten(1)) - net.decode(z)).abs().mean((0, 1))
    h, w = shape[1:]
    assert change[:h // 4, :w // 4].mean() > 3 * change[-(h // 4):, -(w // 4):].mean()


def test_a_spatial_vae_reads_its_mean_and_log_variance_as_two_whole_maps():
    model = build_model("conv_vae", "model.net.latent=spatial", "model.latent_dim=64",
                        "model.width=4", image_shape=(1, 28, 28))
    x = torch.rand(3, 1, 28, 28)
    features = model.net.encoder(x)
    maps = model.net.to_latent(features)  # (3, 2 * 4 channels, 4, 4): means, then log-variances
    posterior = model.posterior(x)
    assert torch.allclose(posterior.mode(), maps[:, :4].flatten(1))
    assert model.sample(2).shape == (2, 1, 28, 28)  # the prior's codes have the map's size


def test_a_spatial_code_size_that_fills_no_whole_map_is_named():
    with pytest.raises(AelabError, match="code map is 4x4, so the code size must be a multiple "
                                         "of 16 .* or use model.net.latent=dense"):
        build_model("conv_ae", "model.net.latent=spatial", "model.latent_dim=50",
                    image_shape=(1, 28, 28))


def test_pca_recovers_data_that_lies_in_a_subspace_exactly():
    torch.manual_seed(0)
    basis = torch.linalg.qr(torch.randn(48, 3))[0].T  # 3 orthonormal directions in 48 dims
    data = (torch.randn(500, 3) @ basis + 0.5).view(500, 3, 4, 4)
    pca = PCA((3, 4, 4), latent_dim=3)
    for batch in data.split(64):
        pca.accumulate(batch)
    pca.fit()
    assert torch.allclose(pca(data), data, atol=1e-4)
    assert torch.allclose(pca.components @ pca.components.T, torch.eye(3), atol=1e-5)
    assert pca.explained.item() == pytest.approx(1.0, abs=1e-6)
    fewer = PCA((3, 4, 4), latent_dim=2)
    fewer.accumulate(data)
    fewer.fit()
    assert 0.3 < fewer.explained.item() < 1.0 and not torch.allclose(fewer(data), data, atol=1e-2)


def test_pca_is_the_best_linear_code_the_svd_gives():
    torch.manual_seed(1)
    data = torch.rand(300, 1, 6, 6) ** 2
    pca = PCA((1, 6, 6), latent_dim=5)
    pca.accumulate(data)
    pca.fit()
    centred = data.flatten(1) - data.flatten(1).mean(0)
    _, singular, _ = torch.linalg.svd(centred.double(), full_matrices=False)
    best_error = (singular[5:] ** 2).sum() / len(data)  # Eckart-Young
    error = (pca(data) - data).pow(2).flatten(1).sum(1).mean()
    assert error.item() == pytest.approx(best_error.item(), rel=1e-3)


def test_a_pca_run_fits_in_one_epoch_and_logs_its_code_size(tmp_path):
    metrics = train_run(tmp_path, "model=pca", "model.latent_dim=6", "model.depth=null",
                        "model.width=null", "trainer.limit_train_batches=4",
                        "data.image_size=16")  # a 768-value covariance: 6 CPU s less than 3072
    assert metrics["model/code_size"] == 6 and metrics["global_step"] == 4  # batches fitted
    assert (tmp_path / "checkpoints" / "best.ckpt").exists()
    assert 0 < metrics["train/explained_variance"] < 1 and metrics["test/psnr"] > 10


def test_pca_cannot_have_more_components_than_pixels_nor_a_depth():
    with pytest.raises(AelabError, match="model.latent_dim=20 is more components than the 16"):
        build_model("pca", "model.latent_dim=20", image_shape=(1, 4, 4))
    with pytest.raises(AelabError, match="model.depth=3: PCA has no depth; leave model.depth=null"):
        build_model("pca", "model.depth=3", image_shape=(1, 4, 4))


def test_the_image_autoencoder_puts_its_code_on_the_sphere_as_the_sentence_one_does():
    """code_norm is the autoencoder objective's, shared by both modalities: an image code on
    the sphere of radius sqrt(latent_dim), decoded codes projected too; refused where the code
    is PCA's (the linear path) or there is none (unet)."""
    model = build_model("conv_ae", "model.code_norm=sphere", "model.linear_path=none",
                        "model.latent_dim=8", "model.width=8", "model.depth=2",
                        image_shape=(1, 28, 28)).eval()
    z = model.encode(torch.rand(3, 1, 28, 28))
    assert torch.allclose(z.norm(dim=-1), torch.full((3,), 8 ** 0.5), atol=1e-4)
    assert torch.allclose(model.decode(3 * z), model.decode(z), atol=1e-5)
    for name in ("conv_ae", "unet"):
        with pytest.raises(AelabError, match="model.code_norm=sphere: .* set model.code_norm=none"):
            build_model(name, "model.code_norm=sphere", "model.width=8", "model.depth=2",
                        image_shape=(1, 28, 28))
