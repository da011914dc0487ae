"""A run directory, read: its saved config, its checkpoints, the model it holds.

Used by eval, generate and the notebook (through `aelab.run`) and by models built on another
run (the VQ-VAE code prior, the latent diffusion prior), which must not import the training entry points.
"""

import logging
from pathlib import Path

import lightning as L
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from aelab.checkpoint import load_checkpoint
from aelab.errors import AelabError
from aelab.legacy import upgrade
from aelab.saved_config import pin_paths, refuse_unknown_targets

log = logging.getLogger(__name__)


def instantiate_model(cfg: DictConfig, **facts) -> L.LightningModule:
    """The model of `cfg`, completed with the data facts (image shape, vocabulary size), the
    optimizer and scheduler partials and the corruption of the input, if any."""
    scheduler = instantiate(cfg.scheduler) if cfg.get("scheduler") else None
    if cfg.get("corruption"):
        facts["corruption"] = instantiate_checked(cfg.corruption)
    return instantiate_checked(cfg.model, **facts, optimizer=instantiate(cfg.optimizer),
                               scheduler=scheduler, monitor=cfg.monitor.metric)


def instantiate_checked(node: DictConfig, **kwargs):
    """`instantiate`, but a user mistake found in a constructor surfaces as itself."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as err:
        if isinstance(err.__cause__, AelabError):  # say the user's mistake, not Hydra's wrapper
            raise err.__cause__ from None
        raise


def best_checkpoint(run_dir: Path, which: str = "best") -> Path:
    """The checkpoint file of a finished run (`best`, `last`, or a path)."""
    file = Path(which) if which not in ("best", "last") else run_dir / "checkpoints" / f"{which}.ckpt"
    if not file.exists():
        raise AelabError(f"no checkpoint {file}: is {run_dir} a finished training run? "
                         "(expected checkpoints/best.ckpt and .hydra/config.yaml)")
    return file


def load_run_config(run_dir: Path, trust: bool = False) -> DictConfig:
    """The saved config of a finished run, safe to build: every `_target_` on the allowlist
    (unless `trust`), writes pinned to the run dir and the configured cache (saved_config.py)."""
    config_file = run_dir / ".hydra" / "config.yaml"
    if not config_file.exists():
        raise AelabError(f"{run_dir} is not a training run dir: {config_file} is missing; "
                         "pass run_dir=<the hydra.run.dir of a train.py run>")
    cfg = OmegaConf.load(config_file)
    if upgrade(cfg):
        log.info("%s was saved by an older aelab; loaded in today's form", config_file)
    lacking = [key for key in ("model", "data", "trainer", "optimizer", "paths") if key not in cfg]
    if lacking:
        raise AelabError(f"{config_file} is not the config of a train.py run (it lacks "
                         f"{', '.join(lacking)}); pass run_dir=<the hydra.run.dir of a train.py run>")
    if not trust:
        refuse_unknown_targets(cfg, config_file)
        pin_paths(cfg, run_dir)
    cfg.paths.output_dir = str(run_dir)  # the config points at its own run dir
    resolve_from_launch_dir(cfg, run_dir)
    return cfg


RELATIVE_PATH_KEYS = ("data.path", "model.vqvae_run", "model.ae_run")


def resolve_from_launch_dir(cfg: DictConfig, run_dir: Path) -> None:
    """`data.path=../data/x` was relative to where train.py ran; eval, generate and notebooks
    may run elsewhere. A relative path that exists from the launch dir (Hydra records it in
    .hydra/hydra.yaml) is made absolute; hub ids and paths valid from here stay as they are."""
    hydra_file = run_dir / ".hydra" / "hydra.yaml"
    launch_dir = OmegaConf.select(OmegaConf.load(hydra_file), "hydra.runtime.cwd") if (
        hydra_file.exists()) else None
    if not launch_dir:
        return
    for key in RELATIVE_PATH_KEYS:
        value = OmegaConf.select(cfg, key, default=None)
        if not isinstance(value, str) or Path(value).is_absolute() or Path(value).exists():
            continue
        candidate = Path(launch_dir) / value
        if candidate.exists():
            OmegaConf.update(cfg, key, str(candidate.resolve()))


def load_weights(model: L.LightningModule, run_dir: Path, which: str = "best") -> dict:
    """Load a finished run's checkpoint (`best`, `last` or a path) into `model`; the
    checkpoint's dict (epoch, global_step, ...)."""
    file = best_checkpoint(run_dir, which)
    state = load_checkpoint(file)
    try:
        model.load_state_dict(state["state_dict"])
    except RuntimeError as err:  # missing / unexpected keys, or tensors of other shapes
        first = next((line.strip() for line in str(err).splitlines()[1:] if line.strip()), str(err))
        raise AelabError(f"{file} holds the weights of another model than {run_dir}'s saved "
                         f"config builds ({first[:160]}); put the run's own checkpoint back, "
                         "or evaluate the run it came from") from None
    return state
