"""Command-line checks Hydra leaves terse: an unknown key gets the valid keys listed."""

import difflib
import sys
from pathlib import Path

from omegaconf import OmegaConf

CONF = Path(__file__).resolve().parents[2] / "conf"


def unknown_key_message(config_name: str, overrides: list[str]) -> str | None:
    """For `model.latnt_dim=8`, a message naming the keys that do exist under `model`."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import ConfigCompositionException, HydraException

    plain = [o for o in overrides if not o.startswith(("-", "+", "~", "hydra"))]
    try:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=plain)
    except ConfigCompositionException as err:
        if not any("not in struct" in str(e) for e in (err, err.__cause__) if e is not None):
            return None  # some other problem: Hydra's own message says it well
        cfg = None
    except HydraException:
        return None  # sweeps (a=1,2) and other syntax: Hydra handles them
    if cfg is not None:
        return None
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        # Group choices only: a plain top-level key may be the unknown one.
        groups = [o for o in plain if (CONF / o.split("=")[0]).is_dir()]
        base = compose(config_name=config_name, overrides=groups)
    for override in plain:
        key = override.split("=", 1)[0]
        if "." not in key:
            if key not in base.keys() and not (CONF / key).is_dir():
                return unknown_top_level(config_name, key, override, sorted(map(str, base.keys())))
            continue
        parent, last = key.rsplit(".", 1)
        if config_name != "train" and parent.split(".")[0] not in base.keys():
            # eval / generate rebuild the run from its saved config: its options are not theirs.
            return unknown_top_level(config_name, key, override, sorted(map(str, base.keys())))
        node = OmegaConf.select(base, parent, throw_on_missing=False)
        # keys(), not `in node`: a required value (`???`, like data.path) is "not in" a
        # DictConfig, and it would be blamed for another override's unknown key.
        if not OmegaConf.is_dict(node) or last not in node.keys():
            valid = sorted(map(str, node.keys())) if OmegaConf.is_dict(node) else []
            if parent == "trainer":  # every lightning.Trainer argument is a valid key there
                valid = sorted(set(valid) | trainer_arguments())
            close = difflib.get_close_matches(last, valid, n=1)
            hint = f" (did you mean {parent}.{close[0]}?)" if close else ""
            where = f"'{parent}' has: {', '.join(valid)}" if valid else f"there is no '{parent}'"
            return (f"unknown config key '{key}'{hint}; {where}. "
                    f"To add a new key on purpose, write +{override}")
    return None


def unknown_top_level(config_name: str, key: str, override: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    if config_name == "train":
        return (f"unknown config key '{key}'{hint}; train.py takes: {', '.join(valid)}. "
                f"To add a new key on purpose, write +{override}")
    return (f"{config_name}.py does not take '{key}'{hint}; it takes: {', '.join(valid)} (a "
            "run's own options are fixed by its saved config: train a new run to change them)")


def trainer_arguments() -> set[str]:
    """Every keyword `lightning.Trainer` takes (imported only when an override needs it)."""
    import inspect

    from lightning.pytorch import Trainer

    return {p.name for p in inspect.signature(Trainer.__init__).parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"}


def add_trainer_arguments(config_name: str, argv: list[str]) -> list[str]:
    """`trainer.max_steps=1` works like the keys the trainer yaml lists: a `lightning.Trainer`
    argument the composed trainer node lacks is added (`++trainer.max_steps=1`), so every
    Trainer argument is settable as documented; a misspelled one stays unknown and is named."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException

    candidates = [i for i, a in enumerate(argv) if i > 0 and a.startswith("trainer.")
                  and "=" in a and "." not in a.split("=", 1)[0].removeprefix("trainer.")]
    if not candidates:
        return argv
    groups = [a for a in argv[1:] if "=" in a and not a.startswith(("-", "+", "~", "hydra"))
              and "." not in a.split("=", 1)[0]]
    try:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            trainer = compose(config_name=config_name, overrides=groups).get("trainer") or {}
    except HydraException:
        return argv  # a bad group option: Hydra says so in its own words
    known, argv = None, list(argv)
    for i in candidates:
        key = argv[i].split("=", 1)[0].removeprefix("trainer.")
        if key in trainer:
            continue
        known = trainer_arguments() if known is None else known
        if key in known:
            argv[i] = f"++{argv[i]}"
    return argv


