"""What a model can be asked to do, declared by its class, never probed.

Every model declares the generation tasks it serves (`tasks`) and, for the ones it does not,
which model does (`instead`). `generate.py`, the callbacks and the notebook ask `can(task)`
or `require(task)`; a model whose tasks depend on how it was trained (a denoiser is an
autoencoder trained with a noise corruption) says so in `available_tasks`.
"""

from typing import ClassVar

from aelab.errors import AelabError

TASKS = ("reconstruct", "sample", "interpolate", "denoise", "upscale")


class Capabilities:
    tasks: ClassVar[frozenset[str]] = frozenset()
    instead: ClassVar[dict[str, str]] = {}  # task -> the model to use for it
    # True: `sample` draws from a prior the model was trained with (a VAE's N(0, I), a code
    # prior); False: a plain autoencoder, sampled through a density fitted to its codes.
    has_prior: ClassVar[bool] = False
    # True: that prior is Gaussian noise the model maps to codes (a VAE's N(0, I) or mixture,
    # the hvae's per-group priors, the latent diffusion prior's starting noise), whose
    # standard deviation generate.py's `prior_temperature` scales.
    gaussian_prior: ClassVar[bool] = False

    def available_tasks(self) -> frozenset[str]:
        return self.tasks

    def can(self, task: str) -> bool:
        return task in self.available_tasks()

    def require(self, task: str) -> None:
        """Raise an AelabError naming what can do `task` if this model cannot."""
        if task not in TASKS:
            raise AelabError(f"task={task} is not one of: {', '.join(TASKS)}")
        if not self.can(task):
            reason = self.instead.get(task, "use a model that can")
            raise AelabError(f"task={task}: this run is a {type(self).__name__}, which cannot "
                             f"{task}; {reason}")
