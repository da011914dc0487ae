"""Image models' shared base: `ImageModel` holds what every image objective needs: a net built
from its config partial with the data's image shape, the corruption of the input (denoising,
inpainting, super-resolution) with its trivial baselines, the reconstruction metrics and the
GPU fast path. The objectives (`aelab.objectives`) are mixed into it: `ImageAutoencoder`,
`ImageVAE`, `ImageVQVAE`; `ImagePCA` and `ImageHVAE` build on it too.
"""

import inspect
from collections.abc import Callable
from typing import Literal

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanSquaredError, MetricCollection
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from aelab.data.corruption import Corruption, seeded_generator, step_generator
from aelab.errors import AelabError
from aelab.models.capabilities import Capabilities
from aelab.models.optim import configure
from aelab.models.stages import StepsByStage
from aelab.options import NonNegativeInt, PositiveInt


def image_metrics(prefix: str, ssim: bool = True, extra: dict | None = None) -> MetricCollection:
    """Reconstruction metrics on images in [0, 1] (and `extra`, a task's own).

    PSNR is computed per image and averaged (dim=(1, 2, 3)), the convention of the
    denoising and super-resolution literature, rather than from the pooled MSE.
    """
    metrics = {"mse": MeanSquaredError(),
               "psnr": PeakSignalNoiseRatio(data_range=1.0, dim=(1, 2, 3))}
    if ssim:
        metrics["ssim"] = StructuralSimilarityIndexMeasure(data_range=1.0)
    return MetricCollection({**metrics, **(extra or {})}, prefix=prefix)


PixelLoss = Literal["mse", "l1", "psnr", "bce"]


def pixel_loss(name: PixelLoss, out: torch.Tensor, target: torch.Tensor,
               image_output: bool) -> torch.Tensor:
    """A reconstruction loss of the net's `out` (logits, or with `image_output` the image):
    mse; l1 (the mean absolute error, as EDSR trains: it leaves a zero correction where the
    net is unsure, on flat regions, instead of a small average one); psnr (minus the mean
    per-image PSNR, HINet's and NAFNet's PSNR loss: the metric the restoration tables average,
    so an image already near-perfect, flat sky, weighs as much in dB as a textured one, where
    mse lets the large errors dominate); bce on logits."""
    if name == "bce":
        return F.binary_cross_entropy_with_logits(out, target)
    image = out if image_output else torch.sigmoid(out)
    if name == "l1":
        return F.l1_loss(image, target)
    if name == "psnr":
        per_image = (image - target).pow(2).flatten(1).mean(1)
        return 10 * torch.log10(per_image + 1e-8).mean()  # 1e-8: an 80 dB ceiling
    return F.mse_loss(image, target)


def net_class(net: Callable) -> type:
    """The class behind a net: itself, or the one the config's partial completes."""
    return getattr(net, "func", net)


def check_code(net_type: type, latent_dim: int | None, latent_outputs: int) -> None:
    """A clear error for a code size the net cannot take, before anything is built. Every
    net class says in `has_code` whether it encodes to a vector code."""
    name = net_type.__name__
    if net_type.has_code and latent_dim is None:
        raise AelabError(f"model.latent_dim=null: {name} encodes images to a vector code and "
                         "needs its size; set model.latent_dim (e.g. 32)")
    if not net_type.has_code:
        if latent_outputs != 1:
            raise AelabError(f"{name} has no vector code (skip-connected), so it cannot be a VAE;"
                             " use model=unet (plain or residual restoration) or a VAE's own net")
        if latent_dim is not None:
            raise AelabError(f"model.latent_dim={latent_dim}: {name} has no vector code (its "
                             "skips carry the image); leave model.latent_dim=null")


def complete_net(net: Callable[..., nn.Module], image_shape: tuple[int, int, int], *,
                 latent_dim: int | None, depth: int | None, width: int | None,
                 latent_outputs: int, decoder_channels: int) -> nn.Module:
    """The net's partial completed with the image shape and the sizes it has (a size null in
    the yaml is not passed: no latent_dim for the unet, no depth or width for PCA), and with
    what the objective needs of it (a VAE's two code outputs, a likelihood's parameters per
    pixel). Sizes it cannot take are named before anything is built."""
    net_type = net_class(net)
    name, takes = net_type.__name__, inspect.signature(net_type).parameters
    check_code(net_type, latent_dim, latent_outputs)
    sizes = {k: v for k, v in (("latent_dim", latent_dim), ("depth", depth), ("width", width))
             if v is not None}
    for key in ("depth", "width"):
        if key in sizes and key not in takes:
            raise AelabError(f"model.{key}={sizes[key]}: {name} has no {key}; leave model.{key}=null")
    if latent_outputs != 1:
        sizes["latent_outputs"] = latent_outputs
    if decoder_channels != image_shape[0]:
        if "decoder_channels" not in takes:
            raise AelabError(f"{name} decodes one value per channel; this likelihood needs "
                             f"{decoder_channels} per pixel: use the conv or resnet nets")
        sizes["decoder_channels"] = decoder_channels
    try:
        return net(image_shape=image_shape, **sizes)
    except ValueError as err:
        raise AelabError(f"cannot build the model for images of shape {image_shape}: {err}") from None


