"""Image data through the hub code path, the shapes dataset, and the batch loader."""

import pytest
import torch

from aelab.data.image import ImageDataModule, batch_loader, to_unit_float
from aelab.data.synthetic import ShapesDataModule, make_shapes
from aelab.errors import AelabError
from tests.conftest import write_image_parquet


def test_local_parquet_loads_through_load_dataset(parquet_images, tmp_path):
    dm = ImageDataModule(path=str(parquet_images), val_size=0.25, cache_dir=str(tmp_path / "c"))
    dm.setup("fit")
    sizes = {role: len(t) for role, t in dm.splits.items()}
    # No validation split in the folder: a quarter of train, never test.
    assert sizes == {"train": 45, "val": 15, "test": 20}
    assert dm.image_shape == (1, 28, 28)
    assert dm.splits["train"].dtype == torch.uint8


def test_decoded_images_are_cached_and_reused(parquet_images, tmp_path):
    cache = tmp_path / "cache"
    first = ImageDataModule(path=str(parquet_images), cache_dir=str(cache))
    first.setup()
    files = sorted(cache.glob("images-*.pt"))
    assert len(files) == 3
    stamps = [f.stat().st_mtime_ns for f in files]
    second = ImageDataModule(path=str(parquet_images), cache_dir=str(cache))
    second.setup()
    assert [f.stat().st_mtime_ns for f in files] == stamps  # read, not rewritten
    assert torch.equal(first.splits["val"], second.splits["val"])


def test_two_runs_filling_the_same_cache_at_once_both_succeed(parquet_images, tmp_path,
                                                              monkeypatch):
    """Runs started side by side decode the same split at once: here the second one writes
    and renames its cache file while the first is between writing and renaming its own."""
    import aelab.data.image as image_data

    cache, save, inside = tmp_path / "cache", torch.save, []

    def save_then_let_the_other_run_write(obj, path):
        save(obj, path)
        if not inside:
            inside.append(True)
            ImageDataModule(path=str(parquet_images), cache_dir=str(cache)).setup()

    monkeypatch.setattr(image_data.torch, "save", save_then_let_the_other_run_write)
    dm = ImageDataModule(path=str(parquet_images), cache_dir=str(cache))
    dm.setup()
    assert inside and sorted(p.suffix for p in cache.iterdir()) == [".pt"] * 3  # no .tmp left


def test_validation_slice_is_seeded(parquet_images):
    a = ImageDataModule(path=str(parquet_images), seed=1)
    b = ImageDataModule(path=str(parquet_images), seed=1)
    c = ImageDataModule(path=str(parquet_images), seed=2)
    for dm in (a, b, c):
        dm.setup()
    assert torch.equal(a.splits["val"], b.splits["val"])
    assert not torch.equal(a.splits["val"], c.splits["val"])


def test_resize_channels_and_limit(tmp_path):
    folder = write_image_parquet(tmp_path / "rgb", {"train": 20, "test": 8}, shape=(40, 30),
                                 mode="RGB")
    dm = ImageDataModule(path=str(folder), image_size=16, channels=1, limit=5, val_size=0.5)
    dm.setup()
    assert dm.image_shape == (1, 16, 16)
    assert {len(t) for t in dm.splits.values()} == {5}


def test_image_column_found_by_type_or_named(tmp_path):
    folder = write_image_parquet(tmp_path / "img", {"train": 10, "test": 4}, column="img")
    dm = ImageDataModule(path=str(folder))
    dm.setup()
    assert dm.image_shape == (1, 28, 28)
    with pytest.raises(AelabError, match="data.image_column=photo is not a column"):
        ImageDataModule(path=str(folder), image_column="photo").setup()


def test_offline_hub_id_names_the_offline_options(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    dm = ImageDataModule(path="nobody-has/this-dataset-cached")
    with pytest.raises(AelabError, match=r"data=shapes.*data.path=<local folder>"):
        dm.setup()


def test_missing_local_folder_is_named(tmp_path):
    with pytest.raises(AelabError, match="does not exist"):
        ImageDataModule(path=str(tmp_path / "nowhere")).setup()


def test_shapes_are_seeded_rgb_uint8():
    a, b = make_shapes(8, 32, seed=3), make_shapes(8, 32, seed=3)
    assert a.shape == (8, 3, 32, 32) and a.dtype == torch.uint8
    assert torch.equal(a, b)
    assert not torch.equal(a, make_shapes(8, 32, seed=4))
    assert a.float().std() > 20  # shapes on backgrounds, not flat images


def test_shapes_datamodule_splits_differ():
    dm = ShapesDataModule(image_size=24, num_train=10, num_val=4, num_test=4)
    dm.setup()
    assert dm.image_shape == (3, 24, 24)
    assert not torch.equal(dm.splits["val"], dm.splits["test"])


def test_batch_loader_indexes_whole_batches_and_covers_every_image():
    images = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1)
    batches = list(batch_loader(images, batch_size=4, shuffle=False, seed=0))
    assert [len(b) for b in batches] == [4, 4, 2]
    shuffled = torch.cat(list(batch_loader(images, batch_size=3, shuffle=True, seed=0)))
    assert len(shuffled) == 9  # training drops the ragged last batch
    assert len(set(shuffled.flatten().tolist())) == 9