def features_as_group(argv: list[str]) -> list[str]:
    """`metrics.features=inception`, as one would write any other option, picks the option of
    the config group conf/metrics/features (Hydra's spelling: `metrics/features=inception`);
    taken as a key it would replace the node by a word. Anything else passes unchanged."""
    options = {p.stem for p in (CONF / "metrics" / "features").glob("*.yaml")}
    key = "metrics.features="
    return [f"metrics/features={a[len(key):]}" if a.startswith(key) and a[len(key):] in options
            else a for a in argv]


def check_overrides(config_name: str) -> None:
    """Exit with status 2 and one clear line when an override names a key that does not exist."""
    message = unknown_key_message(config_name, sys.argv[1:])
    if message:
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)


def name_jobs_by_swept_keys(argv: list[str]) -> list[str]:
    """Sweep job folders name only what the sweep varies: `3_model.latent_dim=16,optimizer=sgd`.

    Hydra names a job folder by all of its overrides, so a sweep with a dozen fixed settings
    gets names past the file system's 255-byte limit and dies. Fixed command-line overrides
    (no `a,b`, range() or choice()) join the config's exclude_keys; the swept ones, from the
    command line or a `sweep=` preset, stay in the name. Returns argv with that one override
    added (unchanged when nothing is fixed, or when the user sets exclude_keys themselves).
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    setting = "hydra.job.config.override_dirname.exclude_keys"
    overrides = [a for a in argv[1:] if not a.startswith("-")]
    if any(a.lstrip("+~").startswith(setting) for a in overrides):
        return argv
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception:  # noqa: BLE001 - a malformed override: Hydra reports it in its own words
        return argv
    fixed = [o.key_or_group for o in parsed
             if not o.is_sweep_override() and not o.key_or_group.startswith("hydra.")]
    if not fixed:
        return argv
    defaults = OmegaConf.load(CONF / "hydra" / "default.yaml")
    keys = list(OmegaConf.select(defaults, setting.removeprefix("hydra."), default=[]))
    keys += [k for k in fixed if k not in keys]
    return [*argv, f"{setting}=[{','.join(repr(k) for k in keys)}]"]


def output_dir_problem(argv: list[str]) -> str | None:
    """A run dir (or the folder it goes under) that is a file or cannot be written: Hydra
    creates it and opens its log before any of our code runs, and would fail with a
    traceback. Checked on the command line's own values (`hydra.run.dir`, `hydra.sweep.dir`,
    `paths.log_dir`, else ./outputs); interpolated ones are left to the run."""
    import os

    given = {a.split("=", 1)[0].lstrip("+"): a.split("=", 1)[1] for a in argv[1:] if "=" in a}
    keys = ("hydra.run.dir", "hydra.sweep.dir", "paths.log_dir")
    dirs = [given[k] for k in keys if k in given and "${" not in given[k]] or (
        [] if any(k in given for k in keys) else ["outputs"])
    for value in dirs:
        path = Path(value).expanduser().absolute()
        existing = next(p for p in [path, *path.parents] if p.exists())
        if not existing.is_dir():
            return (f"cannot write the run to {path}: {existing} is a file, not a directory; "
                    "remove it or choose another dir (hydra.run.dir=DIR)")
        if not os.access(existing, os.W_OK | os.X_OK):
            return (f"cannot write the run to {path}: {existing} is not writable; choose a "
                    "writable dir (hydra.run.dir=DIR or paths.log_dir=DIR)")
    return None


def check_output_dir() -> None:
    """Exit with status 2 and one line when the run could not be written where it goes."""
    message = output_dir_problem(sys.argv)
    if message:
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)
