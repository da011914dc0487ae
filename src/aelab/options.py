"""Every option a user sets is checked where it enters: against the constructor it feeds.

The declaration is the constructor's own signature: a type hint per argument, with
`typing.Literal` for a choice and `Annotated[..., Range(...)]` (the aliases below) for a
range. `check_options(cfg)` walks the composed config before anything is built or loaded,
and for every node with a `_target_` checks each value it sets against the target's hints:

    model.latent_dim=abc   ->  model.latent_dim=abc must be an integer
    data.batch_size=0      ->  data.batch_size=0 must be >= 1
    model.encoder.pool=mean  ->  model.encoder.pool=mean is not one of: last, last_max

Targets from outside the project (torch optimizers, the Lightning Trainer and callbacks)
are checked against their own type hints; their value ranges are checked by building them
(`check_optimizer`), so torch's own rules apply, reported as one line.
"""

import inspect
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Annotated, Any, Literal

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError

from aelab.errors import AelabError


@dataclass(frozen=True)
class Range:
    """A numeric range for `Annotated[int | float, Range(...)]`."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def problem(self, value) -> str | None:
        for bound, ok, word in ((self.ge, lambda b: value >= b, ">="), (self.gt, lambda b: value > b, ">"),
                                (self.le, lambda b: value <= b, "<="), (self.lt, lambda b: value < b, "<")):
            if bound is not None and not ok(bound):
                return f"must be {word} {bound:g}"
        return None


# The ranges that recur; a signature reads `batch_size: PositiveInt = 64`.
PositiveInt = Annotated[int, Range(ge=1)]
NonNegativeInt = Annotated[int, Range(ge=0)]
PositiveFloat = Annotated[float, Range(gt=0)]
NonNegativeFloat = Annotated[float, Range(ge=0)]
Probability = Annotated[float, Range(ge=0, le=1)]
# A dropout-like probability that must leave something: [0, 1).
DropProbability = Annotated[float, Range(ge=0, lt=1)]

_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
          type(None): "null", list: "a list", tuple: "a list", dict: "a mapping"}


def _describe(hint) -> str:
    origin = typing.get_origin(hint)
    if origin is Annotated:
        return _describe(typing.get_args(hint)[0])
    if origin in (typing.Union, types.UnionType):
        # Objects a config cannot hold (a Tensor) are left out of what to type.
        plain = [a for a in typing.get_args(hint) if not (
            isinstance(a, type) and a.__module__ != "builtins" and not issubclass(a, PurePath))]
        return " or ".join(dict.fromkeys(_describe(a) for a in plain or typing.get_args(hint)))
    if origin in (dict, Mapping):
        return f"a mapping to {_describe(typing.get_args(hint)[1])}" if typing.get_args(
            hint) else "a mapping"
    if origin is Literal:
        return "one of: " + ", ".join(map(str, typing.get_args(hint)))
    return _WORDS.get(origin or hint, getattr(hint, "__name__", str(hint)))


def _matches(value, hint) -> tuple[bool, str | None]:
    """(does `value` have the type of `hint`, a range problem if it does but is out of range).
    A hint no config value can have (a Tensor) rejects numbers and strings; one that cannot
    be checked on plain data (a callable, a TypeVar) accepts."""
    if hint is Any or hint is inspect.Parameter.empty:
        return True, None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        ok, problem = _matches(value, args[0])
        if ok and problem is None:
            problem = next((p for meta in args[1:] if isinstance(meta, Range)
                            for p in [meta.problem(value)] if p), None)
        return ok, problem
    if origin in (typing.Union, types.UnionType):
        results = [_matches(value, a) for a in args]
        good = [problem for ok, problem in results if ok]
        if not good:
            return False, None
        return True, None if None in good else good[0]
    if origin is Literal:
        return value in args and not (isinstance(value, bool) and True not in args
                                      and False not in args), None
    if hint is type(None) or hint is None:
        return value is None, None
    if hint is bool:
        return isinstance(value, bool), None
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), None
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool), None
    if hint is str:
        return isinstance(value, str), None
    if origin in (list, tuple, Sequence) or hint in (list, tuple):
        if not isinstance(value, list | tuple):
            return False, None
        inner = [a for a in args if a is not Ellipsis]
        if not inner or origin is tuple and len(inner) > 1:
            return True, None
        results = [_matches(v, inner[0]) for v in value]
        return all(ok for ok, _ in results), next((p for _, p in results if p), None)
    if origin in (dict, Mapping) or hint is dict:
        if not isinstance(value, dict):
            return False, None
        if len(args) == 2:  # dict[str, float]: every value has the value type
            results = [_matches(v, args[1]) for v in value.values()]
            return all(ok for ok, _ in results), next((p for _, p in results if p), None)
        return True, None
    if isinstance(hint, type) and issubclass(hint, PurePath):
        return isinstance(value, str), None
    if isinstance(hint, type) and hint.__module__ != "builtins":
        # An object (a Tensor, an Accelerator): no number or string from a config is one;
        # a mapping or list may be a nested config that builds one.
        return not isinstance(value, str | int | float | bool | type(None)), None
    if isinstance(hint, type):
        return isinstance(value, hint), None
    return True, None  # Callable, TypeVar and friends: nothing to check on plain data


def _mapping_value_hint(hint):
    """V of a `dict[str, V]` hint (also inside `... | None`), else None."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return next((v for v in map(_mapping_value_hint, typing.get_args(hint)) if v is not None),
                    None)
    if typing.get_origin(hint) in (dict, Mapping) and len(typing.get_args(hint)) == 2:
        return typing.get_args(hint)[1]
    return None