class ImageModel(Capabilities, StepsByStage, L.LightningModule):
    """Wraps any net with encode / decode_logits / decode (see `aelab.nets.image`).

    `net` is a partial (Hydra `_partial_: true`) completed here with the image shape the
    data reports and the model's `latent_dim`, `depth` and `width` (those it has: null in
    the yaml is none), so no image size is hard-coded in a config. With a `corruption`, the
    net sees corrupted images and is scored against the clean ones, and the corruption's
    trivial baselines are logged beside it.
    Every option's default is in the model's yaml (conf/model/), the one place it is set.
    """

    modality = "image"
    tasks = frozenset({"reconstruct", "interpolate", "sample"})
    instead = {"denoise": "train it with a noise or mask corruption (corruption=gaussian, "
                          "salt_pepper or mask), then run task=denoise on that run",
               "upscale": "train it with corruption=downsample, then run task=upscale on that run"}
    # CUSTOM SCALARS (callbacks/dashboard.py): tag regexes per chart.
    dashboard = {"reconstruction": {
        "loss": [r"^train/loss(_epoch)?$", r"^val/loss$"],
        # _y: RGB super-resolution's Y-channel figures (corruption=downsample)
        "PSNR (dB), with the trivial baselines": [r"^(train|val)/psnr(_input|_bicubic)?(_y)?$"],
        "SSIM": [r"^val/ssim$"]}}

    def __init__(self, net: Callable[..., nn.Module], image_shape: tuple[int, int, int],
                 optimizer: Callable, *, latent_dim: PositiveInt | None,
                 depth: NonNegativeInt | None, width: PositiveInt | None, compile: bool | str,
                 scheduler: Callable | None = None, monitor: str = "val/loss",
                 corruption: Corruption | None = None, latent_outputs: int = 1,
                 values_per_channel: int = 1):
        """`latent_outputs` and `values_per_channel` are the objective's, not options: what it
        asks of the net's encoder (a VAE's mean and log-variance: 2 per latent dimension) and
        of its decoder (a likelihood's parameters per subpixel)."""
        super().__init__()
        self.net = complete_net(net, tuple(image_shape), latent_dim=latent_dim, depth=depth,
                                width=width, latent_outputs=latent_outputs,
                                decoder_channels=image_shape[0] * values_per_channel)
        self.image_shape, self.latent_dim = tuple(image_shape), latent_dim
        self.optimizer, self.scheduler, self.monitor = optimizer, scheduler, monitor
        self.corruption = corruption
        # GPU fast path: torch.compile (True: inductor; a string names another backend). The
        # conv nets add the NHWC layout (`model.net.channels_last`).
        self.compile_backend = "inductor" if compile is True else (compile or None)
        self.train_metrics = image_metrics("train/", ssim=False)
        channels = self.image_shape[0]
        task_metrics = (lambda: corruption.model_metrics(channels)) if corruption else dict
        self.val_metrics = image_metrics("val/", extra=task_metrics())
        self.test_metrics = image_metrics("test/", extra=task_metrics())
        self.baseline_metrics = nn.ModuleDict({
            stage: MetricCollection(corruption.baseline_metrics(channels) if corruption else {},
                                    prefix=f"{stage}/")
            for stage in ("val", "test")})

    @property
    def code_size(self) -> int | None:
        """Floats in the code, dense or spatial (None: no vector code, or not floats)."""
        return self.latent_dim

    def on_validation_epoch_end(self) -> None:
        # Logged as a metric so sweeps' tables compare models of the same code size.
        if self.code_size is not None:
            self.log("model/code_size", float(self.code_size))

    def available_tasks(self) -> frozenset[str]:
        # A model trained on corrupted inputs also restores them: denoise or upscale.
        return self.tasks | ({self.corruption.task} if self.corruption is not None else set())

    def configure_model(self) -> None:
        """Called by Lightning before fit / validate / test, on the run's device."""
        if self.compile_backend and not getattr(self, "_compiled", False):
            # The nets' parts, not the LightningModule: the steps call net.encode/decode, and
            # nn.Module.compile keeps state_dict keys, so checkpoints stay interchangeable.
            # A wrapper (the linear path) names the parts whose forward the steps call.
            parts = getattr(self.net, "compiled_parts", self.net.children)()
            for part in parts:
                if any(True for _ in part.parameters()):
                    part.compile(backend=self.compile_backend)
            self._compiled = True

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.encode(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.net.decode(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def corrupt(self, images: torch.Tensor, seed: int | None = None) -> torch.Tensor:
        """The net's input for clean `images`; a seed makes evaluation noise repeatable."""
        return self.corrupt_with(images, seeded_generator(seed, images.device))

    def corrupt_with(self, images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return images if self.corruption is None else self.corruption(images, generator)

    def step_source(self, images: torch.Tensor, stage: str, batch_idx: int) -> torch.Tensor:
        """The net's input for a batch (noise as `step_generator` says)."""
        return self.corrupt_with(images, step_generator(stage, batch_idx, images.device))

    def log_baselines(self, stage: str, inputs: torch.Tensor, images: torch.Tensor) -> None:
        """The corruption's trivial baselines (psnr_input, psnr_bicubic[_y]) on val/test."""
        if stage in self.baseline_metrics and len(self.baseline_metrics[stage]):
            self.baseline_metrics[stage].update(inputs.contiguous(), images)
            self.log_dict(self.baseline_metrics[stage], on_step=False, on_epoch=True)

    def log_reconstruction(self, stage: str, reconstructed: torch.Tensor, images: torch.Tensor,
                           inputs: torch.Tensor) -> None:
        """The reconstruction metrics of `stage` (train: no SSIM) of `reconstructed` images in
        [0, 1] against the clean `images`, and the corruption's baselines on the `inputs`."""
        metrics = getattr(self, f"{stage}_metrics")
        metrics.update(reconstructed.contiguous(), images)  # NCHW for .view
        self.log_baselines(stage, inputs, images)
        self.log_dict(metrics, on_step=False, on_epoch=True)

    def configure_optimizers(self) -> dict:
        return configure(self.named_parameters(), self.optimizer, self.scheduler, self.monitor,
                         lambda: self.trainer.estimated_stepping_batches)
