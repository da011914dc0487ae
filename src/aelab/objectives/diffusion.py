"""Diffusion objectives over vectors and their samplers, for the latent diffusion prior.

Both processes run in continuous time t in [0, 1], data at t = 0 and noise at t = 1, and
both give the same three things for any `net(x, t)`: a training loss, a sampler from noise,
and the inversion of that sampler (data -> the noise it would be sampled from), which the
interpolation task uses.

`ddpm` (Ho et al., 2020; DDIM, Song et al., 2021): x_t = alpha(t) x0 + sigma(t) eps with the
cosine schedule alpha = cos(phi), sigma = sin(phi) (Nichol & Dhariwal, 2021), phi = t *
PHI_MAX. PHI_MAX stops short of pi/2, where alpha would be 0: at t = 1, sigma / alpha = 20.
Why: noise prediction recovers x0 = (x - sigma eps) / alpha, which multiplies the net's error
by sigma / alpha; at 80 (EDM's largest noise level) DDIM's samples of a toy 2-d mixture came
out far wider than the data, at 20 close to it. What it costs: x_1 keeps 5% of the code
(alpha = 0.05) while sampling starts from pure noise, a 0.25% difference in variance. The
net predicts `eps` or `v` = alpha eps - sigma x0 (Salimans & Ho, 2022: well scaled at every
t, the default); sampling is deterministic DDIM (eta = 0).

`flow` (rectified flow, Liu et al., 2022; flow matching, Lipman et al., 2022):
x_t = (1 - t) x0 + t eps, the net predicts the velocity eps - x0, sampling integrates
dx/dt = v from t = 1 to 0 with Euler or Heun steps.
"""

import math
from collections.abc import Callable
from typing import Literal

import torch

Net = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
PHI_MAX = math.atan(20.0)


def _uniform_times(n: int, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(n, device=x.device, generator=generator)


class DDPM:
    """Noise (`eps`) or `v` prediction on the cosine schedule; DDIM sampling."""

    samplers = ("ddim",)

    def __init__(self, prediction: Literal["eps", "v"] = "v"):
        self.prediction = prediction

    @staticmethod
    def alpha_sigma(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        phi = t * PHI_MAX
        return torch.cos(phi), torch.sin(phi)

    def loss(self, net: Net, x0: torch.Tensor, generator: torch.Generator | None = None,
             **cond) -> torch.Tensor:
        """Mean squared error of the prediction at a uniform t per example: (N,)."""
        t = _uniform_times(len(x0), x0, generator)
        eps = torch.randn(x0.shape, device=x0.device, generator=generator)
        alpha, sigma = (a.view(-1, *[1] * (x0.dim() - 1)) for a in self.alpha_sigma(t))
        target = eps if self.prediction == "eps" else alpha * eps - sigma * x0
        out = net(alpha * x0 + sigma * eps, t, **cond)
        return (out - target).pow(2).flatten(1).mean(1)

    def predict(self, net: Net, x: torch.Tensor, t: float, **cond):
        """(x0, eps) the net implies at x_t."""
        alpha, sigma = self.alpha_sigma(torch.tensor(t))
        out = net(x, torch.full((len(x),), t, device=x.device), **cond)
        if self.prediction == "eps":
            return (x - sigma * out) / alpha, out
        return alpha * x - sigma * out, sigma * x + alpha * out

    def _walk(self, net: Net, x: torch.Tensor, times: torch.Tensor, **cond) -> torch.Tensor:
        # DDIM (eta = 0): x0 and eps predicted at t, then re-noised to the next time.
        for t, s in zip(times[:-1].tolist(), times[1:].tolist(), strict=True):
            x0, eps = self.predict(net, x, t, **cond)
            alpha, sigma = self.alpha_sigma(torch.tensor(s))
            x = alpha * x0 + sigma * eps
        return x

    def sample(self, net: Net, noise: torch.Tensor, steps: int, sampler: str = "ddim",
               **cond) -> torch.Tensor:
        return self._walk(net, noise, torch.linspace(1, 0, steps + 1), **cond)

    def invert(self, net: Net, x0: torch.Tensor, steps: int, sampler: str = "ddim",
               **cond) -> torch.Tensor:
        """DDIM inversion: the same steps run forward, each with the prediction at its start
        (approximate: exact only as steps grow)."""
        return self._walk(net, x0, torch.linspace(0, 1, steps + 1), **cond)


class Flow:
    """Rectified flow: velocity prediction on straight paths; Euler or Heun integration."""

    samplers = ("euler", "heun")

    def loss(self, net: Net, x0: torch.Tensor, generator: torch.Generator | None = None,
             **cond) -> torch.Tensor:
        t = _uniform_times(len(x0), x0, generator)
        eps = torch.randn(x0.shape, device=x0.device, generator=generator)
        tt = t.view(-1, *[1] * (x0.dim() - 1))
        out = net((1 - tt) * x0 + tt * eps, t, **cond)
        return (out - (eps - x0)).pow(2).flatten(1).mean(1)

    def _integrate(self, net: Net, x: torch.Tensor, times: torch.Tensor, sampler: str,
                   **cond) -> torch.Tensor:
        def v(x, t):
            return net(x, torch.full((len(x),), t, device=x.device), **cond)

        for t, s in zip(times[:-1].tolist(), times[1:].tolist(), strict=True):
            d = v(x, t)
            step = x + (s - t) * d
            if sampler == "heun":  # the trapezoid of the slopes at both ends (Karras et al.)
                step = x + (s - t) * (d + v(step, s)) / 2
            x = step
        return x

    def sample(self, net: Net, noise: torch.Tensor, steps: int, sampler: str = "heun",
               **cond) -> torch.Tensor:
        return self._integrate(net, noise, torch.linspace(1, 0, steps + 1), sampler, **cond)

    def invert(self, net: Net, x0: torch.Tensor, steps: int, sampler: str = "heun",
               **cond) -> torch.Tensor:
        """The ODE integrated forward, data to noise (exact up to the integration error)."""
        return self._integrate(net, x0, torch.linspace(0, 1, steps + 1), sampler, **cond)


def guided(net: Net, labels: torch.Tensor, null: int, w: float) -> Net:
    """Classifier-free guidance (Ho & Salimans, 2022): `net` at `labels` and at the "no class"
    index `null`, mixed as uncond + w (cond - uncond). The same mix for noise, v and
    velocity: each is affine in the score at a fixed t, so the mix is the prediction for the
    guided score. w = 1: the conditional prediction alone; w = 0: the unconditional one."""
    def net_at(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if w == 1:
            return net(x, t, labels)
        nulls = torch.full_like(labels, null)
        if w == 0:
            return net(x, t, nulls)
        # One call on both halves: a batch of 2N costs less than two of N on any device.
        cond, uncond = net(torch.cat([x, x]), torch.cat([t, t]),
                           torch.cat([labels, nulls])).chunk(2)
        return uncond + w * (cond - uncond)

    return net_at


def process(objective: Literal["ddpm", "flow"], prediction: Literal["eps", "v"]) -> DDPM | Flow:
    return DDPM(prediction) if objective == "ddpm" else Flow()
