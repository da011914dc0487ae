"""TensorBoard's CUSTOM SCALARS tab, laid out per model family.

Each LightningModule declares `dashboard`: {category: {chart title: [tag regexes]}}, the
curves that matter for it (train and validation on one chart where they share a unit).
This callback writes that layout, plus the timing charts every run has, into the run's
event file when fitting starts, so the tab opens on them while the run is still going.
"""

import lightning as L

from aelab.callbacks.image_grid import tensorboard_writers

TIME = {"time": {"seconds per epoch": [r"^time/(mean_)?epoch_s$"],
                 "start-up seconds": [r"^time/startup_s$"]}}


def layout_of(model: L.LightningModule) -> dict:
    """The model's declared layout with the timing charts added."""
    return {**getattr(model, "dashboard", {}), **TIME}


class CustomScalarsLayout(L.Callback):
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_rank != 0:
            return
        layout = {category: {title: ["Multiline", tags] for title, tags in charts.items()}
                  for category, charts in layout_of(pl_module).items()}
        for writer in tensorboard_writers(trainer):
            writer.add_custom_scalars(layout)
