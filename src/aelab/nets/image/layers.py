"""Normalisation and activation layers picked by name from the config."""

from typing import Literal

from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "silu": nn.SiLU, "gelu": nn.GELU, "leaky_relu": nn.LeakyReLU,
               "elu": nn.ELU, "tanh": nn.Tanh}
# The choices as types, for the signatures that take them from the config (aelab.options).
Activation = Literal["relu", "silu", "gelu", "leaky_relu", "elu", "tanh"]
Norm = Literal["batch", "group", "none"]


def activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def norm2d(name: str, channels: int) -> nn.Module:
    if name == "batch":
        return nn.BatchNorm2d(channels)
    if name == "group":
        # 8 groups where the width allows it, else one group per channel pair.
        return nn.GroupNorm(min(8, channels // 2) or 1, channels)
    if name in ("none", None):
        return nn.Identity()
    raise ValueError(f"unknown norm {name!r}; choose one of batch, group, none")
