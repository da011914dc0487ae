"""FID, KID, precision and recall in the test stage, in the features `metrics.features` picks.

    test/rfid_<name>                 the reconstructions of the test inputs (every model that
                                     reconstructs; with a corruption, of the corrupted inputs)
    test/fid_<name>, test/kid_<name>, test/kid_<name>_std
                                     `metrics.num_samples` samples (the models that sample)
    test/precision_<name>, test/recall_<name>
                                     the same samples' fidelity and coverage apart
                                     (Kynkäänniemi et al., 2019; k = metrics.neighbours)
    test/class_accuracy_<name>       a class-conditional prior's guided samples (as many, the
                                     classes in equal shares) that the classifier of the
                                     features (a model=classifier run) puts in their class

each against the test images. train.py computes them when it tests the best checkpoint, and
`eval.py run_dir=RUN metrics.features.run=CLASSIFIER_RUN` on a run trained before (with
`prior_temperature=T`, of samples drawn at T times a Gaussian prior's spread).
"""

import lightning as L
import torch

from aelab.errors import AelabError
from aelab.generation.image import sample_batches
from aelab.metrics.features import FeatureExtractor
from aelab.metrics.fid import FeatureDistances


class GenerativeMetrics(L.Callback):
    def __init__(self, extractor: FeatureExtractor, num_samples: int | None, seed: int,
                 neighbours: int = 3, temperature: float = 1.0):
        self.extractor, self.num_samples, self.seed = extractor, num_samples, seed
        self.neighbours, self.temperature = neighbours, temperature
        self.distances: FeatureDistances | None = None
        self.real = 0

    @classmethod
    def for_model(cls, extractor: FeatureExtractor, model: L.LightningModule,
                  datamodule: L.LightningDataModule, num_samples: int | None,
                  seed: int, neighbours: int = 3, temperature: float = 1.0) -> "GenerativeMetrics":
        """The callback for `model`, or a clear error when there is nothing to measure."""
        name = type(model).__name__
        if getattr(model, "modality", None) != "image":
            raise AelabError(f"metrics.features: FID and KID measure images, and {name} is a "
                             f"{model.modality} model; measure an image run, or set no features")
        if not (model.can("reconstruct") or model.can("sample")):
            raise AelabError(f"metrics.features: {name} neither reconstructs nor samples, so "
                             "it has no images to measure; measure an autoencoder's run, or set "
                             "no features")
        extractor.check_images(tuple(datamodule.image_shape))
        check_classes(extractor, model)  # before it trains, not after
        return cls(extractor, num_samples, seed, neighbours, temperature)

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Fresh sums for every test run, beside the model on its device.
        self.distances = FeatureDistances(self.extractor, pl_module.can("reconstruct"),
                                          pl_module.can("sample"),
                                          self.neighbours).to(pl_module.device)
        self.real = 0

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int,
                          dataloader_idx: int = 0) -> None:
        distances = self.distances
        # Labelled data (a class-conditional prior's) comes as (images, labels).
        images = batch[0] if isinstance(batch, list | tuple) else batch
        distances.update_real(images)
        if distances.rfid is not None:
            # The input test_step scored: the same seeded corruption of this batch.
            inputs = pl_module.step_source(images, "test", batch_idx)
            distances.update_reconstructions(pl_module(inputs).clamp(0, 1))
        self.real += len(images)

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        distances = self.distances
        if distances.fid is not None:
            n = self.share(trainer)
            # Batches the size the data was batched in: what the user sized for the device.
            batch_size = getattr(trainer.datamodule, "batch_size", 256)
            for images in sample_batches(pl_module, trainer.datamodule, n, self.seed, batch_size,
                                         self.temperature, stream=trainer.global_rank):
                distances.update_samples(images)
            accuracy = self.class_accuracy(trainer, pl_module, n, batch_size)
            if accuracy is not None:
                pl_module.log(f"test/class_accuracy_{self.extractor.name}", accuracy, sync_dist=True)
        devices = [pl_module.device] if pl_module.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed)  # KID's subsets are drawn at random
            values = distances.compute()
        for key, value in values.items():
            suffix = "_std" if key.endswith("_std") else ""
            # Every process has the same value (the metrics gathered their states first):
            # sync_dist averages equal numbers, and Lightning asks for it under DDP.
            pl_module.log(f"test/{key.removesuffix('_std')}_{self.extractor.name}{suffix}", value,
                          sync_dist=True)
        self.distances = None  # the sums and KID's features are not needed any more

    @torch.no_grad()
    def class_accuracy(self, trainer, pl_module, n: int, batch_size: int) -> float | None:
        """The share of n guided samples of a class-conditional prior (the classes in equal
        shares, at the model's `guidance`) that the features' classifier puts in their class;
        None for an unconditional model or features that are not a classifier's."""
        classifier = getattr(self.extractor, "classifier", None)
        classes = getattr(pl_module, "num_classes", 0)
        if classifier is None or not classes or not n:
            return None
        check_classes(self.extractor, pl_module)
        labels = pl_module.class_labels("all", n)
        right, start = 0, 0
        # Another seed than the unconditional samples': these are other draws.
        for images in sample_batches(pl_module, trainer.datamodule, n, self.seed + 1, batch_size,
                                     self.temperature, stream=trainer.global_rank, labels=labels):
            given = labels[start:start + len(images)]
            right += int((classifier(images).argmax(1) == given).sum())
            start += len(images)
        return right / n

    def share(self, trainer: L.Trainer) -> int:
        """This process's part of the samples: `num_samples` over the processes, or as many
        as the test images it scored."""
        if self.num_samples is None:
            return self.real
        n, world, rank = self.num_samples, trainer.world_size, trainer.global_rank
        return n // world + (rank < n % world)


def check_classes(extractor: FeatureExtractor, model: L.LightningModule) -> None:
    """A conditional prior's guided samples are scored by the features' classifier: it must
    know the same classes."""
    classifier = getattr(extractor, "classifier", None)
    classes = getattr(model, "num_classes", 0)
    if classifier is not None and classes and classifier.num_classes != classes:
        raise AelabError(f"metrics.features.run={extractor.run} is a classifier of "
                         f"{classifier.num_classes} classes and this prior is conditioned on "
                         f"{classes}: use a classifier trained on the same labels")
