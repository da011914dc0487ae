"""Every option is checked where it enters: types, ranges, choices, unknown keys, paths and
file kinds each stop the run with one line naming the option, exit status 2, no traceback.

The checks come from one place, the constructors' type hints (aelab.options), so the last
tests make sure every option a yaml in conf/ sets is declared there."""

import functools
import itertools

import pytest
import torch
from omegaconf import OmegaConf

from aelab.errors import AelabError
from aelab.options import Range, check_options, check_value, constructor_hints
from tests.conftest import CONF, compose_config, model_class, write_image_parquet
from tests.test_bad_input import assert_clear, run_entry

QUICK = ["trainer=debug", "threads=1"]


@pytest.mark.parametrize("overrides,says", [
    # types
    (["model.latent_dim=abc"], "model.latent_dim=abc must be an integer"),
    (["trainer.max_epochs=abc"], "trainer.max_epochs=abc must be an integer or null"),
    (["optimizer.lr=fast"], "optimizer.lr=fast must be a number"),
    (["seed=x"], "seed=x must be an integer"),
    (["model=lstm_ae", "data=toy_text", "corruption=word_noise", "corruption.drop=x"],
     "corruption.drop=x must be a number"),
    # ranges, ours and torch's own
    (["data.batch_size=0"], "data.batch_size=0 must be >= 1"),
    (["data.limit=0"], "data.limit=0 must be >= 1"),
    (["model=conv_vae", "model.beta=-1"], "model.beta=-1 must be >= 0"),
    (["corruption=salt_pepper", "corruption.p=1.5"], "corruption.p=1.5 must be <= 1"),
    (["optimizer.lr=-0.1"], "Invalid learning rate: -0.1"),
    (["optimizer=sgd", "optimizer.momentum=-1"], "Invalid momentum value: -1"),
    # choices
    (["model=lstm_ae", "data=toy_text", "model.encoder.pool=mean"],
     "model.encoder.pool=mean is not one of: last, last_max"),
    (["model=lstm_vae", "data=toy_text", "model.kl_floor=both"],
     "model.kl_floor=both is not one of: none, per_dim, total"),
    (["model=lstm_ae", "data=toy_text", "model.decoder.skip=yes"],
     "model.decoder.skip=yes is not one of: none, add, gated"),
    (["model.net.norm=layer"], "model.net.norm=layer is not one of: batch, group, none"),
    (["corruption=downsample", "corruption.factor=5"], "corruption.factor=5 is not one of: 2, 3, 4, 8"),
    (["monitor.mode=up"], "monitor.mode=up is not one of: min, max"),
    (["metrics.num_samples=0"], "metrics.num_samples=0 must be >= 1"),
    (["metrics/features=inception", "metrics.features.weights=3"],
     "metrics.features.weights=3 must be a string or null"),
    (["scheduler=warmup", "scheduler.decay=step"],
     "scheduler.decay=step is not one of: constant, linear, cosine"),
    (["corruption=downsample", "corruption.mode=nearest"],
     "corruption.mode=nearest is not one of: bicubic, area"),
    (["callbacks=ema", "callbacks.ema.span=0"], "callbacks.ema.span=0 must be > 0"),
    (["callbacks=ema", "callbacks.ema.span=null"],
     "callbacks.ema.span and callbacks.ema.decay are both null"),
    # a key added with + that nothing takes
    (["+model.dropout=0.1"],
     "model.dropout is not an option of aelab.models.image.autoencoder.ImageAutoencoder"),
])
def test_a_bad_value_is_named_with_the_option(overrides, says, capsys, tmp_path):
    code, output = run_entry("train", [*QUICK, *overrides, f"hydra.run.dir={tmp_path}"], capsys)
    assert code == 2
    assert_clear(code, output, says)
    assert not (tmp_path / "checkpoints").exists()  # stopped before anything was built


def test_a_file_that_is_not_a_checkpoint(capsys, tmp_path):
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint\n")
    tensor = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), tensor)
    for path, says in ((text, "not a file written by torch.save"), (tensor, "no state_dict"),
                       (tmp_path, "is not a checkpoint file")):
        code, output = run_entry("train", [*QUICK, f"ckpt_path={path}",
                                           f"hydra.run.dir={tmp_path / 'run'}"], capsys)
        assert code == 2
        assert_clear(code, output, says)


