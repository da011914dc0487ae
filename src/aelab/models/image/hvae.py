"""`hvae`: a hierarchical VAE on images (several latent groups on a top-down path; the net is
`aelab.nets.image.hvae`), with the image likelihoods and bits/dim of `conv_vae`.

The objective is the VAE's with a learned, conditional prior: the KL term is the sum over
groups of KL(q(z_g | x, z_<g) || p(z_g | z_<g)), each group's KL computed in closed form at
the posterior's draw of the groups above it. The KL regulariser (schedule, beta, floor) is the
one every VAE uses, handed one KL per group, so `model.kl_floor=per_dim` is free bits per
latent group (NVAE, VDVAE): a group whose batch-mean KL falls below `kl_floor_nats` pays that
floor, which keeps groups from collapsing early. `test/nll` is the importance-weighted bound
with `iw_samples` draws of the whole hierarchy, so `test/bpd` compares with conv_vae's.
"""

import math

import torch
from torchmetrics import MeanMetric

from aelab.models.image.vae import ImageVAE
from aelab.nets.image.hvae import GroupSample


class ImageHVAE(ImageVAE):
    dashboard = {"VAE": {**ImageVAE.dashboard["VAE"],
                         "KL per latent group, coarsest first (nats)": [r"^val/kl_group\d+$"]}}

    def __init__(self, *args, **kwargs):
        # Its prior is the hierarchy's own (the net's top-down path), not model.prior's; the
        # net reads each group's mean and log-variance itself (one output per latent dim).
        super().__init__(*args, prior="standard", prior_components=1, latent_outputs=1, **kwargs)
        self.group_kl = torch.nn.ModuleList(MeanMetric() for _ in self.net.group_levels)

    @property
    def code_size(self) -> int:
        return self.net.code_size

    # -- the model -------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Every group's posterior mean (taken top-down at the means above it), flat."""
        return self.net.encode(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mean_image(self.net.forward_posterior(x, sample=False)[0])

    def sample(self, n: int, temperature: float = 1.0) -> torch.Tensor:
        """Ancestral sampling down the hierarchy, every prior's std scaled by `temperature`."""
        return self.mean_image(self.net.top_down(n, temperature=temperature)[0])

    @staticmethod
    def group_kls(draws: list[GroupSample]) -> torch.Tensor:
        """KL(q || p) of each group, summed over its map: (B, groups)."""
        return torch.stack([d.posterior.kl(d.prior).sum(1) for d in draws], 1)

    def iw_log_weights(self, features: list[torch.Tensor], images: torch.Tensor,
                       k: int) -> torch.Tensor:
        """log p(x, z) - log q(z | inputs) for `k` posterior draws per image: (k, B), from the
        encoder's `features` of the inputs (the images themselves unless the model is trained
        with a corruption), computed once and repeated: only the top-down path is sampled."""
        repeated = [f.repeat(k, 1, 1, 1) for f in features]
        params, draws = self.net.top_down(k * len(images), repeated)
        log_w = self.pixel_log_prob(images.repeat(k, 1, 1, 1), params)
        for d in draws:
            z = d.z.flatten(1)
            log_w = log_w + d.prior.log_prob(z) - d.posterior.log_prob(z)
        return log_w.view(k, len(images))

    def importance_weighted_nll(self, features: list[torch.Tensor], images: torch.Tensor,
                                chunk: int = 10) -> torch.Tensor:
        """-log p(x) per image, bounded with `iw_samples` draws of the hierarchy, `chunk` at
        once; `features`: `net.bottom_up` of the inputs."""
        log_w = torch.cat([self.iw_log_weights(features, images, min(chunk, self.iw_samples - start))
                           for start in range(0, self.iw_samples, chunk)])
        return -(torch.logsumexp(log_w, 0) - math.log(self.iw_samples))

    # -- steps -----------------------------------------------------------------------------
    def _step(self, images, stage, batch_idx):
        inputs = self.step_source(images, stage, batch_idx)
        n = len(images)
        features = self.net.bottom_up(inputs)  # once: every pass below is top-down only
        params, draws = self.net.top_down(n, features)
        rec = -self.pixel_log_prob(images, params)
        group_kl = self.group_kls(draws)
        loss, _ = self.elbo_loss(stage, rec, group_kl, n)  # free bits per group
        if stage == "train":
            return loss
        with torch.no_grad():
            if stage == "val":
                for g, metric in enumerate(self.group_kl):
                    metric.update(group_kl[:, g])
                    self.log(f"val/kl_group{g}", metric, on_epoch=True, batch_size=n)
            means, mean_draws = self.net.top_down(n, features, sample=False)
            self.log_reconstruction(stage, self.mean_image(means), images, inputs)
            if stage == "test":
                self.test_nll.update(self.importance_weighted_nll(features, images))
                self.log("test/nll", self.test_nll, on_epoch=True)
                # Active units over every group's posterior means (Burda et al., 2016).
                self.active_units.update(self.net.flatten_codes([d.z for d in mean_draws]))
                self.log("test/active_units", self.active_units, on_epoch=True, batch_size=n)
        return loss
