"""Image generation tasks behind generate.py: reconstruct, sample, interpolate, denoise, upscale.

Each task returns a grid image (3, H, W) in [0, 1]; `aelab.run.generate` saves it as a PNG
under <run dir>/generated/ and logs it to TensorBoard.
"""

import logging
from collections.abc import Iterator

import torch
import torch.nn.functional as F

from aelab.callbacks.image_grid import interleave_rows, make_grid
from aelab.data.image import to_unit_float
from aelab.errors import AelabError

log = logging.getLogger(__name__)


@torch.no_grad()
def reconstruct(model, datamodule, n: int, seed: int, **_) -> torch.Tensor:
    model.require("reconstruct")
    clean = datamodule.examples("test", n, model.device)
    inputs = model.corrupt(clean, seed)
    groups = [inputs, model(inputs)] + ([clean] if model.corruption is not None else [])
    return make_grid(interleave_rows(groups, 8).cpu(), 8)


@torch.no_grad()
def sample(model, datamodule, n: int, seed: int, temperature: float = 1.0,
           prior_temperature: float = 1.0, labels: torch.Tensor | None = None,
           **_) -> torch.Tensor:
    """`labels`: the class of each sample, for a class-conditional prior (generate.py classes=)."""
    model.require("sample")
    spread = sampling_temperature(model, temperature, prior_temperature)
    images = torch.cat(list(sample_batches(model, datamodule, n, seed, n, spread,
                                           labels=labels)))
    return make_grid(images.cpu(), 8)


def sampling_temperature(model, temperature: float, prior_temperature: float) -> float:
    """What an image model's `sample` is given: `prior_temperature` scales a Gaussian prior's
    standard deviation (VAEs, hvae per group, latent diffusion); `temperature` is the code
    prior's softmax temperature and, as it was before `prior_temperature`, also a Gaussian
    prior's spread on images (text keeps it for the words' softmax)."""
    if not model.gaussian_prior:
        if prior_temperature != 1:
            raise AelabError(f"prior_temperature={prior_temperature} scales a Gaussian prior "
                             f"(VAEs, latent_diffusion); a {type(model).__name__} has none: "
                             "use temperature= (the code prior's softmax)")
        return temperature
    if temperature != 1 and prior_temperature != 1:
        raise AelabError(f"temperature={temperature} and prior_temperature={prior_temperature} "
                         f"both scale the prior of this {type(model).__name__}; give "
                         "prior_temperature only")
    return prior_temperature if prior_temperature != 1 else temperature


@torch.no_grad()
def sample_batches(model, datamodule, n: int, seed: int, batch_size: int,
                   temperature: float = 1.0, stream: int = 0,
                   labels: torch.Tensor | None = None) -> Iterator[torch.Tensor]:
    """`n` new images in [0, 1], `batch_size` at a time (an FID takes thousands, more than a
    decoder takes at once), the same for the same seed: from the prior the model was trained
    with (`has_prior`: a VAE's N(0, I), the VQ-VAE's code prior), else from a Gaussian
    mixture fitted to its training codes. Streams (one per process) draw different images.
    `labels`: the class of each of the n (a class-conditional prior's guided samples)."""
    if not model.has_prior:
        mixture = latent_mixture(model, datamodule, seed)
        mixture.random_state = seed + stream * 100_003
        codes = torch.as_tensor(mixture.sample(n)[0], dtype=torch.float32)
        for chunk in codes.split(batch_size):
            yield model.decode(chunk.to(model.device)).clamp(0, 1)
        return
    devices = [model.device] if model.device.type == "cuda" else []
    for i, start in enumerate(range(0, n, batch_size)):
        with torch.random.fork_rng(devices=devices):  # the caller's random stream is left alone
            torch.manual_seed(seed + stream * 100_003 + i)
            k = min(batch_size, n - start)
            given = {} if labels is None else {"labels": labels[start:start + k].to(model.device)}
            images = model.sample(k, temperature, **given)
        yield images.clamp(0, 1)


def latent_mixture(model, datamodule, seed: int, components: int = 10):
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
    return mixture


@torch.no_grad()
def interpolate(model, datamodule, n: int, seed: int, steps: int = 8, **_) -> torch.Tensor:
    """Rows: test image a, decodes along the line from z(a) to z(b), image b: straight, or
    the model's own path between codes (`mix`: the latent diffusion prior's noises, slerp)."""
    model.require("interpolate")
    pairs = max(1, n // steps)
    images = datamodule.examples("test", 2 * pairs, model.device)
    z = model.encode(images)
    za, zb = z[0::2], z[1::2]
    t = torch.linspace(0, 1, steps, device=z.device).view(1, steps, *([1] * (z.dim() - 1)))
    path = between(model, za.unsqueeze(1), zb.unsqueeze(1), t).flatten(0, 1)
    decoded = model.decode(path).view(pairs, steps, *images.shape[1:])
    rows = torch.cat([images[0::2].unsqueeze(1), decoded, images[1::2].unsqueeze(1)], 1)
    return make_grid(rows.flatten(0, 1).clamp(0, 1).cpu(), steps + 2)


def between(model, a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Points at fractions `t` from code a to code b: the model's `mix` if it has one, else
    the straight line."""
    mix = getattr(model, "mix", None)
    return mix(a, b, t) if mix is not None else (1 - t) * a + t * b


@torch.no_grad()
def denoise(model, datamodule, n: int, seed: int, **_) -> torch.Tensor:
    """Rows: corrupted input, model output, clean image."""
    model.require("denoise")
    clean = datamodule.examples("test", n, model.device)
    noisy = model.corrupt(clean, seed)
    return make_grid(interleave_rows([noisy, model(noisy).clamp(0, 1), clean], 8).cpu(), 8)


@torch.no_grad()
def upscale(model, datamodule, n: int, seed: int, **_) -> torch.Tensor:
    """Rows: low-resolution input (pixels enlarged), bicubic, model output, original."""
    model.require("upscale")
    corruption = model.corruption
    clean = datamodule.examples("test", n, model.device)
    low = corruption.low_resolution(clean)
    blocky = F.interpolate(low, size=clean.shape[-2:], mode="nearest")
    bicubic = corruption(clean)
    rows = [blocky, bicubic, model(bicubic).clamp(0, 1), clean]
    return make_grid(interleave_rows(rows, 8).cpu(), 8)


def run_task(task: str, model, datamodule, **options) -> torch.Tensor:
    model.require(task)
    return globals()[task](model, datamodule, **options)
