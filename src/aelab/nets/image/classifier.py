"""A conv classifier: the conv autoencoders' encoder stages, a feature layer, a linear head.

Its feature layer (the penultimate, `features(x) -> (N, features)`) is where FID and KID
measure images when the Inception weights are not at hand or do not suit the data ("FID with
a LeNet trained on MNIST", as small-data papers report it).
"""

import torch
from torch import nn

from aelab.nets.image import layers
from aelab.nets.image.conv import ConvEncoder, check_depth, stage_sizes
from aelab.nets.image.layers import Activation, Norm
from aelab.options import DropProbability, PositiveInt


class ConvClassifier(nn.Module):
    """Image (N, C, H, W) in [0, 1] -> class logits (N, num_classes)."""

    def __init__(self, image_shape: tuple[int, int, int], num_classes: PositiveInt,
                 depth: PositiveInt, width: PositiveInt, *, features: PositiveInt,
                 dropout: DropProbability, norm: Norm, activation: Activation):
        super().__init__()
        channels, height, width_px = image_shape
        check_depth(height, width_px, depth)
        self.encoder = ConvEncoder(channels, width, depth, norm, activation)
        # Flattened, not pooled: where things are matters to a small image's class (LeNet).
        flat = self.encoder.out_channels * stage_sizes(height, depth)[-1] * stage_sizes(width_px, depth)[-1]
        self.feature_layer = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(flat, features),
                                           layers.activation(activation))
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(features, num_classes))
        self.num_features = features

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate layer: (N, num_features)."""
        return self.feature_layer(self.encoder(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
