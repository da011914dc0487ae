"""`conv_vae`: the VAE objective on images, with a discretized Gaussian decoder.

The objective (loss, KL regulariser, importance-weighted NLL) is `aelab.objectives.vae`,
shared with the sentence VAE; this file adds what is particular to images. The decoder's
likelihood is binned to the 256 levels of an 8-bit image, so `test/nll` is a proper code
length and `test/bpd` (bits per subpixel) compares with the literature: a Gaussian with one
learned (or fixed) standard deviation per channel, or (`model.likelihood=
discretized_logistic_mixture`) a mixture of `model.mixture_components` logistics per
subpixel, as PixelCNN++, which can put nearly all its mass on an exact 0 or 255.
`val/psnr` and friends score the decoded posterior mean (the mixture's mean image).
"""

import math
from typing import Literal

import torch
from torch import nn
from torchmetrics import MeanMetric

from aelab.models.image.base import ImageModel
from aelab.objectives.gaussian import DiagonalGaussian
from aelab.objectives.likelihood import (
    discretized_gaussian_log_prob,
    discretized_logistic_mixture_log_prob,
    logistic_mixture_mean,
)
from aelab.objectives.vae import VAEObjective, vae_charts
from aelab.options import PositiveFloat, PositiveInt


class ImageVAE(VAEObjective, ImageModel):
    dashboard = {"VAE": {**vae_charts("image"),
                         "PSNR of the posterior mean (dB)": [r"^val/psnr(_input|_bicubic)?$"]}}

    def __init__(self, *args, likelihood: Literal["discretized_gaussian",
                                                   "discretized_logistic_mixture"],
                 mixture_components: PositiveInt, decoder_variance: Literal["learned", "fixed"],
                 decoder_std: PositiveFloat, **kwargs):
        # A mixture's K weights, K means and K log-scales for every channel of every pixel.
        mixture = likelihood == "discretized_logistic_mixture"
        super().__init__(*args, values_per_channel=3 * mixture_components if mixture else 1,
                         **kwargs)
        self.likelihood, self.components = likelihood, mixture_components
        # One log-std per channel, shared by all pixels (Rybkin et al., 2021: "sigma-VAE").
        log_std = torch.full((self.image_shape[0], 1, 1), math.log(decoder_std))
        self.log_std = nn.Parameter(log_std, requires_grad=decoder_variance == "learned")
        self.pixels = math.prod(self.image_shape)
        self.test_nll = MeanMetric()

    # -- the model -------------------------------------------------------------------------
    def mean_image(self, params: torch.Tensor) -> torch.Tensor:
        """The likelihood's mean image in [0, 1] from the decoder's output (the Gaussian's
        sigmoid mean, or the mixture's mean)."""
        if self.likelihood == "discretized_logistic_mixture":
            return logistic_mixture_mean(params, self.image_shape[0])
        return torch.sigmoid(params)

    def pixel_log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """log p(x | the decoder's output) in nats per image (N,)."""
        if self.likelihood == "discretized_logistic_mixture":
            log_px = discretized_logistic_mixture_log_prob(x, params)
        else:
            log_px = discretized_gaussian_log_prob(x, torch.sigmoid(params), self.log_std)
        return log_px.flatten(1).sum(1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's mean image in [0, 1] (the Gaussian's mean, or the mixture's)."""
        return self.mean_image(self.net.decode_logits(z))

    def posterior(self, x: torch.Tensor) -> DiagonalGaussian:
        return DiagonalGaussian(self.net.encode(x))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.posterior(x).mode()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def sample(self, n: int, temperature: float = 1.0) -> torch.Tensor:
        return self.decode(self.prior_sample(n, temperature))

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) in nats, for codes z (k, B, D): (k, B)."""
        k = len(z)
        params = self.net.decode_logits(z.flatten(0, 1))
        return self.pixel_log_prob(x.repeat(k, 1, 1, 1), params).view(k, -1)

    # -- steps -----------------------------------------------------------------------------
    def _step(self, images, stage, batch_idx):
        inputs = self.step_source(images, stage, batch_idx)
        posterior = self.posterior(inputs)

        def log_likelihood(z):
            return self.log_likelihood(images, z)

        loss, _ = self.vae_loss(stage, posterior, log_likelihood, len(images))
        if stage == "train":
            if self.likelihood == "discretized_gaussian":
                self.log("train/decoder_std", self.log_std.exp().mean(), on_step=True,
                         on_epoch=False, batch_size=len(images))
            return loss
        with torch.no_grad():
            self.log_reconstruction(stage, self.decode(posterior.mode()), images, inputs)
            if stage == "test":
                self.test_nll.update(self.importance_weighted_nll(posterior, log_likelihood))
                self.log("test/nll", self.test_nll, on_epoch=True)
                self.log_posterior_stats(posterior, len(images))
        return loss

    def on_test_epoch_end(self) -> None:
        # Bits per dimension of the 8-bit image: the NLL bound spread over every subpixel.
        self.log("test/bpd", self.test_nll.compute() / (self.pixels * math.log(2)))
