"""Every model yaml in conf/model, found by globbing: a short run on its modality's tiny
data logs its dashboard's curves, does each generation task its class declares, and refuses
each other task naming the model that can. A new model (a net file + a yaml, or a yaml
alone) is tested here with no edit to this file."""

import re

import pytest

from aelab.errors import AelabError
from aelab.models.capabilities import TASKS
from aelab.run import generate
from tests.conftest import MODEL_CONFIGS, build_model, model_class, model_config, train_run
from tests.test_tensorboard import custom_scalars, summaries

# The code prior trains on a VQ-VAE run (tests/test_generation.py, tests/test_tensorboard.py),
# the latent diffusion prior on an autoencoder run (tests/test_latent_diffusion.py).
MODELS = [m for m in MODEL_CONFIGS
          if not {"vqvae_run", "ae_run"} & set(model_config(m).model.keys())]
TEXT = ["data=toy_text", "data.num_train=64", "data.num_val=16", "data.num_test=16",
        "model.embed_dim=8"]


def small(model: str) -> list[str]:
    """The overrides that keep `model` tiny: its modality's toy data, and the few size options
    its yaml has that the shared FAST list does not shrink."""
    node = model_config(model).model
    extra = list(TEXT) if model_class(model).modality == "text" else []
    extra += ["model.latent_dim=4"] if node.get("latent_dim") is not None else []
    # A size the yaml leaves null (pca: no depth or width) stays null under FAST's sizes.
    extra += [f"model.{k}=null" for k in ("depth", "width") if k in node and node[k] is None]
    extra += ["model.iw_samples=2"] if "iw_samples" in node else []
    extra += ["model.net.num_codes=8"] if "num_codes" in node.get("net", {}) else []
    # A model without depth and width is fitted in closed form (pca): the eigendecomposition of
    # the pixels' covariance, cubic in their number, takes seconds at the data's 32 px
    # (3072 values) and a fraction of one at 16 px.
    extra += ["data.image_size=16"] if node.get("depth", 0) is None and node.get(
        "width", 0) is None else []
    return extra


class Runs:
    """Each model's short run, trained when a test first asks for it. Both tests of a model
    are one xdist group, so the run is made once, on the worker that runs them."""

    def __init__(self, root):
        self.root, self.metrics = root, {}

    def __getitem__(self, model: str) -> dict:
        if model not in self.metrics:
            self.metrics[model] = train_run(
                self.root / model, f"model={model}", *small(model), "logger=tensorboard",
                "trainer.limit_train_batches=2", "trainer.limit_val_batches=1",
                "trainer.limit_test_batches=1")
        return self.metrics[model]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return Runs(tmp_path_factory.mktemp("every_model"))


EACH = [pytest.param(m, marks=pytest.mark.xdist_group(f"every_model_{m}")) for m in MODELS]


@pytest.mark.parametrize("model", EACH)
def test_every_model_trains_tests_and_charts_its_dashboard(runs, model):
    root, metrics = runs.root, runs[model]
    assert metrics["global_step"] == 2 and "test/loss" in metrics
    category = next(iter(model_class(model).dashboard))
    layout = custom_scalars(root / model)
    assert category in layout and "time" in layout, layout
    logged = {v.tag for v in summaries(root / model)}
    for title, tags in layout[category].items():  # the charts name tags the run logged
        if not any(t.startswith("^test/") for t in tags):
            assert any(re.search(t, tag) for t in tags for tag in logged), (title, tags)


@pytest.mark.parametrize("model", EACH)
def test_every_model_does_the_tasks_it_declares_and_names_who_does_the_others(runs, model):
    runs[model]  # trained
    root = runs.root
    built = build_model(model, *small(model), **facts(model))
    for task in TASKS:
        if built.can(task):
            out = generate(str(root / model), task, n=4, seed=0, steps=2)
            assert out.exists() and out.stat().st_size > 0, task
        else:
            with pytest.raises(AelabError, match=f"task={task}: .* cannot {task}; "):
                built.require(task)


def facts(model: str) -> dict:
    if model_class(model).modality == "text":
        return {"vocab_size": 40}
    # A model that learns labels (classifier) is told how many classes the data has.
    classes = {"num_classes": 3} if getattr(model_class(model), "needs_labels", False) else {}
    return {"image_shape": (1, 32, 32), **classes}
