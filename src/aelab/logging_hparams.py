"""TensorBoard as a researcher reads it: HPARAMS compare runs by what varies, and the CUSTOM
SCALARS tab opens on the curves that matter for the model family.

HPARAMS: Lightning's default writes an `hp_metric` placeholder and the whole config; we write,
once the test metrics exist, the keys a researcher varies (every key set on the command line
or swept, plus a short fixed list per modality) and, as metric columns, the family's test
metrics and the monitored `best/` value. What is the same in every run stays in
.hydra/config.yaml. In a sweep, settings fixed on the command line are left out too (they are
the ones train.py adds to hydra.job.config.override_dirname.exclude_keys).
"""

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger

# Always in the table, so any two runs compare on the basics; group names (model, optimizer,
# data, corruption) show the option chosen, e.g. `conv_ae`, `sgd`.
FIXED = ("model", "model.latent_dim", "model.depth", "model.width", "optimizer", "optimizer.lr",
         "data", "data.batch_size", "trainer.max_epochs", "seed")
BY_MODALITY = {"image": ("corruption",), "text": ("model.embed_dim", "data.vocab_size")}
# Never hyperparameters: where things go, and how the command line is run.
NOT_HPARAMS = ("hydra", "paths", "callbacks", "logger", "sweep", "debug", "ckpt_path", "threads",
               "trust_run_config", "optuna")


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


def command_line_keys() -> tuple[list[str], dict[str, str]]:
    """(keys set on the command line that vary, the config group choices) of this Hydra job;
    ([], {}) outside a Hydra app. In a multirun the fixed settings are not among the keys."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hydra = HydraConfig.get()
    except (ImportError, ValueError):
        return [], {}
    keys = [o.split("=", 1)[0].lstrip("+~") for o in hydra.overrides.task if "=" in o]
    if hydra.mode == RunMode.MULTIRUN:
        fixed = set(hydra.job.config.override_dirname.exclude_keys or [])
        keys = [k for k in keys if k not in fixed]
    choices = {k: v for k, v in hydra.runtime.choices.items() if isinstance(v, str)}
    return keys, choices


def select_hparams(config: dict, modality: str | None, keys: list[str],
                   choices: dict[str, str]) -> dict:
    """The table's hyperparameter columns: the fixed list for the modality plus `keys`."""
    flat = flatten(config)
    wanted = [*FIXED, *BY_MODALITY.get(modality or "", ()), *keys]
    params = {}
    for key in dict.fromkeys(wanted):
        if key.split(".", 1)[0] in NOT_HPARAMS:
            continue
        if key in choices:  # a config group: the option chosen, `sgd`
            params[key] = choices[key]
        elif isinstance(config.get(key), dict):  # outside Hydra: the class it builds
            params[key] = config[key].get("_target_", "?").rsplit(".", 1)[-1]
        elif key in flat:
            params[key] = flat[key]
    return params


def hparam_metrics(metrics: dict) -> dict:
    """The metric columns: the model family's test metrics and the monitored best value."""
    return {k: v for k, v in metrics.items()
            if k.startswith(("test/", "best/")) and isinstance(v, float)}


def mark_varied(experiment, varied: list[str]):
    """Flag the varied keys as `differs` in the experiment summary: TensorBoard sorts the
    HPARAMS columns by that flag, then by name, and shows the first ones, so the swept keys
    come first instead of whatever sorts first alphabetically."""
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    value = experiment.value[0]
    data = HParamsPluginData.FromString(value.metadata.plugin_data.content)
    for info in data.experiment.hparam_infos:
        info.differs = info.name in varied
    value.metadata.plugin_data.content = data.SerializeToString()
    return experiment


def log_hparams(trainer: L.Trainer, config: dict, metrics: dict, modality: str | None = None) -> None:
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import hparams

    keys, choices = command_line_keys()
    params = select_hparams(config, modality, keys, choices)
    # The metric values come from the scalars already logged under the same tags.
    metric_tags = hparam_metrics(metrics)
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            # The logger's own writer is closed after fit/test; a second events file in
            # the same folder is read by TensorBoard as the same run.
            with SummaryWriter(logger.log_dir) as writer:
                experiment, start, end = hparams(params, metric_tags)
                for summary in (mark_varied(experiment, keys), start, end):
                    writer.file_writer.add_summary(summary)
                for tag, value in metric_tags.items():
                    if tag.startswith("best/"):  # not logged as a scalar during the run
                        writer.add_scalar(tag, value, trainer.global_step)
