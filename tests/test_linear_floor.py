"""Never below the linear floor: every image autoencoder yaml with a vector code, at its
defaults, scores at least PCA of the same code size after a short run on data whose PCA
reconstruction is near-perfect (images of low rank plus a little noise). Found by globbing
conf/model, so a new image autoencoder is held to it with no edit here. The same short run
of conv_ae without the linear path lands far below PCA: the test can fail."""

import io

import numpy as np
import pytest
import torch

from aelab.errors import AelabError
from tests.conftest import MODEL_CONFIGS, build_model, model_config, train_run

AUTOENCODERS = [m for m, node in ((m, model_config(m).model) for m in MODEL_CONFIGS)
                if node._target_.endswith("ImageAutoencoder") and node.get("latent_dim") is not None]
CODE = 8
SHORT = ["data=images", "data.batch_size=32", "trainer=cpu", "trainer.max_epochs=2",
         "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
         f"model.latent_dim={CODE}"]


def small(model: str) -> list[str]:
    """The model's own sizes, shrunk where it has them."""
    node = model_config(model).model
    return [f"model.{k}={v}" for k, v in (("depth", 2), ("width", 8)) if node.get(k) is not None]


def low_rank_images(folder, n_train=256, n_test=64, size=16, rank=6, seed=0):
    """16x16 RGB images: a mean image plus `rank` smooth patterns with random weights, plus
    noise of 1.5% of the range, as PNG bytes in the hub's parquet layout. A linear code of
    more than `rank` floats keeps all but the noise."""
    from datasets import Dataset, Features, Image
    from PIL import Image as PILImage

    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.linspace(0, 1, size), np.linspace(0, 1, size), indexing="ij")
    patterns = np.stack([np.sin(np.pi * (k + 1) * xx + rng.uniform(0, 6)) *
                         np.cos(np.pi * (k % 3 + 1) * yy + rng.uniform(0, 6))
                         for k in range(rank)])                              # (rank, H, W)
    colours = rng.uniform(-1, 1, (rank, 3))
    folder.mkdir(parents=True)
    for split, n in (("train", n_train), ("test", n_test)):
        weights = rng.normal(0, 0.06, (n, rank))
        images = 0.5 + np.einsum("nr,rc,rhw->nhwc", weights, colours, patterns)
        images += rng.normal(0, 0.015, images.shape)
        pixels = (images.clip(0, 1) * 255).round().astype(np.uint8)
        rows = []
        for arr in pixels:
            buf = io.BytesIO()
            PILImage.fromarray(arr, "RGB").save(buf, format="PNG")
            rows.append({"bytes": buf.getvalue(), "path": None})
        Dataset.from_dict({"image": rows}, features=Features({"image": Image()})).to_parquet(
            str(folder / f"{split}-00000-of-00001.parquet"))
    return folder


@pytest.fixture(scope="module")
def floor(tmp_path_factory):
    """The data and PCA's test PSNR on it."""
    root = tmp_path_factory.mktemp("linear_floor")
    data = low_rank_images(root / "data")
    pca = train_run(root / "pca", "model=pca", f"data.path={data}", *SHORT,
                    "trainer.max_epochs=1", fast=False)
    return root, data, pca["test/psnr"]


@pytest.mark.parametrize("model", AUTOENCODERS)
def test_every_image_autoencoder_is_at_least_pca_of_its_code_size(floor, model):
    root, data, pca_psnr = floor
    assert pca_psnr > 33, pca_psnr  # the data is what it claims: PCA keeps all but the noise
    metrics = train_run(root / model, f"model={model}", f"data.path={data}", *SHORT,
                        *small(model), fast=False)
    # 0.1 dB: the gates' first steps, on data where nothing nonlinear is left to learn
    assert metrics["test/psnr"] >= pca_psnr - 0.1, (model, metrics["test/psnr"], pca_psnr)


def test_without_the_linear_path_a_short_run_is_far_below_pca(floor):
    root, data, pca_psnr = floor
    metrics = train_run(root / "plain", "model=conv_ae", "model.linear_path=none",
                        f"data.path={data}", *SHORT, *small("conv_ae"), fast=False)
    assert metrics["test/psnr"] < pca_psnr - 5, (metrics["test/psnr"], pca_psnr)


