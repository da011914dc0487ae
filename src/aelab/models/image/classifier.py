"""`model=classifier`: a conv classifier, trained for its features.

    python train.py model=classifier data=fashion_mnist trainer.max_epochs=5   # RUN
    python eval.py run_dir=<an autoencoder run> metrics.features.run=RUN        # FID / KID

Cross-entropy on (image, label) batches (the data reads labels because the class says
`needs_labels`); `val/accuracy` and `test/accuracy`. It generates nothing: its run is the
feature extractor of FID and KID for the other runs, through its net's penultimate layer
(aelab.metrics.features).
"""

from collections.abc import Callable

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from aelab.errors import AelabError
from aelab.models.capabilities import TASKS, Capabilities
from aelab.models.optim import configure
from aelab.models.stages import StepsByStage
from aelab.options import PositiveInt


class ImageClassifier(Capabilities, StepsByStage, L.LightningModule):
    modality = "image"
    needs_labels = True  # aelab.run.build_datamodule: batches are (images, labels)
    instead = {task: "a classifier generates nothing; its run measures other runs' images "
                     "(metrics.features.run=<this run>): use an autoencoder run for this"
               for task in TASKS}
    dashboard = {"classifier": {"loss": [r"^train/loss(_epoch)?$", r"^val/loss$"],
                                "accuracy": [r"^(train|val)/accuracy$"]}}

    def __init__(self, net: Callable[..., nn.Module], image_shape: tuple[int, int, int],
                 num_classes: PositiveInt, optimizer: Callable, *, depth: PositiveInt,
                 width: PositiveInt, scheduler: Callable | None = None,
                 monitor: str = "val/loss", corruption=None):
        super().__init__()
        if corruption is not None:
            raise AelabError("model=classifier learns the clean images its features will "
                             "measure; use corruption=none")
        try:
            self.net = net(image_shape=tuple(image_shape), num_classes=num_classes, depth=depth,
                           width=width)
        except ValueError as err:
            raise AelabError(f"cannot build the model for images of shape {image_shape}: {err}") from None
        self.image_shape, self.num_classes = tuple(image_shape), num_classes
        self.optimizer, self.scheduler, self.monitor = optimizer, scheduler, monitor
        # Attributes, not a ModuleDict: "train" is a Module method and cannot be a key.
        self.train_accuracy, self.val_accuracy, self.test_accuracy = (
            MulticlassAccuracy(num_classes, average="micro") for _ in range(3))

    @property
    def num_features(self) -> int:
        return self.net.num_features

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The net's penultimate layer for images in [0, 1]: (N, num_features)."""
        return self.net.features(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)

    def _step(self, batch, stage: str, batch_idx: int) -> torch.Tensor:
        images, labels = batch
        logits = self.net(images)
        loss = F.cross_entropy(logits, labels)
        self.log(f"{stage}/loss", loss, on_step=stage == "train", on_epoch=True, prog_bar=True,
                 batch_size=len(images), sync_dist=stage != "train")
        accuracy = getattr(self, f"{stage}_accuracy")
        accuracy.update(logits.detach(), labels)
        self.log(f"{stage}/accuracy", accuracy, on_step=False, on_epoch=True, prog_bar=stage != "train")
        return loss

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # What the data told the model: a run that measures images with these features
        # rebuilds the net from the checkpoint alone, without loading this run's dataset.
        checkpoint["data_facts"] = {"image_shape": list(self.image_shape),
                                    "num_classes": self.num_classes}

    def configure_optimizers(self):
        return configure(self.named_parameters(), self.optimizer, self.scheduler, self.monitor,
                         lambda: self.trainer.estimated_stepping_batches)