def test_a_data_folder_with_no_images(capsys, tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "readme.txt").write_text("no images here\n")
    code, output = run_entry("train", [*QUICK, "data=images", f"data.path={folder}",
                                       f"hydra.run.dir={tmp_path / 'run'}"], capsys)
    assert code == 2
    assert_clear(code, output, "has no image column")


def test_a_train_split_too_small_to_hold_out_validation(capsys, tmp_path):
    folder = write_image_parquet(tmp_path / "two", {"train": 2, "test": 2})
    code, output = run_entry("train", [*QUICK, "data=images", f"data.path={folder}",
                                       f"paths.cache_dir={tmp_path / 'cache'}",
                                       f"hydra.run.dir={tmp_path / 'run'}"], capsys)
    assert_clear(code, output, "the train split has 2 row(s)")


def test_check_value_by_hand():
    from typing import Annotated, Literal

    check_value("a", 3, int)
    check_value("a", 3, float)  # an integer is a number
    check_value("a", None, int | None)
    check_value("a", [16, 16], int | list[int])
    for value, hint, says in ((True, int, "must be an integer"), ("3", int, "must be an integer"),
                              (0.5, int, "must be an integer"), ([1, "x"], list[int], "a list"),
                              ("c", Literal["a", "b"], "is not one of: a, b"),
                              (0, Annotated[int, Range(ge=1)], "must be >= 1"),
                              (1.0, Annotated[float, Range(lt=1)], "must be < 1")):
        with pytest.raises(AelabError, match=says):
            check_value("a", value, hint)


def all_group_options() -> dict[str, list[str]]:
    groups = {}
    for group in ("model", "data", "corruption", "optimizer", "scheduler", "trainer", "logger",
                  "callbacks", "metrics/features"):
        groups[group] = sorted(p.stem for p in (CONF / group).glob("*.yaml"))
    return groups


def option_configs():
    """One composed config per option of every group (with the model's own kind of data)."""
    groups = all_group_options()
    for group, options in groups.items():
        for option in options:
            extra = []
            if group == "model" and model_class(option).modality == "text":
                extra = ["data=toy_text"]
            if group == "model" and option == "code_prior":
                extra = ["model.vqvae_run=somewhere"]
            if group == "model" and option == "latent_diffusion":
                extra = ["model.ae_run=somewhere"]
            if group == "data" and option in ("ptb", "wikitext2", "yelp", "text", "toy_text"):
                extra = ["model=lstm_ae"]
            if group == "data" and option in ("images", "text"):
                extra += ["data.path=somewhere"]
            yield [f"{group}={option}", *extra]


@functools.cache
def composed(overrides: tuple[str, ...]):
    """Each option's config composed once per worker (~0.2 s each, ~55 of them, read by the
    three tests below, which the xdist group keeps on one worker). Read, never changed."""
    return compose_config(list(overrides))


# One worker runs the three, so each config is composed once, not three times.
OPTION_CONFIGS = pytest.mark.xdist_group("option_configs")


@OPTION_CONFIGS
@pytest.mark.parametrize("overrides", list(option_configs()), ids=" ".join)
def test_every_shipped_option_passes_its_own_checks(overrides):
    check_options(composed(tuple(overrides)))


@OPTION_CONFIGS
def test_every_option_our_yamls_set_is_declared_with_a_type():
    """A new option in a yaml must be typed in its constructor, or nothing checks it."""
    from hydra.utils import get_object

    untyped = set()
    for overrides in option_configs():
        cfg = composed(tuple(overrides))
        nodes = [(k, cfg[k]) for k in ("model", "data", "corruption")
                 if OmegaConf.is_dict(cfg.get(k))]
        nodes += [(f"model.{k}", v) for k, v in cfg.model.items() if OmegaConf.is_dict(v)]
        nodes += [(f"callbacks.{k}", v) for k, v in cfg.callbacks.items()]
        nodes += [("metrics.features", cfg.metrics.features)]
        for where, node in nodes:
            if "_target_" not in node or not node._target_.startswith("aelab."):
                continue
            hints, _, _ = constructor_hints(get_object(node._target_))
            for key in itertools.filterfalse(lambda k: str(k).startswith("_"), node.keys()):
                value = node._get_node(key)
                if not (OmegaConf.is_dict(value) and "_target_" in value) and key not in hints:
                    untyped.add(f"{where}.{key}")
    assert not untyped, sorted(untyped)


