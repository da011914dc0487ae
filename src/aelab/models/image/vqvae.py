"""VQ-VAE for images: reconstruction loss + commitment loss; EMA codebook (no codebook loss).

Logs codebook usage and perplexity on val and test. New images come from a prior over the
code grid, trained as a second run: `model=code_prior model.vqvae_run=<this run dir>`.
"""

import torch

from aelab.metrics.latent import CodebookUsage
from aelab.models.image.autoencoder import ImageAutoencoder


class ImageVQVAE(ImageAutoencoder):
    tasks = frozenset({"reconstruct", "interpolate"})
    instead = {**ImageAutoencoder.instead,
               "sample": "a VQ-VAE samples through a prior over its codes: train one with "
                         "`python train.py model=code_prior model.vqvae_run=<this run dir>`, "
                         "then run generate.py task=sample on that run"}
    dashboard = {**ImageAutoencoder.dashboard, "codebook": {
        "usage (fraction of codes)": [r"^val/codebook_usage$"],
        "perplexity": [r"^val/codebook_perplexity$"],
        "dead-code restarts": [r"^train/codebook_restarts$"],
        "commitment loss": [r"^(train|val)/commitment(_epoch)?$"]}}

    self_ensemble = None  # its step quantises the code itself: eval.py self_ensemble refuses it

    def __init__(self, *args, **kwargs):
        # its decoder makes the image, every pixel of it scored
        super().__init__(*args, residual=False, loss_border=0, linear_path="none", code_norm="none",
                         **kwargs)
        self.usage = torch.nn.ModuleDict({stage: CodebookUsage(self.net.quantizer.num_codes)
                                          for stage in ("val", "test")})

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Continuous encoder output; `codes` gives the discrete code grid."""
        return self.net.encode(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Quantise continuous vectors, then decode (so interpolations stay on the codebook)."""
        return self.net.decode(self.net.quantize(z)[0])

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.quantize(self.net.encode(x))[1]

    def _step(self, images, stage, batch_idx):
        inputs = self.step_source(images, stage, batch_idx)
        quantised, codes, commitment = self.net.quantize(self.net.encode(inputs))
        logits = self.net.decode_logits(quantised)
        recon = torch.sigmoid(logits)
        loss = self.reconstruction_loss(logits, images) + commitment
        n = len(images)
        self.log(f"{stage}/loss", loss, on_step=stage == "train", on_epoch=True, prog_bar=True,
                 batch_size=n, sync_dist=stage != "train")
        self.log(f"{stage}/commitment", commitment, on_epoch=True, batch_size=n,
                 sync_dist=stage != "train")
        metrics = self.stage_metrics(stage)
        metrics.update(recon.detach().contiguous(), images)
        self.log_dict(metrics, on_step=False, on_epoch=True)
        if stage in self.usage:
            self.usage[stage].update(codes)
        self.log_baselines(stage, inputs, images)
        return loss

    def _log_usage(self, stage: str) -> None:
        for name, value in self.usage[stage].compute().items():
            self.log(f"{stage}/{name}", value)
        self.usage[stage].reset()

    @property
    def code_size(self) -> None:
        return None  # a grid of codebook indices, not floats (test/codebook_* describe it)

    def on_validation_epoch_end(self) -> None:
        self._log_usage("val")
        self.log("train/codebook_restarts", self.net.quantizer.restarts.float())

    def on_test_epoch_end(self) -> None:
        self._log_usage("test")
