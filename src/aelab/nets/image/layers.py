"""Normalisation and activation layers picked by name from the config.

The names a config may use are the `Literal` types below, which the option check
(aelab.options) enforces before anything is built; the tables here map them to layers.
"""

from typing import Literal, get_args

from torch import nn

Activation = Literal["relu", "silu", "gelu", "leaky_relu", "elu", "tanh"]
Norm = Literal["batch", "group", "none"]
ACTIVATIONS = dict(zip(get_args(Activation), (nn.ReLU, nn.SiLU, nn.GELU, nn.LeakyReLU, nn.ELU,
                                              nn.Tanh), strict=True))


def activation(name: Activation) -> nn.Module:
    return ACTIVATIONS[name]()


def norm2d(name: Norm, channels: int) -> nn.Module:
    if name == "batch":
        return nn.BatchNorm2d(channels)
    if name == "group":
        # 8 groups where the width allows it, else one group per channel pair.
        return nn.GroupNorm(min(8, channels // 2) or 1, channels)
    return nn.Identity()
