"""model=hvae: the hierarchical VAE's groups, its KL to a learned prior, its IW bound, and the
tasks it shares with every VAE (sample, reconstruct, interpolate)."""

import math

import pytest
import torch

from aelab.errors import AelabError
from aelab.objectives.gaussian import DiagonalGaussian
from tests.conftest import build_model, train_run


def hvae(*overrides, shape=(1, 28, 28)):
    torch.manual_seed(0)
    return build_model("hvae", "model.width=8", *overrides, image_shape=shape).eval()


def test_the_kl_between_two_diagonal_gaussians_agrees_with_torch_distributions():
    q = DiagonalGaussian(torch.tensor([[0.5, -1.0, 0.2, -0.7]]))
    p = DiagonalGaussian(torch.tensor([[-0.3, 0.4, 0.9, 0.1]]))
    normal = torch.distributions.Normal
    expected = torch.distributions.kl_divergence(normal(q.mean, q.std), normal(p.mean, p.std))
    assert torch.allclose(q.kl(p), expected)
    assert torch.allclose(q.kl(DiagonalGaussian(torch.zeros(1, 4))), q.kl())  # N(0, I)


def test_groups_sit_on_the_coarsest_levels_and_the_code_is_every_map():
    model = hvae("model.depth=2", "model.latent_dim=3", "model.net.latent_groups=2")
    assert model.net.group_shapes == [(3, 7, 7), (3, 14, 14)]
    assert model.code_size == 3 * (49 + 196)
    x = torch.rand(5, 1, 28, 28)
    code = model.encode(x)
    assert code.shape == (5, model.code_size)
    # The flat code decodes to what the posterior means give: encode / decode are one path.
    params, _ = model.net.forward_posterior(x, sample=False)
    assert torch.allclose(model.net.decode_logits(code), params, atol=1e-5)
    assert model.decode(code).shape == (5, 1, 28, 28)
    assert model.sample(3).shape == (3, 1, 28, 28) and 0 <= model.sample(3).min()
    mixture_params = 3 * model.components  # weights, means, log-scales per component
    assert params.shape == (5, mixture_params, 28, 28)


def test_an_untrained_hvae_has_standard_normal_priors_and_no_kl_to_pay_from_its_injection():
    model = hvae()
    with torch.no_grad():
        _, draws = model.net.top_down(4)  # from the prior
    top = draws[0].prior
    assert torch.allclose(top.mean, torch.zeros_like(top.mean))
    assert torch.allclose(top.logvar, torch.zeros_like(top.logvar))


def test_the_iw_weights_hold_the_kl_to_the_learned_prior():
    """E_q[log p(z) - log q(z)] over the hierarchy is -KL(q || p), the analytic sum the
    training loss uses: the two paths agree, so the IW bound and the ELBO measure one model."""
    model = hvae(shape=(1, 16, 16))  # small maps: 4,000 posterior draws stay cheap
    with torch.no_grad():  # perturb the zero-initialised priors so they are not N(0, I)
        for group in model.net.latent_groups.values():
            group.prior[-1].bias.normal_(0, 0.5)
            group.inject.weight.normal_(0, 0.3)
    x = torch.rand(2, 1, 16, 16)
    torch.manual_seed(1)
    with torch.no_grad():
        params, draws = model.net.forward_posterior(x.repeat(4000, 1, 1, 1))
        z_terms = sum(d.prior.log_prob(d.z.flatten(1)) - d.posterior.log_prob(d.z.flatten(1))
                      for d in draws).view(4000, 2)
        # The first group's KL is exact per draw; the lower group's depends on the draw above.
        kl = model.group_kls(draws).sum(1).view(4000, 2)
    assert torch.allclose(z_terms.mean(0), -kl.mean(0), rtol=0.05)
    with torch.no_grad():
        model.iw_samples = 20
        nll = model.importance_weighted_nll(model.net.bottom_up(x), x)
        elbo = -(model.pixel_log_prob(x.repeat(4000, 1, 1, 1), params).view(4000, 2).mean(0)
                 - kl.mean(0))
    assert (nll <= elbo + 1.0).all()  # the 20-sample bound is no looser than the ELBO


def test_free_bits_apply_per_latent_group():
    model = hvae("model.kl_floor=per_dim", "model.kl_floor_nats=2.0")
    group_kl = torch.tensor([[0.5, 10.0], [0.5, 12.0]])  # group 0 under its floor, 1 above
    assert model.kl_regulariser.penalty(group_kl).item() == pytest.approx(2.0 + 11.0)


def test_more_groups_than_levels_is_named():
    with pytest.raises(AelabError, match="latent_groups=4 with model.depth=2"):
        build_model("hvae", "model.depth=2", "model.net.latent_groups=4", image_shape=(1, 28, 28))


def test_an_hvae_trains_and_reports_bits_per_dim_and_each_groups_kl(tmp_path):
    metrics = train_run(tmp_path, "model=hvae", "model.iw_samples=2", "model.latent_dim=2",
                        "data.channels=3", "data.image_size=16")
    assert 0 < metrics["test/bpd"] < 20 and math.isfinite(metrics["test/psnr"])
    assert {"val/kl_group0", "val/kl_group1"} <= metrics.keys()
    assert metrics["model/code_size"] == 2 * (4 * 4 + 8 * 8)
