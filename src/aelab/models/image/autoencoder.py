"""Image models' shared base, and the deterministic image autoencoder (MSE / PSNR / SSIM).

`ImageModel` holds what every image objective needs: a net built from its config partial
with the data's image shape, the corruption of the input (denoising, inpainting,
super-resolution) with its trivial baselines, the reconstruction metrics and the GPU fast
path. The objectives subclass it: `ImageAutoencoder` (here), `ImageVAE`, `ImageVQVAE`.
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
from aelab.nets.image.linear_path import WithLinearPath
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


def dihedral_mean(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The mean of fn over the 8 flips and quarter turns of x, each output turned back (the
    "self-ensemble" of EDSR+, Lim et al. 2017): a restoration net's errors differ between
    orientations, its answer does not. Non-square images take the 4 flips only."""
    turns = range(4) if x.shape[-1] == x.shape[-2] else (0, 2)
    total = 0
    for k in turns:
        for flip in (False, True):
            t = torch.rot90(x, k, (-2, -1))
            t = t.flip(-1) if flip else t
            out = fn(t)
            out = out.flip(-1) if flip else out
            total = total + torch.rot90(out, -k, (-2, -1))
    return total / (2 * len(turns))


class ImageModel(Capabilities, L.LightningModule):
    """Wraps any net with encode / decode_logits / decode (see `aelab.nets.image`).

    `net` is a partial (Hydra `_partial_: true`) completed here with the image shape the
    data reports and the model's `latent_dim`, `depth` and `width` (those it has: null in
    the yaml is none), so no image size is hard-coded in a config. With a `corruption`, the
    net sees corrupted images and is scored against the clean ones, and the corruption's
    trivial baselines are logged beside it.
    Every option's default is in the model's yaml (conf/model/), the one place it is set.
    """

    modality = "image"
    latent_outputs = 1  # a VAE's encoder returns mean and log-variance: 2
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
                 corruption: Corruption | None = None):
        super().__init__()
        self.net = complete_net(net, tuple(image_shape), latent_dim=latent_dim, depth=depth,
                                width=width, latent_outputs=self.latent_outputs,
                                decoder_channels=self.decoder_channels(image_shape[0]))
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

    def decoder_channels(self, channels: int) -> int:
        """Values the decoder gives per pixel: one per channel (a VAE's likelihood may ask more)."""
        return channels

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

    def step_inputs(self, images: torch.Tensor, stage: str, batch_idx: int) -> torch.Tensor:
        """The net's input for a batch (noise as `step_generator` says)."""
        return self.corrupt_with(images, step_generator(stage, batch_idx, images.device))

    def log_baselines(self, stage: str, inputs: torch.Tensor, images: torch.Tensor) -> None:
        """The corruption's trivial baselines (psnr_input, psnr_bicubic[_y]) on val/test."""
        if stage in self.baseline_metrics and len(self.baseline_metrics[stage]):
            self.baseline_metrics[stage].update(inputs.contiguous(), images)
            self.log_dict(self.baseline_metrics[stage], on_step=False, on_epoch=True)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train", self.train_metrics, batch_idx)

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        self._step(batch, "val", self.val_metrics, batch_idx)

    def test_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        self._step(batch, "test", self.test_metrics, batch_idx)

    def configure_optimizers(self) -> dict:
        return configure(self.parameters(), self.optimizer, self.scheduler, self.monitor,
                         lambda: self.trainer.estimated_stepping_batches)


