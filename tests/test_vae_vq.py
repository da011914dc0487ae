"""The pieces of the VAE and VQ-VAE on hand-checkable cases."""

import math

import pytest
import torch

from aelab.metrics.latent import ActiveUnits, CodebookUsage
from aelab.models.image.likelihood import discretized_gaussian_log_prob
from aelab.models.image.vae import gaussian_kl, log_normal
from aelab.nets.image.quantizer import VectorQuantizer
from aelab.objectives.kl import kl_penalty, kl_weight

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


def test_gaussian_kl_and_log_normal_agree_with_torch_distributions():
    mean, logvar = torch.tensor([[0.5, -1.0]]), torch.tensor([[0.2, -0.7]])
    q = torch.distributions.Normal(mean, (0.5 * logvar).exp())
    p = torch.distributions.Normal(0.0, 1.0)
    assert torch.allclose(gaussian_kl(mean, logvar), torch.distributions.kl_divergence(q, p))
    z = torch.tensor([[0.1, 0.3]])
    assert torch.allclose(log_normal(z, mean, logvar), q.log_prob(z).sum(-1))


def test_kl_schedules():
    assert kl_weight(50, 1.0, "none", 100) == 1.0
    assert kl_weight(25, 2.0, "linear", 100) == 0.5
    assert kl_weight(500, 2.0, "linear", 100) == 2.0
    # cyclical, cycles of 100 steps, rising over the first half: 0, 0.5, 1, 1, then again
    assert [kl_weight(s, 1.0, "cyclical", 100) for s in (0, 25, 50, 99, 100, 125)] == [
        0.0, 0.5, 1.0, 1.0, 0.0, 0.5]


def test_kl_penalty_free_bits_floor_each_dimension_and_free_nats_the_total():
    # two sentences, three dimensions: batch-mean KLs 1.0, 0.1, 0.0 (total 1.1)
    kl_dims = torch.tensor([[1.5, 0.2, 0.0], [0.5, 0.0, 0.0]], requires_grad=True)
    assert kl_penalty(kl_dims, 0.0).item() == pytest.approx(1.1)
    assert kl_penalty(kl_dims, 0.25).item() == pytest.approx(1.5)  # 1.0 + 0.25 + 0.25
    assert kl_penalty(kl_dims, 0.0, free_nats=0.5).item() == pytest.approx(1.1)  # above it
    floored = kl_penalty(kl_dims, 0.0, free_nats=2.0)
    assert floored.item() == pytest.approx(2.0)
    floored.backward()  # below the floor nothing pushes the KL down: no gradient at all
    assert torch.equal(kl_dims.grad, torch.zeros_like(kl_dims))
    kl_dims.grad = None
    kl_penalty(kl_dims, 0.25).backward()  # per dimension: only the first is above its floor
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
