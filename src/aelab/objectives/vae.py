"""The VAE objective, written once for images and text.

Training loss per example: -log p(x|z) + w_t * KL(q(z|x) || p(z)), with z drawn from the
posterior, w_t and the KL's floor from the KL regulariser (`aelab.objectives.kl`) and the
prior N(0, I) or a learned mixture (`model.prior`, `aelab.objectives.prior`).
`val/loss` and `test/loss` are the plain negative ELBO (w = 1, no floor), an upper bound on
the NLL that stays comparable across epochs while w_t anneals, so the best checkpoint is
picked on the real bound. `importance_weighted_nll` is the tighter bound of Burda et al.
(2016) with `iw_samples` samples.

A model mixes `VAEObjective` in before its modality's base class and supplies two methods:
`posterior(inputs) -> DiagonalGaussian` and `log_likelihood(target, z) -> log p(target|z)`
for codes z of shape (k, B, D), returning (k, B). Its step calls `vae_loss`, then logs what
only its modality knows (PSNR, bits/dim; perplexity, BLEU).
"""

import math
from collections.abc import Callable

import torch
from torchmetrics import MeanMetric

from aelab.errors import AelabError
from aelab.metrics.latent import ActiveUnits
from aelab.objectives.gaussian import DiagonalGaussian
from aelab.objectives.kl import CycleRatio, KLFloor, KLRegulariser, KLSchedule
from aelab.objectives.prior import PriorKind, build_prior
from aelab.options import NonNegativeFloat, PositiveInt, Probability

LogLikelihood = Callable[[torch.Tensor], torch.Tensor]  # z (k, B, D) -> log p(x|z) (k, B)


def vae_charts(unit: str) -> dict[str, list[str]]:
    """The CUSTOM SCALARS charts of the objective (callbacks/dashboard.py), per `unit`
    (image, sentence), for a model's `dashboard` beside its modality's own."""
    return {f"negative ELBO (nats per {unit})": [r"^train/loss$", r"^val/loss$"],
            "KL (nats)": [r"^(train|val)/kl$"],
            "KL weight": [r"^train/kl_weight$"],
            f"reconstruction (nats per {unit})": [r"^(train|val)/rec$"],
            "active units, mutual information": [r"^test/(active_units|mi)$"]}


