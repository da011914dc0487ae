"""The pieces of the VAE and VQ-VAE on hand-checkable cases."""

import math

import pytest
import torch

from aelab.metrics.latent import ActiveUnits, CodebookUsage
from aelab.nets.image.quantizer import VectorQuantizer
from aelab.objectives.gaussian import DiagonalGaussian, standard_normal_log_prob
from aelab.objectives.kl import KLRegulariser
from aelab.objectives.likelihood import discretized_gaussian_log_prob
from tests.conftest import build_model, train_run

GRID = torch.arange(256).float() / 255


@pytest.mark.parametrize("mean,std", [(0.3, 0.1), (0.0, 0.01), (1.0, 0.002), (0.5, 1.0)])
def test_discretized_gaussian_is_a_distribution_over_the_256_levels(mean, std):
    log_p = discretized_gaussian_log_prob(GRID, torch.tensor(mean), torch.tensor(math.log(std)))
    assert log_p.exp().sum().item() == pytest.approx(1.0, abs=1e-4)
    assert (log_p <= 0).all()


def test_discretized_gaussian_matches_density_times_bin_width_when_wide():
    x, mean, std = torch.tensor(0.5), torch.tensor(0.45), 0.2
    expected = torch.distributions.Normal(mean, std).log_prob(x) + math.log(1 / 255)
    got = discretized_gaussian_log_prob(x, mean, torch.tensor(math.log(std)))
    assert got.item() == pytest.approx(expected.item(), abs=1e-3)


def test_the_posterior_agrees_with_torch_distributions():
    mean, logvar = torch.tensor([[0.5, -1.0]]), torch.tensor([[0.2, -0.7]])
    posterior = DiagonalGaussian(torch.cat([mean, logvar], 1))
    q = torch.distributions.Normal(mean, (0.5 * logvar).exp())
    p = torch.distributions.Normal(0.0, 1.0)
    assert torch.allclose(posterior.kl(), torch.distributions.kl_divergence(q, p))
    z = torch.tensor([[0.1, 0.3]])
    assert torch.allclose(posterior.log_prob(z), q.log_prob(z).sum(-1))
    assert torch.allclose(standard_normal_log_prob(z), p.log_prob(z).sum(-1))
    assert torch.equal(posterior.mode(), mean)
    torch.manual_seed(0)
    draws = posterior.sample(20_000)  # (n, B, D)
    assert draws.shape == (20_000, 1, 2)
    assert torch.allclose(draws.mean(0), mean, atol=0.03)
    assert torch.allclose(draws.var(0), logvar.exp(), rtol=0.05)


def regulariser(schedule="linear", anneal=0.2, anneal_steps=None, floor="none", nats=0.0,
                beta=1.0):
    return KLRegulariser(beta, schedule, anneal, anneal_steps, 0.5, floor, nats)


def test_kl_schedules_in_steps():
    assert regulariser("none", anneal_steps=100).weight(50, 1000) == 1.0
    assert regulariser(anneal_steps=100, beta=2.0).weight(25, 1000) == 0.5
    assert regulariser(anneal_steps=100, beta=2.0).weight(500, 1000) == 2.0
    # cyclical, cycles of 100 steps, rising over the first half: 0, 0.5, 1, 1, then again
    cyclical = regulariser("cyclical", anneal_steps=100)
    assert [cyclical.weight(s, 1000) for s in (0, 25, 50, 99, 100, 125)] == [
        0.0, 0.5, 1.0, 1.0, 0.0, 0.5]


def test_kl_schedules_as_fractions_of_the_run_mean_the_same_on_any_length():
    """20% of the run: full weight after 20 of 100 steps, or 2,000 of 10,000."""
    linear = regulariser(anneal=0.2)
    for total in (100, 648, 10_000):
        assert linear.weight(int(0.1 * total), total) == pytest.approx(0.5, abs=0.01)
        assert linear.weight(math.ceil(0.2 * total), total) == 1.0
    cyclical = regulariser("cyclical", anneal=0.25)  # four cycles in any run
    assert [cyclical.weight(s, 400) for s in (0, 50, 99, 100, 150)] == [0.0, 1.0, 1.0, 0.0, 1.0]


def test_kl_floor_per_dimension_free_bits_and_total_free_nats():
    # two sentences, three dimensions: batch-mean KLs 1.0, 0.1, 0.0 (total 1.1)
    kl_dims = torch.tensor([[1.5, 0.2, 0.0], [0.5, 0.0, 0.0]], requires_grad=True)
    assert regulariser().penalty(kl_dims).item() == pytest.approx(1.1)
    per_dim = regulariser(floor="per_dim", nats=0.25)
    assert per_dim.penalty(kl_dims).item() == pytest.approx(1.5)  # 1.0 + 0.25 + 0.25
    assert regulariser(floor="total", nats=0.5).penalty(kl_dims).item() == pytest.approx(1.1)
    floored = regulariser(floor="total", nats=2.0).penalty(kl_dims)
    assert floored.item() == pytest.approx(2.0)
    floored.backward()  # below the floor nothing pushes the KL down: no gradient at all
    assert torch.equal(kl_dims.grad, torch.zeros_like(kl_dims))
    kl_dims.grad = None
    per_dim.penalty(kl_dims).backward()  # per dimension: only the first is above its floor
    assert torch.equal(kl_dims.grad, torch.tensor([[0.5, 0.0, 0.0], [0.5, 0.0, 0.0]]))