def check_value(key: str, value, hint) -> None:
    """Raise an AelabError naming `key`, the value and what it must be, if it does not fit."""
    inner = _mapping_value_hint(hint)
    if isinstance(value, dict) and inner is not None:  # name the entry: <key>.<name>=x
        for name, item in value.items():
            check_value(f"{key}.{name}", item, inner)
        return
    ok, problem = _matches(value, hint)
    shown = OmegaConf.to_yaml(value).strip() if isinstance(value, list | dict) else value
    if not ok:
        if typing.get_origin(hint) is Literal or (
                typing.get_origin(hint) in (typing.Union, types.UnionType)
                and any(typing.get_origin(a) is Literal for a in typing.get_args(hint))):
            raise AelabError(f"{key}={shown} is not {_describe(hint)}; set {key}=<one of them>")
        raise AelabError(f"{key}={shown} must be {_describe(hint)}; set {key}=<{_describe(hint)}>")
    if problem:
        raise AelabError(f"{key}={shown} {problem}; set {key} to a value that is")


def constructor_hints(target) -> tuple[dict[str, Any], set[str], bool]:
    """(hints by argument, every argument name, whether it takes **kwargs) of what a
    `_target_` builds. Arguments forwarded with *args/**kwargs to a base class are found in
    the bases' constructors (the first declaration along the MRO wins)."""
    hints: dict[str, Any] = {}
    names: set[str] = set()
    chain = [c.__init__ for c in target.__mro__ if "__init__" in vars(c)] if isinstance(
        target, type) else [target]
    for function in chain:
        function = inspect.unwrap(function)
        try:
            signature = inspect.signature(function)
        except (TypeError, ValueError):
            return hints, names, True
        try:
            found = typing.get_type_hints(function, include_extras=True)
        except Exception:  # noqa: BLE001 - forward refs a library keeps under TYPE_CHECKING
            found = {k: v for k, v in getattr(function, "__annotations__", {}).items()
                     if not isinstance(v, str)}
        params = signature.parameters.values()
        for p in params:
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
                names.add(p.name)
                if p.name not in hints and p.name in found:
                    hints[p.name] = found[p.name]
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return hints, names, False
        if function is object.__init__:
            break
    return hints, names, True


def _plain(value):
    if isinstance(value, DictConfig | ListConfig):
        return OmegaConf.to_container(value, resolve=True)
    return value