def test_to_unit_float():
    x = torch.tensor([0, 255], dtype=torch.uint8)
    assert to_unit_float(x).tolist() == [0.0, 1.0]


def test_epoch_batch_sampler_reshuffles_per_epoch_and_repeats_per_seed():
    from aelab.data.image import EpochBatchSampler

    sampler = EpochBatchSampler(20, 5, shuffle=True, seed=7)
    first = list(sampler)
    sampler.set_epoch(1)
    second = list(sampler)
    assert first != second
    again = EpochBatchSampler(20, 5, shuffle=True, seed=7)
    again.set_epoch(1)
    assert list(again) == second  # a resumed run sees the same batches


def test_epoch_batch_sampler_shards_disjointly_across_processes():
    from aelab.data.image import EpochBatchSampler

    shards = [list(EpochBatchSampler(22, 4, True, seed=0, drop_last=True, rank=r, world_size=2))
              for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 2  # 5 full batches of 4 -> 4 usable
    seen = [i for shard in shards for batch in shard for i in batch]
    assert len(seen) == len(set(seen)) == 16


def test_evaluation_shards_score_every_example_once():
    from aelab.data.image import EpochBatchSampler
    from aelab.data.text import BucketBatchSampler

    shards = [list(EpochBatchSampler(22, 4, False, rank=r, world_size=2)) for r in range(2)]
    assert [len(s) for s in shards] == [3, 3]  # 6 batches: 5 of 4 and one of 2
    assert sorted(i for shard in shards for batch in shard for i in batch) == list(range(22))
    samplers = [BucketBatchSampler([3] * 21, 4, False, rank=r, world_size=2) for r in range(2)]
    assert [len(s) for s in samplers] == [3, 3]
    assert sorted(i for s in samplers for batch in s for i in batch) == list(range(21))
    odd = [EpochBatchSampler(20, 4, False, rank=r, world_size=2) for r in range(2)]
    assert [len(s) for s in odd] == [3, 2]  # one process runs one batch fewer: fine in eval


def test_augmentation_moves_pixels_as_a_flip_turn_or_channel_order_would():
    from aelab.data.image import augment

    torch.manual_seed(0)
    images = torch.rand(64, 3, 8, 8)
    out = augment(images, channels=True)
    for x, y in zip(images, out, strict=True):  # each image: one of the 8 x 6 transforms of itself
        variants = [v[list(p)] for k in range(4) for v in (x.rot90(k, (1, 2)), x.flip(2).rot90(k, (1, 2)))
                    for p in ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))]
        assert any(torch.equal(y, v) for v in variants)
    changed = [not torch.equal(x, y) for x, y in zip(images, out, strict=True)]
    assert 50 < sum(changed) < 64  # most images are changed, some come back as they were
    # Only training batches: outside training (here, no trainer at all) a batch is untouched.
    from aelab.data.image import ImageDataModule

    module = ImageDataModule(path="unused", augment="flips_channels")
    batch = (images * 255).round().byte()
    assert torch.equal(module.on_after_batch_transfer(batch, 0), batch.float() / 255)


def test_random_crop_cuts_a_window_of_each_image_at_its_own_place():
    from aelab.data.image import random_crop

    torch.manual_seed(0)
    images = torch.arange(40 * 2 * 8 * 10, dtype=torch.float32).view(40, 2, 8, 10)
    out = random_crop(images, 4)
    assert out.shape == (40, 2, 4, 4)
    places = set()
    for x, y in zip(images, out, strict=True):  # y is x[:, t:t+4, l:l+4] for some t, l
        hits = [(t, left) for t in range(5) for left in range(7)
                if torch.equal(y, x[:, t:t + 4, left:left + 4])]
        assert len(hits) == 1
        places.add(hits[0])
    assert len(places) > 15  # the places differ between images (35 possible)
    square = images[:, :, :8, :8]
    assert torch.equal(random_crop(square, 8), square)  # the whole image: allowed, unchanged
    with pytest.raises(AelabError, match=r"data.crop=9 is larger than the 8x10 px images"):
        random_crop(images, 9)


