"""FID, KID, precision and recall of image sets against the real images, in the features of
an extractor.

The distances are torchmetrics' (FrechetInceptionDistance, KernelInceptionDistance). Their
`feature` slot gets `Given`, which passes features through: the features are computed here,
once per image, so the real images go through the extractor once for every distance that
compares against them (`rfid`, `fid`, `kid`, `precision`, `recall`).
"""

import warnings

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance
from torchmetrics.utilities import dim_zero_cat

from aelab.metrics.features import FeatureExtractor
from aelab.metrics.precision_recall import PrecisionRecall


class Given(nn.Module):
    """Features already computed, in the metric's feature-extractor slot."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


class KID(KernelInceptionDistance):
    """KID (Binkowski et al., 2018: 100 subsets of 1000) with subsets no larger than the
    smaller set, where torchmetrics would refuse a test split of fewer than 1000 images."""

    def __init__(self, num_features: int, subset_size: int = 1000, subsets: int = 100):
        with warnings.catch_warnings():  # "saves all extracted features": that is the point
            warnings.simplefilter("ignore", UserWarning)
            super().__init__(feature=Given(num_features), subsets=subsets, subset_size=subset_size)
        self.largest_subset = subset_size

    def compute(self) -> tuple[torch.Tensor, torch.Tensor]:
        # Called on the states gathered from every process.
        smaller = min(len(dim_zero_cat(self.real_features)), len(dim_zero_cat(self.fake_features)))
        self.subset_size = max(2, min(self.largest_subset, smaller))
        return super().compute()


class FeatureDistances(nn.Module):
    """Real images against reconstructions (`rfid`) and against samples (`fid`, `kid`,
    `kid_std`, `precision`, `recall`: Kynkäänniemi et al.'s, with `neighbours` = k), each
    present when asked for. `compute()` -> {name: value}."""

    def __init__(self, extractor: FeatureExtractor, reconstructions: bool, samples: bool,
                 neighbours: int = 3):
        super().__init__()
        self.extractor = extractor.requires_grad_(False).eval()
        width = extractor.num_features
        self.rfid = FrechetInceptionDistance(feature=Given(width)) if reconstructions else None
        self.fid = FrechetInceptionDistance(feature=Given(width)) if samples else None
        self.kid = KID(width) if samples else None
        self.precision_recall = PrecisionRecall(neighbours) if samples else None

    def _metrics(self) -> list:
        return [m for m in (self.rfid, self.fid, self.kid, self.precision_recall) if m is not None]

    @torch.no_grad()
    def update_real(self, images: torch.Tensor) -> None:
        features = self.extractor(images)
        for metric in self._metrics():
            metric.update(features, real=True)

    @torch.no_grad()
    def update_reconstructions(self, images: torch.Tensor) -> None:
        self.rfid.update(self.extractor(images), real=False)

    @torch.no_grad()
    def update_samples(self, images: torch.Tensor) -> None:
        features = self.extractor(images)
        self.fid.update(features, real=False)
        self.kid.update(features, real=False)
        self.precision_recall.update(features, real=False)

    def compute(self) -> dict[str, float]:
        values = {}
        if self.rfid is not None:
            values["rfid"] = float(self.rfid.compute())
        if self.fid is not None:
            values["fid"] = float(self.fid.compute())
            mean, std = self.kid.compute()
            values.update(kid=float(mean), kid_std=float(std))
            precision, recall = self.precision_recall.compute()
            values.update(precision=float(precision), recall=float(recall))
        return values
