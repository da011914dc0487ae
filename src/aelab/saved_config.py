"""A run directory someone shared is data, not code: what its saved config may build and write.

eval.py, generate.py, the notebook and `model=code_prior model.vqvae_run=RUN` rebuild a run
from RUN/.hydra/config.yaml, and `hydra.utils.instantiate` calls whatever a `_target_` names.
A crafted config could name `torch.load` (with weights_only=false), `builtins.open`,
`os.system`... A blocklist cannot name every such gadget, so this is an allowlist of what an
honest aelab run contains:

- the project's own classes (`aelab.…`, classes only: a function such as
  `aelab.run.write_metrics` writes files),
- the optimizers and LR schedulers of `torch.optim`,
- the Lightning Trainer, callbacks, loggers and strategies.

Anything else stops the load, naming the key and the target, before anything is imported
from it or built. `trust_run_config=true` skips the check for a run you wrote yourself with
targets of your own. Configs composed from conf/ on the command line are not checked: there
the user is the author.

Paths stay data: a loaded run writes only into its own directory and the configured cache,
whatever its `data.tokenizer_dir` or `data.cache_dir` say.
"""

import re
from pathlib import Path

from omegaconf import DictConfig, ListConfig, OmegaConf

from aelab.errors import AelabError

CONF = Path(__file__).resolve().parents[2] / "conf"
# What may be imported to look a target up: modules of these packages only. The name must be
# a dotted Python path, so no string reaches the importer that could mean anything else.
ALLOWED_PACKAGES = ("aelab.", "torch.optim.", "lightning.pytorch.")
DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")


def allowed_bases() -> tuple[type, ...]:
    """The classes from outside the project that a saved config may build."""
    import lightning.pytorch as pl
    import torch

    return (torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler,
            torch.optim.lr_scheduler.ReduceLROnPlateau, pl.Trainer, pl.Callback,
            pl.loggers.Logger, pl.strategies.Strategy)


def missing_target(target) -> str | None:
    """Why an allowed package's dotted name does not exist ("has no class X; did you mean
    Y?"), or None when it exists or lies outside the allowed packages."""
    import difflib
    import importlib

    if not isinstance(target, str) or not DOTTED.fullmatch(target) or not target.startswith(
            ALLOWED_PACKAGES):
        return None
    module_name, name = target.rsplit(".", 1)
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return f"names a module that does not exist ({module_name})"
    if hasattr(module, name):
        return None
    close = difflib.get_close_matches(name, [n for n in dir(module) if not n.startswith("_")], n=1)
    hint = f"; did you mean {module_name}.{close[0]}?" if close else ""
    return f"names no class: {module_name} has no {name}{hint}"


def is_allowed(target) -> bool:
    """Whether a saved config may build `target` (a dotted path)."""
    if not isinstance(target, str) or not DOTTED.fullmatch(target) or not target.startswith(
            ALLOWED_PACKAGES):
        return False
    from hydra.utils import get_object

    try:
        found = get_object(target)
    except Exception:  # noqa: BLE001 - no such class: not something an honest run names
        return False
    if not isinstance(found, type):
        return False  # functions (and methods) are never built from a saved config
    if target.startswith("aelab."):
        return found.__module__.startswith("aelab.")
    return issubclass(found, allowed_bases())


def targets(node, where: str = ""):
    """(key, target) of every `_target_` in a config, at any depth, lists included."""
    if isinstance(node, DictConfig):
        if "_target_" in node:
            try:
                yield (f"{where}._target_" if where else "_target_"), node._target_
            except Exception:  # noqa: BLE001 - an interpolation that does not resolve:
                # named as written, which no allowlist entry matches
                yield (f"{where}._target_" if where else "_target_"), str(
                    node._get_node("_target_")._value())
        for key in node.keys():
            yield from targets(node._get_node(key), f"{where}.{key}" if where else str(key))
    elif isinstance(node, ListConfig):
        for i in range(len(node)):
            yield from targets(node._get_node(i), f"{where}[{i}]")


def refuse_unknown_targets(cfg: DictConfig, source: Path) -> None:
    """Stop, naming the key and target, if the saved config at `source` builds anything
    that is not on the allowlist."""
    for key, target in targets(cfg):
        if not is_allowed(target):
            missing = missing_target(target)
            if missing:  # a typo or a renamed class: trusting the run would not help
                raise AelabError(f"{source}: {key}={target} {missing}; correct the name in that "
                                 "file (or retrain the run with this version of aelab)")
            raise AelabError(
                f"refusing to load {source}: {key}={target} is not a class an aelab run builds "
                "(aelab classes, torch.optim optimizers and schedulers, Lightning trainer, "
                "callbacks and loggers). A shared run could run code this way; if you wrote "
                "this run yourself, pass trust_run_config=true")


def configured_cache_dir() -> str:
    """This machine's cache dir as conf/paths/default.yaml sets it (AELAB_CACHE_DIR or
    ~/.cache/aelab), not the one a saved config names."""
    return str(OmegaConf.select(OmegaConf.load(CONF / "paths" / "default.yaml"), "cache_dir"))


def pin_paths(cfg: DictConfig, run_dir: Path) -> None:
    """Where a loaded run may write: its own dir (tokenizer.json) and the configured cache.
    And trust is not inherited: a saved code prior's `model.trust_run_config: true` does not
    let its VQ-VAE run skip the check."""
    if "trust_run_config" in cfg:
        cfg.trust_run_config = False
    if OmegaConf.is_dict(cfg.get("model")) and "trust_run_config" in cfg.model:
        cfg.model.trust_run_config = False
    cache = configured_cache_dir()
    OmegaConf.update(cfg, "paths.cache_dir", cache, force_add=True)
    if OmegaConf.is_dict(cfg.get("data")):
        if "tokenizer_dir" in cfg.data:
            cfg.data.tokenizer_dir = str(run_dir)
        if "cache_dir" in cfg.data:
            cfg.data.cache_dir = cache
