"""`shapes`: a procedural RGB dataset, seeded and offline, for smoke runs and tests.

Every image is a plain background with one to three filled shapes (disc, square or
triangle) of random colour, size and position. It is easy enough to learn in seconds and
varied enough that a broken model is obvious in the reconstruction grid. Its label (for
model=classifier) is the kind of the shape drawn last, on top of the others.
"""

from typing import Annotated

import torch

from aelab.data.image import ImageDataModule
from aelab.errors import AelabError
from aelab.options import PositiveInt, Range

KINDS = ("disc", "square", "triangle")


def make_shapes(n: int, size: int = 32, seed: int = 0, max_shapes: int = 3) -> torch.Tensor:
    """`n` RGB images as uint8 (n, 3, size, size); the same seed gives the same images."""
    return make_labelled_shapes(n, size, seed, max_shapes)[0]


def make_labelled_shapes(n: int, size: int = 32, seed: int = 0,
                         max_shapes: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """The images of `make_shapes` and their labels: the index in KINDS of the top shape."""
    g = torch.Generator().manual_seed(seed)
    rand = lambda *shape: torch.rand(*shape, generator=g)  # noqa: E731
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    yy, xx = coords.view(1, size, 1), coords.view(1, 1, size)
    images = (rand(n, 3, 1, 1) * 0.5).expand(n, 3, size, size).clone()  # dark backgrounds
    count = torch.randint(1, max_shapes + 1, (n,), generator=g)
    top = torch.zeros(n, dtype=torch.long)
    for k in range(max_shapes):
        kind = torch.randint(0, 3, (n, 1, 1), generator=g)
        top = torch.where(count - 1 == k, kind.view(n), top)  # the last shape drawn
        radius = 0.08 + 0.17 * rand(n, 1, 1)
        cy, cx = rand(n, 1, 1), rand(n, 1, 1)
        dy, dx = yy - cy, xx - cx
        disc = dy**2 + dx**2 <= radius**2
        square = (dy.abs() <= radius) & (dx.abs() <= radius)
        triangle = (dy.abs() <= radius) & (dx.abs() <= (dy + radius) / 2)
        mask = torch.where(kind == 0, disc, torch.where(kind == 1, square, triangle))
        mask &= (count > k).view(n, 1, 1)
        colour = 0.3 + 0.7 * rand(n, 3, 1, 1)
        images = torch.where(mask.unsqueeze(1), colour, images)
    return (images * 255).round().to(torch.uint8), top


class ShapesDataModule(ImageDataModule):
    """Procedural shapes; train, val and test come from different seeds."""

    def __init__(self, image_size: Annotated[int, Range(ge=8)] = 32, num_train: PositiveInt = 2000,
                 num_val: PositiveInt = 256, num_test: PositiveInt = 256, **kwargs):
        if not isinstance(image_size, int) or image_size < 8:
            raise AelabError(f"data.image_size={image_size} must be an integer >= 8 for shapes")
        kwargs.pop("path", None)  # nothing to load: the images are made here
        super().__init__(image_size=image_size, **kwargs)
        self.sizes = {"train": num_train, "val": num_val, "test": num_test}

    def load_splits(self) -> dict[str, torch.Tensor]:
        limit = self.limit if self.limit is not None else float("inf")
        images = {}
        for i, (role, n) in enumerate(self.sizes.items()):
            images[role], labels = make_labelled_shapes(int(min(n, limit)), self.image_size[0],
                                                        self.seed * 3 + i)
            if self.labelled:
                self.labels[role] = labels
        self.num_classes = len(KINDS) if self.labelled else None
        return images
