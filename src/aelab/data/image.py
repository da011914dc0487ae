"""Image data: decode once into a uint8 tensor, batch by indexing, normalise on the device.

A PIL decode per sample per epoch is what makes image loaders slow; here every image is
decoded once (and cached on disk, so the next run starts fast), batches are a single
index into an (N, C, H, W) uint8 tensor, and the float conversion happens after the
batch reached the device, where it is cheapest.
"""

import hashlib
import io
import json
import logging
from pathlib import Path
from typing import Literal

import lightning as L
import numpy as np
import torch
from PIL import Image as PILImage
from torch.utils.data import DataLoader, Dataset, Sampler

from aelab.data.hub import (
    find_column,
    first_split,
    load_splits,
    source_row,
    standard_splits,
)
from aelab.data.labels import count_classes, find_label_column, read_labels
from aelab.data.loaders import SplitLoaders, rank_and_world
from aelab.errors import AelabError
from aelab.files import atomic_write, atomic_write_text
from aelab.options import NonNegativeInt, PositiveFloat, PositiveInt

log = logging.getLogger(__name__)
MODES = {1: "L", 3: "RGB", 4: "RGBA"}


class IndexedBatches(Dataset):
    """Each item is a whole batch: the sampler hands over a list of indices. With `labels`
    (on the images' device) an item is (images, labels)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None = None):
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, indices: list[int]) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(indices, device=self.images.device)
        return self.images[index] if self.labels is None else (self.images[index], self.labels[index])


class EpochBatchSampler(Sampler[list[int]]):
    """Index batches, reshuffled per epoch from (seed, epoch), sharded across processes.

    The order depends only on the seed and the epoch number that Lightning passes to
    `set_epoch`, so a resumed run sees the same batches as an uninterrupted one, and each
    of `world_size` processes takes every world_size-th batch of the same permutation.
    """

    def __init__(self, size: int, batch_size: int, shuffle: bool, seed: int = 0,
                 drop_last: bool = False, rank: int = 0, world_size: int = 1):
        self.size, self.batch_size, self.shuffle, self.seed = size, batch_size, shuffle, seed
        self.drop_last, self.rank, self.world_size = drop_last, rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _all_batches(self) -> list[torch.Tensor]:
        if self.shuffle:
            order = torch.randperm(self.size, generator=torch.Generator().manual_seed(
                self.seed * 100_003 + self.epoch))
        else:
            order = torch.arange(self.size)
        batches = list(order.split(self.batch_size))
        if self.drop_last and len(batches) > 1 and len(batches[-1]) < self.batch_size:
            batches.pop()
        # In training every process must run the same number of steps, or DDP hangs at the
        # gradient all-reduce: the few batches that do not divide evenly wait for the next
        # epoch's shuffle. Evaluation has no per-step collective, so there every example is
        # scored once and a process may run one batch fewer than another.
        if self.shuffle and self.world_size > 1:
            batches = batches[:len(batches) - len(batches) % self.world_size]
        return batches

    def __iter__(self):
        for batch in self._all_batches()[self.rank::self.world_size]:
            yield batch.tolist()

    def __len__(self) -> int:
        return len(self._all_batches()[self.rank::self.world_size])


def batch_loader(images: torch.Tensor, batch_size: int, shuffle: bool, seed: int,
                 num_workers: int = 0, pin_memory: bool = False, rank: int = 0,
                 world_size: int = 1, labels: torch.Tensor | None = None) -> DataLoader:
    # Drop the ragged last batch in training only: BatchNorm dislikes a batch of one.
    sampler = EpochBatchSampler(len(images), batch_size, shuffle, seed, drop_last=shuffle,
                                rank=rank, world_size=world_size)
    return DataLoader(IndexedBatches(images, labels), sampler=sampler, batch_size=None,
                      num_workers=num_workers, pin_memory=pin_memory,
                      persistent_workers=num_workers > 0)


def _open(cell: dict, row: int) -> PILImage.Image:
    if cell is None:
        raise ValueError("empty cell")
    if cell.get("bytes"):
        return PILImage.open(io.BytesIO(cell["bytes"]))
    if cell.get("path"):
        return PILImage.open(cell["path"])
    raise ValueError("no bytes and no path")


def decode_images(ds, column: str, image_size: list[int] | None, channels: int | None,
                  on_bad_rows: str = "error", data_path: str | None = None,
                  ) -> tuple[torch.Tensor, list[int]]:
    """Decode column `column` of a `datasets.Dataset` into a uint8 (N, C, H, W) tensor; and
    the rows dropped as undecodable (`on_bad_rows=skip`), which labels must drop too.
    Errors name a row by its file and its own row there (`data_path`: the local folder)."""
    from datasets import Image

    def where(row: int) -> str:
        return source_row(named, row, data_path)

    named = ds
    ds = ds.cast_column(column, Image(decode=False)).select_columns([column])
    out, mode, bad, kept = None, None, [], 0
    for start in range(0, len(ds), 1000):
        for offset, cell in enumerate(ds[start:start + 1000][column]):
            row = start + offset
            try:
                img = _open(cell, row)
                if mode is None:  # the first image decides: grayscale stays 1 channel
                    gray = img.mode in ("1", "L", "I", "I;16", "F", "LA")
                    mode = MODES[channels] if channels else ("L" if gray else "RGB")
                img = img.convert(mode)
                if image_size:
                    img = img.resize((image_size[1], image_size[0]), PILImage.Resampling.BICUBIC)
                arr = np.asarray(img)
            except Exception as err:  # noqa: BLE001 - any decode failure is a bad row
                if on_bad_rows != "skip":
                    raise AelabError(f"{where(row)} (column {column!r}) cannot be decoded as an "
                                     f"image ({err}); fix the row, or set data.on_bad_rows=skip "
                                     "to drop such rows") from None
                bad.append(row)
                continue
            arr = arr[:, :, None] if arr.ndim == 2 else arr
            if out is None:
                out = np.empty((len(ds), *arr.shape), np.uint8)
            elif arr.shape[2] != out.shape[3]:  # resizing would not help: converting does
                raise AelabError(f"images have different channel counts: {where(row)} has "
                                 f"{arr.shape[2]}, earlier rows have {out.shape[3]}; set "
                                 "data.channels=3 (RGB) or data.channels=1 (grayscale) to "
                                 "convert them all")
            elif arr.shape != out.shape[1:]:
                raise AelabError(f"images have different sizes: {where(row)} is {arr.shape[1]}x"
                                 f"{arr.shape[0]}, earlier rows are {out.shape[2]}x{out.shape[1]}"
                                 "; set data.image_size=<pixels> to resize them all")
            out[kept] = arr
            kept += 1
    if bad:
        log.warning("skipped %d undecodable rows of %d (data.on_bad_rows=skip), first: %s",
                    len(bad), len(ds), bad[:5])
    if out is None or kept == 0:
        raise AelabError(f"no decodable images in column {column!r}")
    return torch.from_numpy(out[:kept]).permute(0, 3, 1, 2).contiguous(), bad


class ImageDataModule(SplitLoaders, L.LightningDataModule):
    """Images from a hub id or local folder (`path`, `name`), as uint8 tensors in memory.

    Batches leave the loader as uint8 (N, C, H, W) and become float in [0, 1] on the
    device in `on_after_batch_transfer`, where training batches are augmented if `augment`
    says so (`flips`: flips and quarter turns; `flips_channels`: and a random colour-channel
    order) and, with `crop`, cut to `crop` x `crop` px at a random place per image (the
    random training patches of the restoration papers; validation and test images stay whole,
    which a fully convolutional net takes). `batch_size` is per device. After
    `request_labels()` (the run calls it for a model that needs labels) batches are
    (images, labels), from `label_column`.
    """

    modality = "image"

    def __init__(self, path: str | None = None, name: str | None = None,
                 image_column: str | None = None,
                 image_size: PositiveInt | list[PositiveInt] | None = None,
                 channels: Literal[1, 3, 4] | None = None, val_size: PositiveFloat = 0.1,
                 limit: PositiveInt | None = None, batch_size: PositiveInt = 128,
                 num_workers: NonNegativeInt = 0, seed: NonNegativeInt = 0,
                 cache_dir: str | None = None, on_bad_rows: Literal["error", "skip"] = "error",
                 pin_memory: bool = False, on_device: bool | Literal["auto"] = "auto",
                 augment: Literal["none", "flips", "flips_channels"] = "none",
                 crop: PositiveInt | None = None, label_column: str | None = None):
        super().__init__()
        if on_bad_rows not in ("error", "skip"):
            raise AelabError(f"data.on_bad_rows={on_bad_rows} is not one of: error, skip")
        if channels not in (None, 1, 3, 4):
            raise AelabError(f"data.channels={channels} is not one of: null (auto), 1, 3, 4")
        self.path, self.name, self.image_column = path, name, image_column
        self.image_size = [image_size, image_size] if isinstance(image_size, int) else (
            list(image_size) if image_size else None)
        self.channels, self.val_size, self.limit = channels, val_size, limit
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else None
        self.on_bad_rows, self.pin_memory = on_bad_rows, pin_memory
        if on_device not in (True, False, "auto"):
            raise AelabError(f"data.on_device={on_device} is not one of: auto, true, false")
        self.on_device, self.augment, self.crop = on_device, augment, crop
        self.splits: dict[str, torch.Tensor] | None = None
        self.device_splits: dict[str, torch.Tensor] = {}
        self.label_column = label_column
        # Filled by load_splits after request_labels(): int64 labels per split, class count.
        self.labelled = False
        self.labels: dict[str, torch.Tensor] = {}
        self.num_classes: int | None = None

    def request_labels(self) -> None:
        """Batches become (images, labels): for a model that needs class labels."""
        if self.splits is not None:
            raise RuntimeError("request_labels() must come before the splits are loaded")
        self.labelled = True

    # -- loading ---------------------------------------------------------------------------
    def load_splits(self) -> dict[str, torch.Tensor]:
        """train / val / test as uint8 (N, C, H, W) tensors; subclasses make their own."""
        splits = load_splits(self.path, self.name)
        # The column first: a folder without images fails here, named, not in the splitting.
        features = first_split(splits).features
        column = find_column(features, self.image_column, "Image", "data.image_column")
        label_column = find_label_column(features, self.label_column) if self.labelled else None
        datasets = standard_splits(splits, self.val_size, self.seed, self.limit)
        images = {}
        for role, ds in datasets.items():
            images[role], skipped = self._decode_cached(ds, column)
            if label_column:
                self.labels[role] = read_labels(ds, label_column, skipped)
        if label_column:
            self.num_classes = count_classes(features[label_column], list(self.labels.values()))
        return images

    def _decode_cached(self, ds, column: str) -> tuple[torch.Tensor, list[int]]:
        """The split's images, decoded once and cached, and the rows dropped as undecodable."""
        if self.cache_dir is None:
            return decode_images(ds, column, self.image_size, self.channels, self.on_bad_rows,
                                 self.path)
        key = json.dumps([ds._fingerprint, column, self.image_size, self.channels,
                          self.on_bad_rows])
        file = self.cache_dir / f"images-{hashlib.sha1(key.encode()).hexdigest()[:16]}.pt"
        # The dropped rows beside the images (only when there are any), so labels can drop
        # them too; the images file is what it always was.
        skipped_file = file.with_suffix(".skipped.json")
        if file.exists():
            images = torch.load(file, weights_only=True)
            if len(images) == len(ds):
                return images, []
            if skipped_file.exists():
                return images, json.loads(skipped_file.read_text())
            # Cached before dropped rows were recorded: decode again, once, to learn them.
        images, skipped = decode_images(ds, column, self.image_size, self.channels,
                                        self.on_bad_rows, self.path)
        file.parent.mkdir(parents=True, exist_ok=True)
        if skipped:
            atomic_write_text(skipped_file, json.dumps(skipped))
        # A temporary file of this writer's own: runs started side by side (a parallel sweep)
        # decode the same split at once, and each renames only what it wrote; a killed run
        # never leaves half a cache file.
        atomic_write(file, lambda f: torch.save(images, f))
        return images, skipped

    def prepare_data(self) -> None:
        # Decoding fills the on-disk cache; setup() then reads it (fast) on every process.
        if self.splits is None:
            self.splits = self.load_splits()

    def setup(self, stage: str | None = None) -> None:
        if self.splits is None:
            self.splits = self.load_splits()
        shapes = {role: tuple(t.shape[1:]) for role, t in self.splits.items()}
        if len({shape[0] for shape in shapes.values()}) != 1:  # (C, H, W)
            raise AelabError(f"splits have different channel counts {shapes}; set "
                             "data.channels=3 (RGB) or data.channels=1 (grayscale) to convert "
                             "them all")
        if len(set(shapes.values())) != 1:
            raise AelabError(f"splits have different image shapes {shapes}; set "
                             "data.image_size=<pixels> to resize them all")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        if self.splits is None:
            raise RuntimeError("call setup() before asking for image_shape")
        return tuple(self.splits["train"].shape[1:])

    # -- batches ---------------------------------------------------------------------------
    def _loader(self, role: str, shuffle: bool) -> DataLoader:
        # Under DDP each process takes its own share of the batches (see EpochBatchSampler).
        rank, world = rank_and_world(self.trainer)
        images = self.images_on_device(role)
        on_gpu = images.device.type != "cpu"
        labels = self.labels[role].to(images.device) if self.labelled else None
        return batch_loader(images, self.batch_size, shuffle, self.seed,
                            0 if on_gpu else self.num_workers, self.pin_memory and not on_gpu,
                            rank, world, labels)

    def images_on_device(self, role: str) -> torch.Tensor:
        """The split where batches are cut: in GPU memory when `on_device` allows (the uint8
        copy of CIFAR-10's train split is 150 MB), so a batch never crosses the PCIe bus;
        in host memory otherwise."""
        device = self.trainer.strategy.root_device if self.trainer else torch.device("cpu")
        if self.on_device is False or device.type != "cuda":
            return self.splits[role]
        if role not in self.device_splits:
            images = self.splits[role]
            free = torch.cuda.mem_get_info(device)[0]
            if self.on_device == "auto" and images.nbytes > free // 4:
                log.info("data.on_device=auto: the %s split (%.0f MB) stays in host memory; "
                         "%.0f MB of GPU memory are free", role, images.nbytes / 2**20, free / 2**20)
                return images
            self.device_splits[role] = images.to(device)
        return self.device_splits[role]


    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        if self.labelled:
            images, labels = batch
            return self._float_images(images), labels
        return self._float_images(batch)

    def _float_images(self, batch: torch.Tensor) -> torch.Tensor:
        images = to_unit_float(batch)
        if self.trainer is None or not self.trainer.training:
            return images
        if self.augment != "none":
            images = augment(images, channels=self.augment == "flips_channels")
        if self.crop is not None:
            images = random_crop(images, self.crop)
        return images

    def examples(self, role: str, n: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """The first `n` images of a split as floats in [0, 1], for grids and generation."""
        return to_unit_float(self.splits[role][:n].to(device))


def augment(images: torch.Tensor, channels: bool) -> torch.Tensor:
    """Training batches, each image independently: one of the 8 flips and quarter turns
    (transposes where the image is square), and with `channels` a random order of its
    colour channels, so a net learns structure rather than the few photos' colours (the
    restoration papers' augmentation; EDSR, DnCNN). On the device, from the global RNG."""
    n = len(images)

    def pick(p: float = 0.5) -> torch.Tensor:
        return (torch.rand(n, device=images.device) < p).view(n, 1, 1, 1)

    images = torch.where(pick(), images.flip(-1), images)
    images = torch.where(pick(), images.flip(-2), images)
    if images.shape[-1] == images.shape[-2]:
        images = torch.where(pick(), images.transpose(-1, -2), images)
    if channels and images.shape[1] > 1:
        order = torch.rand(n, images.shape[1], device=images.device).argsort(1)
        images = images.gather(1, order[:, :, None, None].expand_as(images))
    return images.contiguous()


def random_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """A `size` x `size` window of each image at its own random place (global RNG, on the
    device). More distinct training pairs than whole patches: for super-resolution each
    offset puts the low-resolution grid at another phase of the image."""
    n, channels, height, width = images.shape
    if size > height or size > width:
        raise AelabError(f"data.crop={size} is larger than the {height}x{width} px images; "
                         f"set data.crop to at most {min(height, width)} or null (no cropping)")
    if size == height == width:
        return images
    device = images.device
    top = torch.randint(0, height - size + 1, (n, 1), device=device)
    left = torch.randint(0, width - size + 1, (n, 1), device=device)
    steps = torch.arange(size, device=device)
    rows, cols = top + steps, left + steps  # (n, size) each
    return images[torch.arange(n, device=device)[:, None, None, None],
                  torch.arange(channels, device=device)[None, :, None, None],
                  rows[:, None, :, None], cols[:, None, None, :]].contiguous()


def to_unit_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [0, 1]; floats pass through untouched."""
    return images.float().div_(255) if images.dtype == torch.uint8 else images
