"""Image generation tasks behind generate.py: reconstruct, sample, interpolate, denoise, upscale.

Each task returns a grid image (3, H, W) in [0, 1]; `aelab.run.generate` saves it as a PNG
under <run dir>/generated/ and logs it to TensorBoard.
"""

import logging

import torch
import torch.nn.functional as F

from aelab.callbacks.image_grid import interleave_rows, make_grid
from aelab.data.corruption import Downsample, GaussianNoise, Mask, SaltPepper
from aelab.data.image import to_unit_float
from aelab.errors import AelabError

log = logging.getLogger(__name__)
TASKS = ("reconstruct", "sample", "interpolate", "denoise", "upscale")


def model_name(model) -> str:
    return type(model).__name__


@torch.no_grad()
def reconstruct(model, datamodule, n: int, seed: int, **_) -> torch.Tensor:
    if not hasattr(model, "corrupt"):
        raise AelabError(f"task=reconstruct needs an autoencoder run (conv_ae, mlp_ae, conv_vae,"
                         f" conv_vqvae); this run is a {model_name(model)}")
    clean = datamodule.examples("test", n, model.device)
    inputs = model.corrupt(clean, seed)
    groups = [inputs, model(inputs)] + ([clean] if model.corruption is not None else [])
    return make_grid(interleave_rows(groups, 8).cpu(), 8)


@torch.no_grad()
def sample(model, datamodule, n: int, seed: int, temperature: float = 1.0, **_) -> torch.Tensor:
    torch.manual_seed(seed)
    if hasattr(model, "sample"):  # VAE (prior N(0, I)) and the VQ-VAE code prior
        return make_grid(model.sample(n, temperature).clamp(0, 1).cpu(), 8)
    if hasattr(model, "codes"):
        raise AelabError("a conv_vqvae samples through a prior over its codes: train one with "
                         "`python train.py model=code_prior model.vqvae_run=<this run dir>`, "
                         "then run generate.py task=sample on that run")
    return make_grid(sample_from_latent_mixture(model, datamodule, n, seed).cpu(), 8)


def sample_from_latent_mixture(model, datamodule, n: int, seed: int,
                               components: int = 10) -> torch.Tensor:
    """Ex-post density estimation (Ghosh et al., 2020): a Gaussian mixture fitted to the
    training set's codes gives a plain autoencoder a distribution to sample from."""
    from sklearn.mixture import GaussianMixture

    codes = []
    with torch.no_grad():
        for batch in datamodule.splits["train"].split(512):
            images = to_unit_float(batch.to(model.device))
            codes.append(model.encode(images).flatten(1).cpu())
    codes = torch.cat(codes).double().numpy()
    mixture = GaussianMixture(components, covariance_type="full", random_state=seed).fit(codes)
    log.info("fitted a %d-component Gaussian mixture to %d training codes", components, len(codes))
    z = torch.as_tensor(mixture.sample(n)[0], dtype=torch.float32, device=model.device)
    with torch.no_grad():
        return model.decode(z).clamp(0, 1)


@torch.no_grad()
def interpolate(model, datamodule, n: int, seed: int, steps: int = 8, **_) -> torch.Tensor:
    """Rows: test image a, decodes along the straight line from z(a) to z(b), image b."""
    if not hasattr(model, "encode") or not hasattr(model, "corrupt"):
        raise AelabError(f"task=interpolate needs an autoencoder run; this run is a {model_name(model)}")
    pairs = max(1, n // steps)
    images = datamodule.examples("test", 2 * pairs, model.device)
    z = model.encode(images)
    za, zb = z[0::2], z[1::2]
    t = torch.linspace(0, 1, steps, device=z.device).view(1, steps, *([1] * (z.dim() - 1)))
    path = ((1 - t) * za.unsqueeze(1) + t * zb.unsqueeze(1)).flatten(0, 1)
    decoded = model.decode(path).view(pairs, steps, *images.shape[1:])
    rows = torch.cat([images[0::2].unsqueeze(1), decoded, images[1::2].unsqueeze(1)], 1)
    return make_grid(rows.flatten(0, 1).clamp(0, 1).cpu(), steps + 2)


def _corruption_of(model, wanted: tuple, task: str, which: str):
    corruption = getattr(model, "corruption", None)
    if not isinstance(corruption, wanted):
        used = type(corruption).__name__ if corruption else "none"
        raise AelabError(f"task={task} needs a model trained with {which}; this run used "
                         f"corruption {used}")
    return corruption


@torch.no_grad()
def denoise(model, datamodule, n: int, seed: int, **_) -> torch.Tensor:
    """Rows: corrupted input, model output, clean image."""
    _corruption_of(model, (GaussianNoise, SaltPepper, Mask), "denoise",
                   "corruption=gaussian, salt_pepper or mask")
    clean = datamodule.examples("test", n, model.device)
    noisy = model.corrupt(clean, seed)
    return make_grid(interleave_rows([noisy, model(noisy).clamp(0, 1), clean], 8).cpu(), 8)


@torch.no_grad()
def upscale(model, datamodule, n: int, seed: int, **_) -> torch.Tensor:
    """Rows: low-resolution input (pixels enlarged), bicubic, model output, original."""
    corruption = _corruption_of(model, (Downsample,), "upscale", "corruption=downsample")
    clean = datamodule.examples("test", n, model.device)
    low = corruption.low_resolution(clean)
    blocky = F.interpolate(low, size=clean.shape[-2:], mode="nearest")
    bicubic = corruption(clean)
    rows = [blocky, bicubic, model(bicubic).clamp(0, 1), clean]
    return make_grid(interleave_rows(rows, 8).cpu(), 8)


def run_task(task: str, model, datamodule, **options) -> torch.Tensor:
    if task not in TASKS:
        raise AelabError(f"task={task} is not one of: {', '.join(TASKS)}")
    return globals()[task](model, datamodule, **options)
