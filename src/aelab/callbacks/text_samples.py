"""Sentences in TensorBoard's text tab every validation epoch: reconstructions of
validation sentences and samples, for whatever the text model can do."""

import lightning as L
import torch

from aelab.callbacks.image_grid import tensorboard_writers
from aelab.options import PositiveInt


class TextSamples(L.Callback):
    def __init__(self, num_sentences: PositiveInt = 8, seed: int = 0):
        self.num_sentences, self.seed = num_sentences, seed

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        writers = tensorboard_writers(trainer)
        if (trainer.sanity_checking or not writers
                or pl_module.modality != "text"):
            return
        datamodule = trainer.datamodule
        batch = {k: v.to(pl_module.device) for k, v in
                 datamodule.examples("val", self.num_sentences).items()}
        lines = []
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            if pl_module.can("reconstruct"):
                for ids_in, ids_out in zip(batch["tokens"][:, 1:], pl_module.reconstruct(batch),
                                           strict=True):
                    lines.append(f"- {datamodule.decode(ids_in)}  \n  → {datamodule.decode(ids_out)}")
            if pl_module.can("sample"):
                lines += [f"- sample: {datamodule.decode(ids)}"
                          for ids in pl_module.sample(self.num_sentences)]
        for writer in writers:
            writer.add_text("val/sentences", "\n".join(lines), trainer.global_step)
