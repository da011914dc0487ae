"""Hyperparameters and final metrics in TensorBoard's HPARAMS tab.

Lightning's default writes an `hp_metric` placeholder at the start; we instead write the
flattened run config once the test metrics exist, so the tab compares runs by them.
"""

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger


def flatten(config: dict, prefix: str = "") -> dict:
    """{'model': {'latent_dim': 32}} -> {'model.latent_dim': 32}, values as TB accepts them."""
    out = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, bool | int | float | str):
            out[name] = value
        else:  # None, lists: shown as text
            out[name] = str(value)
    return out


def log_hparams(trainer: L.Trainer, config: dict, metrics: dict) -> None:
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import hparams

    # Paths and callback settings only clutter the table.
    params = {k: v for k, v in flatten(config).items()
              if not k.startswith(("paths.", "callbacks.", "logger.", "hydra."))}
    # The metric values come from the scalars already logged under the same tags.
    metric_tags = {k: v for k, v in metrics.items() if "/" in k and isinstance(v, float)}
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            # The logger's own writer is closed after fit/test; a second events file in
            # the same folder is read by TensorBoard as the same run.
            with SummaryWriter(logger.log_dir) as writer:
                for summary in hparams(params, metric_tags):
                    writer.file_writer.add_summary(summary)
                for tag, value in metric_tags.items():
                    if tag.startswith("best/"):  # not logged as a scalar during the run
                        writer.add_scalar(tag, value, trainer.global_step)