def check_node(node: DictConfig, where: str) -> None:
    """Check the values a `_target_` node sets, and its nested target nodes."""
    from hydra.utils import get_object

    try:
        target = get_object(node._target_)
    except Exception:  # noqa: BLE001 - an unimportable target: say which and stop
        raise AelabError(f"{where}._target_={node._target_} cannot be imported; check the "
                         "spelling or install what provides it") from None
    hints, names, open_ended = constructor_hints(target)
    for key in node.keys():
        if str(key).startswith("_"):
            continue
        full = f"{where}.{key}" if where else str(key)
        value = node._get_node(key)
        if OmegaConf.is_dict(value) and "_target_" in value:
            check_node(value, full)
            continue
        if key not in names and not open_ended:
            raise AelabError(f"{full} is not an option of {node._target_} (it takes: "
                             f"{', '.join(sorted(names))}); remove it or fix the spelling")
        if OmegaConf.is_missing(node, key):
            continue  # reported by check_config as a required value
        try:
            value = _plain(node[key])
        except InterpolationResolutionError:
            continue  # ${hydra:...} outside a Hydra app: not a value the user typed
        check_value(full, value, hints.get(key, Any))


# Top-level keys of train.yaml: they feed the run itself, not a constructor.
RUN_OPTIONS = {
    "seed": NonNegativeInt,
    "threads": PositiveInt | None,
    "test": bool,
    "ckpt_path": str | None,
    "monitor.metric": str,
    "monitor.mode": Literal["min", "max"],
}


def check_options(cfg: DictConfig) -> None:
    """Every option of a composed run config, checked before anything is built."""
    absent = object()
    for key, hint in RUN_OPTIONS.items():
        value = OmegaConf.select(cfg, key, default=absent, throw_on_missing=False)
        if value is not absent:
            check_value(key, _plain(value), hint)
    for group in ("data", "model", "optimizer", "scheduler", "corruption", "trainer"):
        node = cfg.get(group)
        if OmegaConf.is_dict(node) and "_target_" in node:
            check_node(node, group)
    for group in ("callbacks", "logger"):
        for name, node in (cfg.get(group) or {}).items():
            if OmegaConf.is_dict(node) and "_target_" in node:
                check_node(node, f"{group}.{name}")
    if cfg.get("metrics") is not None:
        check_metrics(cfg.metrics)
    check_optimizer(cfg)


def check_metrics(metrics: DictConfig) -> None:
    """The `metrics` node of train.yaml and eval.yaml: FID / KID / precision / recall
    (aelab.metrics.features)."""
    check_value("metrics.num_samples", _plain(metrics.get("num_samples")), PositiveInt | None)
    check_value("metrics.neighbours", _plain(metrics.get("neighbours", 3)), PositiveInt)
    features = metrics._get_node("features") if "features" in metrics else None
    if OmegaConf.is_dict(features) and "_target_" in features:
        check_node(features, "metrics.features")
    elif features is not None and features._value() is not None:
        value = features._value()
        raise AelabError(f"metrics.features={value}: the feature extractor is a config group; "
                         f"write metrics/features={value} (inception or classifier)")


def check_optimizer(cfg: DictConfig) -> None:
    """Build the optimizer (and scheduler) on a dummy parameter: torch's own range checks
    (a negative learning rate, betas outside [0, 1)) answer now, as one line."""
    import torch
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    from aelab.models.optim import takes_names, wants_run_steps

    optimizer = None
    for group in ("optimizer", "scheduler"):
        node = cfg.get(group)
        if not (OmegaConf.is_dict(node) and "_target_" in node):
            continue
        if group == "scheduler" and optimizer is None:
            continue  # nothing to schedule; the missing optimizer is reported elsewhere
        try:
            build = instantiate(node)
            # A per-step schedule, and a weight decay given as a span, also take the run's length.
            length = {"run_steps": 100.0} if wants_run_steps(build) else {}
            if group == "optimizer":
                # no_decay names the model's parameters, which are checked when it is built
                spare = {"no_decay": ()} if takes_names(build) else {}
                optimizer = build([torch.nn.Parameter(torch.zeros(1))], **length, **spare)
            else:
                build(optimizer, **length)
        except (InstantiationException, ValueError, TypeError) as err:
            reason = err.__cause__ or err
            values = ", ".join(f"{group}.{k}={v}" for k, v in node.items()
                               if not str(k).startswith("_"))
            raise AelabError(f"{node._target_} refuses the {group} options ({values}): "
                             f"{reason}") from None
