"""The VAE's prior (`model.prior`): N(0, I) or a learned Gaussian mixture, on hand-checkable
cases, and a VAE of each modality trained with the mixture."""

import json
import math

import pytest
import torch

from aelab.errors import AelabError
from aelab.objectives.gaussian import DiagonalGaussian
from aelab.objectives.prior import MixturePrior, StandardNormalPrior
from tests.conftest import build_model, train_run


def mixture(means, logvars, logits) -> MixturePrior:
    prior = MixturePrior(dim=means.shape[1], components=means.shape[0])
    with torch.no_grad():
        prior.means.copy_(means)
        prior.logvars.copy_(logvars)
        prior.logits.copy_(logits)
    return prior


def test_the_mixture_density_agrees_with_torch_distributions():
    torch.manual_seed(0)
    means, logvars, logits = torch.randn(3, 2), 0.5 * torch.randn(3, 2), torch.randn(3)
    prior = mixture(means, logvars, logits)
    reference = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(logits=logits),
        torch.distributions.Independent(torch.distributions.Normal(means, (0.5 * logvars).exp()), 1))
    z = torch.randn(5, 4, 2)  # leading sample dimensions, as the importance-weighted bound has
    assert torch.allclose(prior.log_prob(z), reference.log_prob(z), atol=1e-5)


def test_the_mixtures_kl_estimate_is_unbiased_and_the_standard_kl_is_exact():
    torch.manual_seed(0)
    posterior = DiagonalGaussian(torch.tensor([[0.8, -0.3, 0.2, -1.0]]))  # mean (0.8, -0.3)
    exact = StandardNormalPrior().kl(posterior, None)
    assert exact.shape == (1, 2)
    # One unit component is N(0, I): the one-sample estimates average to the closed form.
    single = mixture(torch.zeros(1, 2), torch.zeros(1, 2), torch.zeros(1))
    draws = posterior.sample(2000).squeeze(1)
    estimates = torch.stack([single.kl(posterior, z[None]) for z in draws]).flatten()
    assert estimates.mean().item() == pytest.approx(exact.sum().item(), abs=0.05)
    batch = single.kl(DiagonalGaussian(torch.zeros(7, 4)), torch.randn(7, 2))
    assert batch.shape == (7, 1)  # one column per example: the per-dimension floor cannot use it


def test_mixture_samples_come_from_the_components_by_their_weights():
    torch.manual_seed(0)
    prior = mixture(torch.tensor([[-5.0, 0.0], [5.0, 0.0]]), torch.log(torch.full((2, 2), 0.25)),
                    torch.log(torch.tensor([0.2, 0.8])))
    z = prior.sample(20_000, 2)
    right = z[:, 0] > 0
    assert right.float().mean().item() == pytest.approx(0.8, abs=0.02)
    assert z[right, 0].mean().item() == pytest.approx(5.0, abs=0.03)
    assert z[right].std(0).tolist() == pytest.approx([0.5, 0.5], abs=0.02)
    cold = prior.sample(5_000, 2, temperature=0.0)  # temperature 0: the component means
    assert set(cold[:, 0].tolist()) == {-5.0, 5.0}


def test_the_per_dimension_floor_refuses_the_mixture_by_name():
    with pytest.raises(AelabError, match=r"model.kl_floor=per_dim.*model.prior=mixture.*kl_floor=total"):
        build_model("lstm_vae", "model.prior=mixture", "model.kl_floor=per_dim", vocab_size=30)


def test_a_text_vae_with_the_mixture_trains_its_prior_and_bounds_with_it(tmp_path):
    from tests.test_text import TOY

    metrics = train_run(tmp_path / "vae", "model=lstm_vae", *TOY, "model.latent_dim=8",
                        "model.prior=mixture", "model.prior_components=4", "model.iw_samples=4")
    assert math.isfinite(metrics["test/ppl"]) and metrics["test/kl"] > 0
    # The IW bound is tighter than the ELBO on average (both with the mixture's log p(z)).
    assert metrics["test/nll"] <= metrics["test/loss"] + 1e-3
    model = build_model("transformer_vae", "model.prior=mixture", "model.prior_components=4",
                        "model.latent_dim=8", "model.width=16", "model.embed_dim=16", vocab_size=30)
    names = {n for n, _ in model.named_parameters()}
    assert {"prior.means", "prior.logvars", "prior.logits"} <= names  # trained with the model
    assert model.prior_sample(3).shape == (3, 8)


def test_an_image_vae_with_the_mixture_trains_and_samples(tmp_path):
    metrics = train_run(tmp_path, "model=conv_vae", "model.prior=mixture",
                        "model.prior_components=3", "model.iw_samples=2")
    assert math.isfinite(metrics["test/bpd"]) and math.isfinite(metrics["test/kl"])
    model = build_model("conv_vae", "model.prior=mixture", "model.prior_components=3",
                        image_shape=(1, 28, 28))
    assert model.sample(2).shape == (2, 1, 28, 28)


def test_eval_bounds_with_the_importance_samples_asked_and_refuses_a_model_without(
        tmp_path, monkeypatch):
    from aelab.objectives.vae import VAEObjective
    from aelab.run import evaluate
    from tests.test_text import TOY

    run = tmp_path / "vae"
    train_run(run, "model=lstm_vae", *TOY, "model.latent_dim=8", "model.iw_samples=1")
    used = []
    bound = VAEObjective.importance_weighted_nll

    def spy(self, *args, **kwargs):
        used.append(self.iw_samples)
        return bound(self, *args, **kwargs)

    monkeypatch.setattr(VAEObjective, "importance_weighted_nll", spy)
    evaluate(str(run))
    assert set(used) == {1} and not list(run.glob("eval_metrics_iw*.json"))  # the run's own
    used.clear()
    more = evaluate(str(run), iw_samples=20)
    assert set(used) == {20}
    assert json.loads((run / "eval_metrics_iw20.json").read_text())["test/nll"] == pytest.approx(
        more["test/nll"])
    assert more["test/nll"] <= more["test/loss"] + 0.05  # the bound, below the ELBO (noise aside)
    lm = tmp_path / "lm"
    train_run(lm, "model=lstm_lm", *TOY)
    with pytest.raises(AelabError, match=r"iw_samples=20 sets a VAE's importance samples"):
        evaluate(str(lm), iw_samples=20)