def test_the_linear_path_starts_as_pca_exactly_and_its_fit_is_in_the_state_dict():
    from aelab.nets.image.pca import PCA

    overrides = ("model=conv_ae", f"model.latent_dim={CODE}", "model.width=8", "model.depth=2")
    model = build_model("conv_ae", *overrides[1:], image_shape=(3, 16, 16))
    images = torch.rand(300, 3, 16, 16)
    model.net.linear.fit((images * 255).round().to(torch.uint8))  # what the data module holds
    pca = PCA((3, 16, 16), CODE)
    pca.accumulate((images * 255).round() / 255)
    pca.fit()
    x = torch.rand(4, 3, 16, 16)
    with torch.no_grad():  # both gates at zero: PCA's reconstruction, to float precision
        assert torch.allclose(model(x), pca(x).clamp(0, 1), atol=1e-5)
        assert model.net.encode(x).std() > 0.3  # whitened: not PCA's raw, tiny late floats
    with pytest.raises(AelabError, match="cannot encode 3x8x8 ones: train on whole images"):
        model.net.encode(torch.rand(2, 3, 8, 8))  # a data.crop window
    again = build_model("conv_ae", *overrides[1:], image_shape=(3, 16, 16))
    again.load_state_dict(model.state_dict())
    assert again.net.linear.fitted and torch.equal(again.net.linear.scale, model.net.linear.scale)


def test_images_too_large_for_the_covariance_take_a_randomized_svd_of_the_same_subspace():
    from aelab.nets.image.linear_path import EXACT_MAX_PIXELS, LinearPath

    shape = (3, 40, 40)
    assert np.prod(shape) > EXACT_MAX_PIXELS
    basis = torch.randn(5, int(np.prod(shape)))
    images = (0.5 + 0.02 * torch.randn(400, 5) @ basis).clamp(0, 1).view(-1, *shape)
    linear = LinearPath(shape, 5)
    linear.fit(images)
    x = images[:8]
    assert torch.allclose(linear.decode(linear.encode(x)), x, atol=1e-3)
    with pytest.raises(AelabError, match="4 training images give fewer than the 5 components"):
        LinearPath(shape, 5).fit(images[:4])


def test_model_compile_reaches_the_wrapped_nets_parts():
    model = build_model("conv_ae", "model.compile=eager", "model.latent_dim=8", "model.width=8",
                        "model.depth=2", image_shape=(1, 16, 16))
    model.configure_model()
    inner = model.net.net  # the conv net inside the linear path
    assert all(getattr(part, "_compiled_call_impl", None) is not None
               for part in (inner.encoder, inner.to_latent, inner.decoder))


def test_few_images_fit_from_their_rows_as_from_the_covariance():
    """LinearPath fits few images of many values by an SVD of the rows (cheap); it must be the
    same PCA as the covariance's eigendecomposition: the same variances, the same subspace."""
    from aelab.nets.image.linear_path import LinearPath
    from aelab.nets.image.pca import PCA

    images = torch.rand(40, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    rows = LinearPath((3, 8, 8), 8)
    rows.fit(images)  # 40 images <= 192 / 2 values: the rows' SVD
    covariance = PCA((3, 8, 8), 8)
    covariance.accumulate(images.double())
    variances = covariance.fit()
    assert torch.allclose(rows.scale.pow(2), variances.float(), rtol=1e-4)
    assert torch.allclose(rows.pca.explained, covariance.explained, rtol=1e-5)
    assert torch.allclose(rows.decode(rows.encode(images)), covariance(images), atol=1e-5)


def test_ceilings_local_pca_codes_a_union_of_subspaces_that_pca_cannot():
    """experiments/linear_floor/ceilings.py: images on two 3-d planes of a 64-d space. A 4-float
    PCA code cannot hold both planes; local PCA with K=2 (one float names the plane, three are
    coordinates in it) codes them exactly, and PCA fitted on the scored images has no more
    squared error than PCA fitted elsewhere."""
    from experiments.linear_floor.ceilings import ceilings, pca_fit, sq_error

    generator = torch.Generator().manual_seed(0)
    bases = [torch.linalg.qr(torch.randn(64, 3, generator=generator, dtype=torch.float64))[0].T
             for _ in range(2)]

    def images(n):
        coords = torch.rand(n, 3, generator=generator, dtype=torch.float64) * 0.2 - 0.1
        plane = torch.arange(n) % 2
        return 0.5 + torch.stack([coords[i] @ bases[plane[i]] for i in range(n)])

    train, test = images(400), images(100)
    scores = ceilings(train, {"test": test}, k=4, clusters=[2])["test"]
    assert scores["local pca, K=2"] > 60  # exact up to rounding
    assert scores["local pca, K=2"] > scores["pca"] + 10
    assert (sq_error(test, pca_fit(test, 4)).sum()
            <= sq_error(test, pca_fit(train, 4)).sum() + 1e-9)
