"""Precision and recall of a generative model (Kynkäänniemi et al., 2019, "Improved Precision
and Recall Metric for Assessing Generative Models"), in an extractor's features.

FID folds two failures into one number: samples that look like no real image (fidelity) and
real images no sample looks like (coverage, e.g. a sampler that drops classes). These two
numbers keep them apart. Each feature set approximates its distribution's support as the
union of balls around its points, each ball's radius the distance to the point's k-th
nearest neighbour in its own set:

    precision = share of generated points inside the ball of some real point
    recall    = share of real points inside the ball of some generated point

torchmetrics (1.9) has no such metric. Every distance is needed, so all features are kept
(as KID keeps them), and the distances are computed `chunk` rows at a time: 10,000 x 10,000
features never stand in memory at once (a chunk of 1,024 rows is 80 MB of float64).
"""

import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat


def pairwise_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Euclidean distances (len(a), len(b)), in float64: through a matrix product (fast), whose
    rounding in float32 would put a point at a small positive distance from itself, enough to
    move it out of a tight ball."""
    return torch.cdist(a.double(), b.double())


def knn_radii(features: torch.Tensor, k: int, chunk: int = 1024) -> torch.Tensor:
    """(N,) distance of each point to its k-th nearest neighbour in the same set, the point
    itself not counted (its distance 0 is the smallest of the k + 1 taken)."""
    if len(features) <= k:
        raise ValueError(f"precision/recall with k={k} neighbours needs more than {k} points "
                         f"in each set; got {len(features)}")
    radii = [pairwise_distances(rows, features).topk(k + 1, dim=1, largest=False).values[:, k]
             for rows in features.split(chunk)]
    return torch.cat(radii)


def inside_any_ball(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor,
                    chunk: int = 1024) -> torch.Tensor:
    """(len(points),) bool: the point lies within radius_j of some centre j (on the border
    counts, so a point equal to a centre whose radius is 0, a duplicate, is inside)."""
    inside = [(pairwise_distances(rows, centres) <= radii.double()).any(1)
              for rows in points.split(chunk)]
    return torch.cat(inside)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3,
                     chunk: int = 1024) -> tuple[float, float]:
    """(precision, recall) of the generated features `fake` against the real ones `real`."""
    precision = inside_any_ball(fake, real, knn_radii(real, k, chunk), chunk).double().mean()
    recall = inside_any_ball(real, fake, knn_radii(fake, k, chunk), chunk).double().mean()
    return float(precision), float(recall)


class PrecisionRecall(Metric):
    """Kynkäänniemi et al.'s precision and recall, as a torchmetrics Metric fed features the
    way FID and KID are (`update(features, real=...)`); `compute()` -> (precision, recall)
    as tensors. States are lists of feature rows, gathered from every process before compute."""

    higher_is_better = True
    full_state_update = False

    def __init__(self, k: int = 3, chunk: int = 1024, **kwargs):
        super().__init__(**kwargs)
        if k < 1:
            raise ValueError(f"precision/recall needs k >= 1 neighbours, got {k}")
        self.k, self.chunk = k, chunk
        self.add_state("real_features", [], dist_reduce_fx="cat")
        self.add_state("fake_features", [], dist_reduce_fx="cat")

    def update(self, features: torch.Tensor, real: bool) -> None:
        (self.real_features if real else self.fake_features).append(features.detach().flatten(1))

    def compute(self) -> tuple[torch.Tensor, torch.Tensor]:
        real, fake = dim_zero_cat(self.real_features), dim_zero_cat(self.fake_features)
        precision, recall = precision_recall(real, fake, self.k, self.chunk)
        return torch.tensor(precision, dtype=torch.float64), torch.tensor(recall, dtype=torch.float64)
