"""Precision and recall (Kynkäänniemi et al., 2019): cases whose answer is known, a brute-force
numpy version on small random sets, chunking, and the keys FeatureDistances reports."""

import numpy as np
import pytest
import torch

from aelab.metrics.fid import FeatureDistances
from aelab.metrics.precision_recall import PrecisionRecall, knn_radii, precision_recall
from tests.test_fid import TinyFeatures


def brute_force(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    """The paper's definition, written out with every distance at once."""
    def radii(x):
        d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
        return np.sort(d, axis=1)[:, k]  # column 0 is the point itself

    def covered(points, centres, r):
        d = np.sqrt(((points[:, None] - centres[None]) ** 2).sum(-1))
        return (d <= r[None]).any(1).mean()

    return covered(fake, real, radii(real)), covered(real, fake, radii(fake))


def metric(real, fake, k=3, chunk=1024):
    pr = PrecisionRecall(k, chunk)
    for part in real.split(37):  # several updates, as batches arrive
        pr.update(part, real=True)
    pr.update(fake, real=False)
    return tuple(float(v) for v in pr.compute())


def test_identical_sets_have_precision_and_recall_one():
    x = torch.randn(300, 16)
    assert metric(x, x.clone()) == (1.0, 1.0)


def test_a_set_collapsed_on_a_few_real_points_is_precise_and_covers_little():
    torch.manual_seed(0)
    real = torch.randn(500, 8)
    # Every sample is one of 5 real points, a little jittered: all look real, few are covered.
    fake = real[torch.arange(500) % 5] + 0.01 * torch.randn(500, 8)
    precision, recall = metric(real, fake)
    assert precision > 0.95 and recall < 0.05


def test_a_set_shifted_far_away_scores_zero_for_both():
    torch.manual_seed(0)
    real = torch.randn(400, 8)
    precision, recall = metric(real, torch.randn(400, 8) + 20)
    assert precision == 0 and recall == 0


@pytest.mark.parametrize("k,chunk", [(1, 7), (3, 1024), (5, 50)])
def test_agrees_with_brute_force_numpy(k, chunk):
    rng = np.random.default_rng(k)
    # Overlapping but different clouds (a wider one against a narrower, shifted one), so
    # neither answer is 0 or 1 and a wrong radius or direction shows.
    real = rng.normal(size=(120, 5))
    fake = rng.normal(1.5, 0.6, size=(90, 5))
    expected = brute_force(real, fake, k)
    assert 0.05 < expected[0] < 0.95 and 0.05 < expected[1] < 0.95
    got = metric(torch.tensor(real, dtype=torch.float32), torch.tensor(fake, dtype=torch.float32),
                 k, chunk)
    assert got == pytest.approx(expected, abs=1e-9)
    # Precision and recall are not symmetric: swapping the sets swaps them.
    assert precision_recall(torch.tensor(fake), torch.tensor(real), k, chunk) == pytest.approx(
        expected[::-1])


def test_radii_skip_the_point_itself():
    x = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    assert knn_radii(x, 1, chunk=3).tolist() == [1.0, 1.0, 2.0, 4.0]
    assert knn_radii(x, 2, chunk=1).tolist() == [3.0, 2.0, 3.0, 6.0]
    with pytest.raises(ValueError, match="needs more than 4 points"):
        knn_radii(x, 4)


def test_feature_distances_report_precision_and_recall_with_fid():
    torch.manual_seed(1)
    images = torch.rand(64, 1, 16, 16)
    d = FeatureDistances(TinyFeatures(), reconstructions=False, samples=True, neighbours=3)
    d.update_real(images)
    d.update_samples(images)
    values = d.compute()
    assert {"fid", "kid", "kid_std", "precision", "recall"} == set(values)
    assert values["precision"] == 1 and values["recall"] == 1