class ImageAutoencoder(ImageModel):
    """The deterministic autoencoder: the net's reconstruction scored by `loss`.

    Its net either encodes to a vector code (conv, resnet, mlp: every task) or has none
    (unet: skip connections; reconstruct and the corruption's task only). With `residual`,
    the net predicts the difference to its own input, the noisy image or the bicubic
    upsampling (DnCNN, VDSR): the output is input + net output, clipped to [0, 1] when
    scored, and `loss` is not bce. A residual model restores; it does not sample or
    interpolate, since a decoded code is then a correction, not an image. With `linear_path`
    `pca` (the default of conv_ae, mlp_ae and resnet_ae) the net is PCA of the code size plus
    its own encoder and decoder as gated corrections (nets/image/linear_path.py), fitted at fit
    start; its output is then an image too, never below PCA's reconstruction at the start.
    """

    # An evaluation setting (eval.py self_ensemble=true), not trained; a subclass whose step
    # does not go through `output` sets None, and eval.py refuses it.
    self_ensemble: bool | None = False

    def __init__(self, *args, loss: Literal["mse", "l1", "psnr", "bce"], residual: bool,
                 loss_border: NonNegativeInt, linear_path: Literal["pca", "none"], **kwargs):
        if residual and loss == "bce":
            raise AelabError(f"model.loss={loss} with model.residual=true: a residual output "
                             "is not a probability; use model.loss=mse, l1 or psnr")
        if linear_path == "pca" and (residual or loss == "bce"):
            what = "model.residual=true (the net predicts a difference, not an image)" \
                if residual else "model.loss=bce (its output is an image, not logits)"
            raise AelabError(f"model.linear_path=pca with {what}: set model.linear_path=none")
        super().__init__(*args, **kwargs)
        if 2 * loss_border >= min(self.image_shape[1:]):
            raise AelabError(f"model.loss_border={loss_border} leaves nothing of the "
                             f"{self.image_shape[1]}x{self.image_shape[2]} px images to score; "
                             f"set it below {(min(self.image_shape[1:]) + 1) // 2} (0: every pixel)")
        self.loss_name, self.residual, self.loss_border = loss, residual, loss_border
        self.has_code = type(self.net).has_code
        if linear_path == "pca":
            if not self.has_code:
                raise AelabError(f"model.linear_path=pca: {type(self.net).__name__} has no vector "
                                 "code to add PCA's to; set model.linear_path=none")
            # PCA plus gated nonlinear corrections (nets/image/linear_path.py): training
            # starts at the linear floor instead of below it.
            self.net = WithLinearPath(self.net, self.image_shape, self.latent_dim)
        # The net's output is an image (scored as it is, clipped) rather than logits.
        self.image_output = residual or getattr(self.net, "outputs_image", False)

    def on_fit_start(self) -> None:
        """Fit the linear path's PCA on the whole training split, once: a resumed run has it
        from its checkpoint; every DDP process fits the same split to the same components."""
        linear = getattr(self.net, "linear", None)
        if linear is None or linear.fitted:
            return
        splits = getattr(self.trainer.datamodule, "splits", None)
        if not splits or "train" not in splits:
            raise AelabError("model.linear_path=pca fits PCA on the data module's training "
                             "split, and this data module has none; set model.linear_path=none")
        linear.fit(splits["train"])

    def available_tasks(self) -> frozenset[str]:
        tasks = super().available_tasks()
        if not self.has_code or self.residual:
            tasks -= {"sample", "interpolate"}
        return tasks

    def require(self, task: str) -> None:
        if task in {"sample", "interpolate"} and task in self.tasks and not self.can(task):
            why = (f"its net ({type(self.net).__name__}) has no vector code" if not self.has_code
                   else "it is residual (model.residual=true): a decoded code is a correction")
            raise AelabError(f"task={task}: {why}, so this run cannot {task}; it reconstructs "
                             "and restores. Sample and interpolate with a bottleneck model "
                             "(model=conv_ae, conv_vae, ...)")
        super().require(task)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if not self.has_code:
            raise AelabError(f"{type(self.net).__name__} has no vector code to encode to")
        return super().encode(x)

    def output(self, inputs: torch.Tensor) -> torch.Tensor:
        """The net's output for `inputs`: logits, or with `residual` the unclipped image;
        with `self_ensemble` (eval.py self_ensemble=true), outside training, its mean over
        the flips and quarter turns of the input (`dihedral_mean`)."""
        if self.self_ensemble and not self.training:
            return dihedral_mean(self.net_output, inputs)
        return self.net_output(inputs)

    def net_output(self, inputs: torch.Tensor) -> torch.Tensor:
        net = self.net
        out = net.decode_logits(net.encode(inputs)) if self.has_code else net.forward_logits(inputs)
        return inputs + out if self.residual else out

    def to_image(self, out: torch.Tensor) -> torch.Tensor:
        return out.clamp(0, 1) if self.image_output else torch.sigmoid(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The restored (or reconstructed) image in [0, 1]."""
        return self.to_image(self.output(x))

    def reconstruction_loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """mse; l1 (the mean absolute error, as EDSR trains: it leaves a zero correction where
        the net is unsure, on flat regions, instead of a small average one); psnr (minus the
        mean per-image PSNR, HINet's and NAFNet's PSNR loss: the metric the restoration tables
        average, so an image already near-perfect, flat sky, weighs as much in dB as a
        textured one, where mse lets the large errors dominate); bce on logits. With
        `loss_border`, on the pixels at least that far from the edge only (SRCNN scores its
        loss on the central pixels; the super-resolution papers' Y-channel PSNR crops a
        border of `factor` px): the edge, where the input has the least context, no longer
        draws the net's training away from the inside."""
        if self.loss_border:
            b = self.loss_border
            out, target = out[..., b:-b, b:-b], target[..., b:-b, b:-b]
        if self.loss_name == "bce":
            return F.binary_cross_entropy_with_logits(out, target)
        image = out if self.image_output else torch.sigmoid(out)
        if self.loss_name == "l1":
            return F.l1_loss(image, target)
        if self.loss_name == "psnr":
            per_image = (image - target).pow(2).flatten(1).mean(1)
            return 10 * torch.log10(per_image + 1e-8).mean()  # 1e-8: an 80 dB ceiling
        return F.mse_loss(image, target)

    def _step(self, images: torch.Tensor, stage: str, metrics: MetricCollection,
              batch_idx: int) -> torch.Tensor:
        inputs = self.step_inputs(images, stage, batch_idx)
        out = self.output(inputs)
        loss = self.reconstruction_loss(out, images)
        metrics.update(self.to_image(out).detach().contiguous(), images)  # NCHW for .view
        self.log_baselines(stage, inputs, images)
        # on_epoch accumulates on the device; nothing here forces a host sync per step.
        # sync_dist: under DDP val/test losses average over the processes (training: rank 0's,
        # to keep the all-reduce off every step); the torchmetrics objects sync themselves.
        self.log(f"{stage}/loss", loss, on_step=stage == "train", on_epoch=True,
                 prog_bar=True, batch_size=len(images), sync_dist=stage != "train")
        self.log_dict(metrics, on_step=False, on_epoch=True)
        return loss