class VAEObjective:
    has_prior = True
    gaussian_prior = True
    tasks = frozenset({"reconstruct", "interpolate", "sample"})  # a VAE of any modality

    def __init__(self, *args, beta: NonNegativeFloat, kl_schedule: KLSchedule,
                 kl_anneal: Probability, kl_anneal_steps: PositiveInt | None,
                 kl_cycle_ratio: CycleRatio, kl_floor: KLFloor, kl_floor_nats: NonNegativeFloat,
                 iw_samples: PositiveInt, prior: PriorKind, prior_components: PositiveInt,
                 latent_outputs: int = 2, **kwargs):
        # The encoder gives a mean and a log-variance per latent dimension (`latent_outputs`,
        # not an option: a hierarchical VAE's net reads them itself and passes 1).
        super().__init__(*args, latent_outputs=latent_outputs, **kwargs)
        self.prior = build_prior(prior, self.latent_dim, prior_components)
        if kl_floor == "per_dim" and not self.prior.closed_form:
            raise AelabError(f"model.kl_floor=per_dim floors the KL of each latent dimension, "
                             f"and with model.prior={prior} the KL is estimated per example, "
                             f"not per dimension; use model.kl_floor=total (or none), or "
                             f"model.prior=standard")
        self.kl_regulariser = KLRegulariser(beta, kl_schedule, kl_anneal, kl_anneal_steps,
                                            kl_cycle_ratio, kl_floor, kl_floor_nats)
        self.iw_samples = iw_samples
        self.kl_stats = torch.nn.ModuleDict({f"{stage}_{name}": MeanMetric()
                                             for stage in ("val", "test") for name in ("kl", "rec")})
        self.mi = MeanMetric()
        self.active_units = ActiveUnits()

    def prior_sample(self, n: int, temperature: float = 1.0) -> torch.Tensor:
        """Codes from the prior, its spread scaled by `temperature` (N(0, temperature^2 I)
        for the standard one)."""
        return self.prior.sample(n, self.latent_dim, temperature, self.device)

    def on_train_start(self) -> None:
        # The run's optimisation steps, once: schedules set as fractions of the run use it.
        self.run_steps = float(self.trainer.estimated_stepping_batches)
        kl = self.kl_regulariser
        if math.isinf(self.run_steps) and kl.schedule != "none" and kl.anneal_steps is None:
            raise AelabError("model.kl_anneal is a fraction of the run, and this run has no end "
                             "(neither trainer.max_epochs nor trainer.max_steps); set "
                             "model.kl_anneal_steps=<steps> or an end")
        super().on_train_start()

    def total_steps(self) -> float:
        """The run's optimisation steps (known from the start of training)."""
        return getattr(self, "run_steps", math.inf)

    def vae_loss(self, stage: str, posterior: DiagonalGaussian, log_likelihood: LogLikelihood,
                 n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The training loss (train), or the mean negative ELBO (val/test), logged with its KL
        and reconstruction terms (nats per example). Returns it and the per-example
        reconstruction NLL, for the model's own metrics."""
        z = posterior.sample()
        rec = -log_likelihood(z.unsqueeze(0)).squeeze(0)
        return self.elbo_loss(stage, rec, self.prior.kl(posterior, z).flatten(1), n)

    def elbo_loss(self, stage: str, rec: torch.Tensor, kl_dims: torch.Tensor,
                  n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """`vae_loss` from the terms: the reconstruction NLL (B,) and the KL split into the
        columns the regulariser's floor acts on (B, K): latent dimensions, or a hierarchical
        VAE's latent groups."""
        kl = kl_dims.sum(1)
        if stage == "train":
            weight = self.kl_regulariser.weight(self.global_step, self.total_steps())
            loss = rec.mean() + weight * self.kl_regulariser.penalty(kl_dims)
            self.log_dict({"train/loss": loss, "train/rec": rec.mean(), "train/kl": kl.mean(),
                           "train/kl_weight": weight}, on_step=True, on_epoch=False, batch_size=n)
            return loss, rec
        negative_elbo = rec + kl
        self.log(f"{stage}/loss", negative_elbo.mean(), on_epoch=True, prog_bar=True,
                 batch_size=n, sync_dist=True)
        for name, value in (("kl", kl), ("rec", rec)):
            self.kl_stats[f"{stage}_{name}"].update(value)
            self.log(f"{stage}/{name}", self.kl_stats[f"{stage}_{name}"], on_epoch=True, batch_size=n)
        return negative_elbo.mean(), rec

    def log_posterior_stats(self, posterior: DiagonalGaussian, n: int) -> None:
        """Test only: active units (Burda et al., 2016) and the mutual information I(x; z)."""
        self.active_units.update(posterior.mean.flatten(1))
        self.log("test/active_units", self.active_units, on_epoch=True, batch_size=n)
        self.mi.update(posterior.mutual_information(), weight=n)
        self.log("test/mi", self.mi, on_epoch=True, batch_size=n)

    def importance_weighted_nll(self, posterior: DiagonalGaussian, log_likelihood: LogLikelihood,
                                chunk: int = 10) -> torch.Tensor:
        """-log p(x) per example, bounded with `iw_samples` samples of q(z|x), `chunk` at once."""
        log_weights = []
        for start in range(0, self.iw_samples, chunk):
            k = min(chunk, self.iw_samples - start)
            z = posterior.sample(k)
            log_weights.append(log_likelihood(z) + self.prior.log_prob(z) - posterior.log_prob(z))
        return -(torch.logsumexp(torch.cat(log_weights), 0) - math.log(self.iw_samples))