def test_crop_cuts_training_batches_only():
    module = ImageDataModule(path="unused", crop=4)
    batch = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8)
    assert module.on_after_batch_transfer(batch, 0).shape == (6, 3, 8, 8)  # no trainer: whole

    class Training:
        training = True

    module.trainer = Training()  # what Lightning sets; only `training` is read
    assert module.on_after_batch_transfer(batch, 0).shape == (6, 3, 4, 4)


# -- labels, read only for a model that needs them (model=classifier) ------------------------
def test_labels_come_from_the_label_column_beside_their_images(tmp_path):
    # Row 3 of the test split cannot be decoded: its label goes with it.
    folder = write_image_parquet(tmp_path / "bad", {"train": 20, "test": 6}, bad_rows=(3,))
    for _ in range(2):  # decoded, then from the cache
        dm = ImageDataModule(path=str(folder), val_size=4, on_bad_rows="skip",
                             cache_dir=str(tmp_path / "cache"))
        dm.request_labels()
        dm.setup()
        assert dm.labels["test"].tolist() == [0, 1, 0, 0, 1]  # rows 0 1 2 4 5, class i % 2
        assert {r: len(t) for r, t in dm.labels.items()} == {r: len(t) for r, t in dm.splits.items()}
        assert dm.num_classes == 2  # the ClassLabel's
    images, labels = next(iter(dm.test_dataloader()))
    assert images.dtype == torch.uint8 and labels.tolist() == [0, 1, 0, 0, 1]
    images, labels = dm.on_after_batch_transfer((images, labels), 0)
    assert images.dtype == torch.float32 and images.max() <= 1


def test_asking_for_labels_leaves_the_image_cache_as_it_was(parquet_images, tmp_path):
    cache = tmp_path / "cache"
    plain = ImageDataModule(path=str(parquet_images), cache_dir=str(cache))
    plain.setup()
    files = sorted(cache.iterdir())
    stamps = [f.stat().st_mtime_ns for f in files]
    labelled = ImageDataModule(path=str(parquet_images), cache_dir=str(cache))
    labelled.request_labels()
    labelled.setup()
    assert sorted(cache.iterdir()) == files and [f.stat().st_mtime_ns for f in files] == stamps
    assert torch.equal(plain.splits["train"], labelled.splits["train"])
    assert isinstance(next(iter(plain.train_dataloader())), torch.Tensor)  # images only


def test_a_dataset_without_labels_names_the_option(tmp_path):
    folder = write_image_parquet(tmp_path / "unlabelled", {"train": 10, "test": 4}, labels=False)
    dm = ImageDataModule(path=str(folder))
    dm.request_labels()
    with pytest.raises(AelabError, match=r"no label column.*data.label_column=<column>"):
        dm.setup()
    named = ImageDataModule(path=str(folder), label_column="image")
    named.request_labels()
    with pytest.raises(AelabError, match="column 'image' holds .*not class indices"):
        named.setup()
    missing = ImageDataModule(path=str(folder), label_column="class")
    missing.request_labels()
    with pytest.raises(AelabError, match="data.label_column=class is not a column"):
        missing.setup()


def test_shapes_are_labelled_by_the_kind_of_the_top_shape():
    from aelab.data.synthetic import KINDS, make_labelled_shapes

    images, labels = make_labelled_shapes(300, 32, seed=3)
    assert torch.equal(images, make_shapes(300, 32, seed=3))  # the same images as ever
    assert sorted(labels.unique().tolist()) == list(range(len(KINDS)))
    # One shape alone on its background: of the same radius r, a square covers 4 r^2, a disc
    # pi r^2 and a triangle 2 r^2, so the mean area per label follows the kind.
    alone, kinds = make_labelled_shapes(400, 32, seed=0, max_shapes=1)
    background = alone[:, :, :1, :1]  # the corner is background for most images
    area = (alone != background).any(1).flatten(1).float().sum(1)
    mean = [area[kinds == k].mean() for k in range(3)]
    assert mean[1] > mean[0] > mean[2], mean
    dm = ShapesDataModule(image_size=16, num_train=10, num_val=4, num_test=4)
    dm.request_labels()
    dm.setup()
    assert dm.num_classes == 3 and len(dm.labels["val"]) == 4
