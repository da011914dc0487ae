"""Shared fixtures: compose the real configs, make tiny datasets in the hub's layout."""

import copy
import functools
import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

# Never wait ~25 s for the hub: tests only use data they make themselves.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
# Runs loaded by eval/generate cache decoded images in the configured cache, not in the
# one their saved config names: keep that out of the home directory during tests.
if "AELAB_CACHE_DIR" not in os.environ:
    import tempfile

    os.environ["AELAB_CACHE_DIR"] = tempfile.mkdtemp(prefix="aelab-test-cache-")

# Under pytest-xdist each core runs its own worker: one thread each, for the subprocesses
# the tests start too, or the workers' thread pools fight over the cores.
if os.environ.get("PYTEST_XDIST_WORKER"):
    import torch

    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"

# Small, fast and still real: every stage of a run happens, on a few batches.
FAST = ["trainer=cpu", "trainer.max_epochs=1", "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false", "trainer.log_every_n_steps=1", "trainer.limit_train_batches=3",
        "trainer.limit_val_batches=2", "trainer.limit_test_batches=2",
        "data.num_train=96", "data.num_val=32", "data.num_test=32", "data.batch_size=16",
        "model.width=8", "model.depth=2"]


def compose_config(overrides: list[str], config_name: str = "train"):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name=config_name, overrides=overrides)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Under --dist loadgroup, pytest-xdist (3.8) sends a test marked xdist_group("g") with the
    others of its group by suffixing its node id with "@g", set as `item._nodeid`; pytest 9
    reads the id from `item._id`, so there the suffix, and every group, was silently lost
    (the trained fixtures of a group were built on each worker). Set it where it is read."""
    if not getattr(config.option, "loadgroup", False):  # set on the workers by xdist
        return
    for item in items:
        groups = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                         for m in item.iter_markers("xdist_group")})
        if groups and "@" not in item.nodeid and hasattr(item, "_id"):
            from _pytest.nodeid import coerce_node_id

            item._id = coerce_node_id(f"{item.nodeid}@{'_'.join(groups)}")


@pytest.fixture
def make_cfg(tmp_path):
    """A composed train config whose run dir and cache live in tmp_path."""

    def make(*overrides: str, fast: bool = True, run_dir: Path | None = None):
        run_dir = run_dir or tmp_path / "run"
        base = [f"paths.output_dir={run_dir}", f"paths.cache_dir={tmp_path / 'cache'}"]
        return compose_config(base + (FAST if fast else []) + list(overrides))

    return make


@pytest.fixture
def parquet_images(tmp_path):
    """A tiny image dataset in the hub's parquet layout: train/test files of PNG bytes."""
    return write_image_parquet(tmp_path / "hub_images", sizes={"train": 60, "test": 20})


def write_image_parquet(folder: Path, sizes: dict, shape=(28, 28), mode="L", column="image",
                        bad_rows=(), labels: bool = True) -> Path:
    """Splits of random images; with `labels` a ClassLabel column `label`, row i of class i % 2."""
    import io

    import numpy as np
    from datasets import ClassLabel, Dataset, Features, Image
    from PIL import Image as PILImage

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    features = Features({column: Image(), "label": ClassLabel(names=["a", "b"])})
    for split, n in sizes.items():
        rows = []
        for i in range(n):
            if i in bad_rows:
                rows.append({"bytes": b"not an image", "path": None})
                continue
            size = shape(i) if callable(shape) else shape
            arr = rng.integers(0, 256, (*size, 3) if mode == "RGB" else size, dtype=np.uint8)
            buf = io.BytesIO()
            PILImage.fromarray(arr, mode).save(buf, format="PNG")
            rows.append({"bytes": buf.getvalue(), "path": None})
        ds = Dataset.from_dict({column: rows, "label": [i % 2 for i in range(n)]},
                               features=features)
        if not labels:
            ds = ds.remove_columns("label")
        ds.to_parquet(str(folder / f"{split}-00000-of-00001.parquet"))
    return folder


def train_run(run_dir: Path, *overrides: str, fast: bool = True) -> dict:
    """Train like `train.py hydra.run.dir=run_dir ...` does, .hydra/config.yaml included."""
    import json

    from omegaconf import OmegaConf

    from aelab.run import train

    cache = run_dir.parent / "cache"
    # Quoted: run folders of a sweep are named like "model.latent_dim=4".
    cfg = compose_config([f"paths.output_dir='{run_dir}'", f"paths.cache_dir='{cache}'",
                          *(FAST if fast else []),
                          *([] if any(o.startswith("logger=") for o in overrides) else ["logger=csv"]),
                          *overrides])
    (run_dir / ".hydra").mkdir(parents=True, exist_ok=True)
    (run_dir / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    train(cfg)
    return json.loads((run_dir / "metrics.json").read_text())


# -- models and nets from their yaml, the one place their defaults live ------------------------
MODEL_CONFIGS = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))


@functools.cache  # composing costs ~0.1 s; the generic tests ask for the same configs often
def _model_config(name: str, overrides: tuple[str, ...]):
    return compose_config([f"model={name}", "paths.output_dir=/tmp/unused", *overrides])


def model_config(name: str, *overrides: str):
    """The composed train config of `model=<name>` with `overrides` (`model.latent_dim=8`): a
    copy of the one composed once per session, so a test may change it."""
    return copy.deepcopy(_model_config(name, overrides))


def build_model(name: str, *overrides: str, **facts):
    """A model as train.py builds it, with the data facts given (`vocab_size=30`,
    `image_shape=(1, 28, 28)`): the unit tests build the models the command line does."""
    from aelab.run_dir import instantiate_model

    return instantiate_model(model_config(name, *overrides), **facts)


def build_net(name: str, image_shape, *overrides: str, **extra):
    """The image net of `model=<name>`, completed as the model completes it."""
    from hydra.utils import instantiate

    node = model_config(name, *overrides).model
    # The sizes the net has: null in the yaml is none (unet: no latent_dim; pca: no depth, width).
    sizes = {k: node[k] for k in ("latent_dim", "depth", "width") if node[k] is not None}
    return instantiate(node.net)(image_shape=tuple(image_shape), **sizes, **extra)


@functools.cache  # a model's class never changes in a test session; composing costs ~0.2 s
def model_class(name: str):
    from hydra.utils import get_class

    return get_class(model_config(name).model._target_)