@OPTION_CONFIGS
def test_each_model_net_and_corruption_option_has_its_default_in_one_place():
    """What a yaml sets has no default in its constructor's signature: the yaml is the one
    source, so the unit tests (which build from the yamls) build what the command line does."""
    import inspect

    from hydra.utils import get_object

    twice = set()
    for overrides in option_configs():
        cfg = composed(tuple(overrides))
        nodes = [(k, cfg[k]) for k in ("model", "corruption") if OmegaConf.is_dict(cfg.get(k))]
        nodes += [(f"model.{k}", v) for k, v in cfg.model.items() if OmegaConf.is_dict(v)]
        nodes += [("metrics.features", cfg.metrics.features)]
        for where, node in nodes:
            if "_target_" not in node or not node._target_.startswith("aelab."):
                continue
            target = get_object(node._target_)
            for cls in (target.__mro__ if isinstance(target, type) else [target]):
                init = vars(cls).get("__init__") if isinstance(target, type) else cls
                if init is None:
                    continue
                for name, p in inspect.signature(init).parameters.items():
                    if name in node and p.default is not inspect.Parameter.empty:
                        owner = cls.__name__ if isinstance(target, type) else init.__name__
                        twice.add(f"{where}.{name} ({owner})")
    assert not twice, sorted(twice)


# A file whose name starts with _ is a fragment the recipes include, not a recipe.
RECIPES = sorted(str(p.relative_to(CONF / "experiment").with_suffix(""))
                 for p in (CONF / "experiment").rglob("*.yaml") if not p.name.startswith("_"))


@pytest.mark.parametrize("recipe", RECIPES)
def test_every_experiment_recipe_composes_and_passes_the_checks(recipe):
    cfg = compose_config([f"experiment={recipe}"])
    check_options(cfg)
    assert cfg.seed == 0 and ((cfg.trainer.max_epochs or 0) > 0
                              or cfg.trainer.get("max_steps", -1) > 0)  # a plan
    # AdamW's fixed weight_decay is a step count (tests/test_relative_steps.py): a recipe sets
    # the decay as a span of the run, so none runs with adamw.yaml's torch default
    if cfg.optimizer._target_.endswith("AdamW") and not recipe.startswith("history/"):
        assert cfg.optimizer.get("weight_decay_span") is not None, recipe


@pytest.mark.parametrize("recipe", [r for r in RECIPES if OmegaConf.select(
    OmegaConf.load(CONF / "experiment" / f"{r}.yaml"), "optimizer.no_decay")])
def test_a_recipes_no_decay_names_parameters_of_its_model(recipe):
    """optimizer.no_decay is checked against the model's parameter names only when the
    optimizer is built, after the data is loaded: a renamed module must fail here first."""
    from aelab.models.optim import spare
    from aelab.run_dir import instantiate_model

    cfg = compose_config([f"experiment={recipe}"])
    facts = ({"vocab_size": 50} if cfg.data._target_.startswith("aelab.data.text")
             else {"image_shape": (1, 28, 28)})
    model = instantiate_model(cfg, **facts)
    decayed, spared = spare(model.named_parameters(), cfg.optimizer.no_decay)
    assert decayed["params"] and spared["params"] and spared["weight_decay"] == 0.0


def inheritance_depth(recipe: str) -> int:
    """How many recipes deep `recipe` inherits (its `/experiment/...` defaults, recursively)."""
    node = OmegaConf.load(CONF / "experiment" / f"{recipe}.yaml")
    parents = [d.removeprefix("/experiment/") for d in node.get("defaults", [])
               if isinstance(d, str) and d.startswith("/experiment/")]
    return max((1 + inheritance_depth(p) for p in parents), default=0)


def test_recipes_are_flat_and_history_is_apart():
    """A recipe reads in at most two files besides itself (issue 38), and the recipes that pin
    what a past row ran with live under history/, not beside the recommended ones."""
    deep = {r: inheritance_depth(r) for r in RECIPES if inheritance_depth(r) > 2}
    assert not deep, deep
    pinned = [r for r in RECIPES if not r.startswith("history/")
              and "# history" in (CONF / "experiment" / f"{r}.yaml").read_text()]
    assert not pinned, pinned