def test_active_units_counts_dimensions_that_vary():
    metric = ActiveUnits(threshold=0.01)
    means = torch.stack([torch.linspace(-1, 1, 100), torch.full((100,), 3.0),
                         0.001 * torch.randn(100)], 1)
    metric.update(means[:50])
    metric.update(means[50:])
    assert metric.compute().item() == 1


def test_codebook_usage_and_perplexity():
    metric = CodebookUsage(num_codes=8)
    metric.update(torch.tensor([0, 1, 2, 3, 0, 1, 2, 3]))
    result = metric.compute()
    assert result["codebook_usage"].item() == 0.5
    assert result["codebook_perplexity"].item() == pytest.approx(4.0)


def test_quantizer_snaps_to_the_nearest_code_with_a_straight_through_gradient():
    vq = VectorQuantizer(num_codes=3, code_dim=2)
    vq.codebook.copy_(torch.tensor([[0.0, 0.0], [1.0, 1.0], [-1.0, 2.0]]))
    vq.eval()
    z = torch.tensor([[[[0.9]], [[1.2]]], [[[-0.8]], [[1.9]]]], requires_grad=True)  # (2, 2, 1, 1)
    quantised, codes, commitment = vq(z)
    assert codes.flatten().tolist() == [1, 2]
    assert torch.allclose(quantised.detach().flatten(1), torch.tensor([[1.0, 1.0], [-1.0, 2.0]]))
    quantised.sum().backward()
    assert torch.equal(z.grad, torch.ones_like(z))  # straight-through
    assert commitment.item() > 0


def test_dead_codes_restart_onto_encoder_outputs():
    torch.manual_seed(0)
    vq = VectorQuantizer(num_codes=16, code_dim=4, decay=0.5, restart_below=0.5)
    vq.train()
    data = torch.randn(64, 4, 1, 1) + 10  # far from the random initial codebook
    for _ in range(5):
        vq(data)
    assert vq.restarts.item() > 0
    _, codes, _ = vq(data)
    assert len(codes.unique()) > 8  # restarted codes moved onto the data and are used
    distances = torch.cdist(vq.codebook, data.flatten(1)).min(1).values
    assert (distances < 3).float().mean() > 0.5


def test_the_logistic_mixture_is_a_distribution_over_the_256_levels():
    from aelab.objectives.likelihood import discretized_logistic_mixture_log_prob

    torch.manual_seed(0)
    k, c = 3, 2
    params = torch.randn(4, c * 3 * k, 1, 1)
    params.view(4, c, 3, k)[:, :, 1] = torch.rand(4, c, k) * 1.4 - 0.2  # means, some outside
    params.view(4, c, 3, k)[:, :, 2] -= 3  # scales from about 0.002 to 0.3
    levels = torch.arange(256.0) / 255
    x = levels.view(256, 1, 1, 1, 1).expand(256, 4, c, 1, 1)
    log_p = torch.stack([discretized_logistic_mixture_log_prob(x[i], params) for i in range(256)])
    assert torch.allclose(log_p.logsumexp(0), torch.zeros(4, c, 1, 1), atol=1e-4)


def test_a_sharp_component_on_black_gives_an_exact_zero_almost_all_its_mass():
    from aelab.objectives.likelihood import (
        discretized_gaussian_log_prob,
        discretized_logistic_mixture_log_prob,
        logistic_mixture_mean,
    )

    params = torch.tensor([[10.0, 0.0, -0.05, 0.6, -8.0, -2.0]]).view(1, 6, 1, 1)  # K=2, 1 channel
    black = torch.zeros(1, 1, 1, 1)
    assert discretized_logistic_mixture_log_prob(black, params).exp().item() > 0.99
    # A Gaussian whose mean a sigmoid keeps inside (0, 1) cannot: at most half its mass at 0.
    gaussian = discretized_gaussian_log_prob(black, torch.full_like(black, 0.01), torch.tensor(-6.0))
    assert gaussian.exp().item() < 0.51
    assert logistic_mixture_mean(params, 1).item() == 0.0  # the weighted mean, clipped to [0, 1]


def test_a_vae_with_the_logistic_mixture_trains_and_reports_bits_per_dim(tmp_path):
    metrics = train_run(tmp_path, "model=conv_vae", "model.likelihood=discretized_logistic_mixture",
                        "model.mixture_components=3", "model.iw_samples=2",
                        "data.channels=3", "data.image_size=16")
    assert 0 < metrics["test/bpd"] < 20 and math.isfinite(metrics["test/psnr"])  # 3 steps in
    model = build_model("conv_vae", "model.likelihood=discretized_logistic_mixture",
                        "model.mixture_components=3", image_shape=(3, 16, 16))
    assert model.net.decoder.layers[-1].out_channels == 3 * 3 * 3  # 3 channels x (w, mean, scale) x 3
    assert model.sample(2).shape == (2, 3, 16, 16) and 0 <= model.sample(2).min()
