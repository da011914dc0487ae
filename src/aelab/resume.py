"""What a resume may change, checked against the checkpoint's own config before anything is
written, and what it changes, applied for real.

A checkpoint carries its run's resolved config (`ConfigInCheckpoint`). A resume with another
`model.latent_dim` used to fail deep in `load_state_dict` after the saved config was already
rewritten, and a resume with another `optimizer.lr` had Lightning restore the old rate from
the optimizer state, while the config and metrics recorded the new one.
"""

import logging
from pathlib import Path

import lightning as L
from omegaconf import OmegaConf

from aelab.errors import AelabError, LeftAsItWas
from aelab.legacy import upgrade

log = logging.getLogger(__name__)

# Fixed by the checkpoint: its tensors' shapes, the data order and what "best" means.
FIXED = ("model", "data", "corruption", "seed", "monitor", "callbacks.model_checkpoint",
         "callbacks.ema", "optimizer._target_", "scheduler._target_")
# ... except these, which say where or how fast, not what.
FREE = ("data.num_workers", "data.on_device", "data.cache_dir", "data.tokenizer_dir")
# Not part of what trains: where things go, how much is logged, what is measured after.
IGNORED = ("ckpt_path", "paths", "trust_run_config", "optuna", "threads")


def flat(node, prefix: str = "") -> dict:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            out.update(flat(value, f"{prefix}{key}."))
        return out if out or not prefix else {prefix[:-1]: {}}
    return {prefix[:-1]: node}


def under(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


MISSING = "<not set>"


def changed_options(saved: dict, new: dict) -> dict[str, tuple]:
    """{key: (saved value, new value)} for every leaf that differs."""
    old, now = flat(saved), flat(new)
    return {k: (old.get(k, MISSING), now.get(k, MISSING)) for k in sorted(old.keys() | now.keys())
            if old.get(k, MISSING) != now.get(k, MISSING) and not under(k, IGNORED)}


def check_resume(checkpoint: dict, new_config: dict, source: str) -> dict[str, tuple]:
    """Refuse a resume that changes what its checkpoint fixes, naming every such option;
    return the changes a resume applies (optimizer and scheduler values, the rest of
    trainer / callbacks / logger / metrics / test, which Lightning reads afresh)."""
    if "config" not in checkpoint:
        log.warning("%s holds no config (written before configs were stored): the resume "
                    "cannot be checked against it", source)
        return {}
    saved = OmegaConf.create(checkpoint["config"])
    upgrade(saved)  # a checkpoint from before the model-layer redesign, in today's keys
    changes = changed_options(OmegaConf.to_container(saved), new_config)
    fixed = {k: v for k, v in changes.items() if under(k, FIXED) and not under(k, FREE)
             and not data_moved(k, *v)}
    if fixed:
        named = ", ".join(f"{k} ({a} -> {b})" for k, (a, b) in list(fixed.items())[:6])
        more = f" and {len(fixed) - 6} more" if len(fixed) > 6 else ""
        raise LeftAsItWas(
            f"cannot resume from {source} with {named}{more} changed: its model, data, "
            "corruption, seed and monitored metric are fixed by the checkpoint; resume with "
            "the run's own values, or start a new run in another dir (hydra.run.dir=DIR)")
    return changes


def data_moved(key: str, old, new) -> bool:
    """A new data.path is the run's data, moved, when the saved one was a local folder that
    is gone and the new one exists: refusing it would leave the run unresumable. While the
    saved folder exists, or for a hub id, a new data.path is other data and stays fixed."""
    from aelab.data.hub import looks_local

    if key != "data.path" or not isinstance(old, str) or not isinstance(new, str):
        return False
    gone = old.startswith((".", "/", "~")) and not Path(old).expanduser().exists()
    moved = gone and looks_local(new) and Path(new).expanduser().exists()
    if moved:
        log.warning("resume: data.path %s is gone; reading the run's data from %s (the run's "
                    "config now records it)", old, new)
    return moved


def optimizer_and_scheduler_changes(changes: dict[str, tuple]) -> dict[str, tuple]:
    return {k: v for k, v in changes.items()
            if under(k, ("optimizer", "scheduler")) and not k.endswith("._partial_")}


class ApplyResumedChanges(L.Callback):
    """Puts changed optimizer and scheduler values into the restored optimizer and scheduler
    (Lightning restores both from the checkpoint, the old values with them). A new
    `optimizer.lr` scales the current rate, the schedule's base rates and its last rate by
    new / old, so a schedule goes on with its shape at the new scale; other optimizer values
    replace the param groups' own. A value neither object has stops the run before it trains."""

    def __init__(self, changes: dict[str, tuple]):
        self.changes = changes

    def on_train_start(self, trainer, pl_module) -> None:
        for key, (old, new) in self.changes.items():
            group, name = key.split(".", 1)
            applied = (self._optimizer(trainer, name, old, new) if group == "optimizer"
                       else self._scheduler(trainer, name, new))
            if not applied:
                raise AelabError(f"{key} cannot change on resume ({old} -> {new}): the "
                                 f"restored {group} has no such value; resume with {key}={old}, "
                                 "or start a new run in another dir (hydra.run.dir=DIR)")
            log.info("resume: %s %s -> %s applied", key, old, new)

    @staticmethod
    def _optimizer(trainer, name: str, old, new) -> bool:
        groups = [g for opt in trainer.optimizers for g in opt.param_groups]
        if not groups or any(name not in g for g in groups):
            return False
        if name != "lr":
            for g in groups:
                g[name] = tuple(new) if isinstance(g[name], tuple) else new
            return True
        ratio = new / old
        for g in groups:
            g["lr"] *= ratio
            if "initial_lr" in g:
                g["initial_lr"] *= ratio
        for config in trainer.lr_scheduler_configs:
            for attr in ("base_lrs", "_last_lr"):
                if isinstance(getattr(config.scheduler, attr, None), list):
                    setattr(config.scheduler, attr, [v * ratio for v in getattr(config.scheduler, attr)])
        return True

    @staticmethod
    def _scheduler(trainer, name: str, new) -> bool:
        schedulers = [c.scheduler for c in trainer.lr_scheduler_configs]
        if not schedulers or any(not hasattr(s, name) for s in schedulers):
            return False
        for s in schedulers:
            setattr(s, name, new)
        return True
