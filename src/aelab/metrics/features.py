"""The features FID and KID measure images in, picked by `metrics.features`.

- `metrics/features=inception metrics.features.weights=FILE`: Inception-v3 as the FID paper
  uses it (Heusel et al., 2017), TensorFlow's 2015-12-05 weights as torch-fidelity converted
  them, built by torchmetrics (which needs `pip install torch-fidelity`). Every FID package
  downloads these weights at run time; here they come from a file, and nothing is fetched.
- `metrics.features.run=RUN` (the default option, `classifier`): the penultimate layer of a
  `model=classifier` run, the "FID with a LeNet trained on MNIST" of small-data papers. With
  no run (the default) nothing is built and no FID is computed.

An extractor takes images in [0, 1] as the models give them and returns (N, num_features);
its `name` goes into the metric names (`test/fid_<name>`), so an FID in a classifier's
features is never read as an Inception FID. It is frozen, kept in eval mode, and lives
outside the measured model, so no checkpoint of that model holds it.
"""

import re
from pathlib import Path

import torch
from omegaconf import DictConfig
from torch import nn

from aelab.checkpoint import load_checkpoint
from aelab.errors import AelabError

INCEPTION_WEIGHTS = ("weights-inception-2015-12-05-6726825d.pth, from torch-fidelity's "
                     "releases (https://github.com/toshas/torch-fidelity/releases/download/"
                     "v0.2.0/weights-inception-2015-12-05-6726825d.pth)")


def build_features(node: DictConfig | None) -> "FeatureExtractor | None":
    """The extractor `metrics.features` names; None for the default, a classifier option
    without a run: nothing to build, nothing to compute."""
    from aelab.run_dir import instantiate_checked

    if node is None or ("run" in node and node.run is None):
        return None
    return instantiate_checked(node)


def check_metric_name(name: str, option: str, key: str) -> str:
    """`name` as it goes into metric keys (`key`), or an AelabError naming `option`."""
    if not re.fullmatch(r"[A-Za-z0-9_]+", name or ""):
        raise AelabError(f"{option}={name} goes into metric names ({key}); use letters, "
                         "digits and _")
    return name


class FeatureExtractor(nn.Module):
    name: str
    num_features: int

    def __init__(self, name: str, option: str = "metrics.features.name",
                 key: str = "test/fid_<name>"):
        super().__init__()
        self.name = check_metric_name(name, option, key)

    def train(self, mode: bool = True) -> "FeatureExtractor":
        return super().train(False)  # frozen: BatchNorm and dropout stay as trained

    def check_images(self, image_shape: tuple[int, int, int]) -> None:
        """Raise an AelabError if these images are not what the extractor measures. Any is
        by default: Inception resizes to 299 px and takes grey, RGB and RGBA images."""


class InceptionFeatures(FeatureExtractor):
    """The 2048 pool features of the FID Inception-v3, from a local weights file."""

    def __init__(self, weights: str | None, name: str):
        super().__init__(name)
        if not weights or not Path(weights).expanduser().is_file():
            what = f"metrics.features.weights={weights} is not a file" if weights else (
                "metrics.features.weights is not set")
            raise AelabError(f"{what}: metrics/features=inception reads the standard FID "
                             f"Inception weights from a file, {INCEPTION_WEIGHTS}; download it "
                             "once where there is internet and give its path, or measure in a "
                             "classifier you trained: metrics.features.run=<model=classifier run>")
        path = Path(weights).expanduser()
        # torch-fidelity unpickles the file as it is: one that would run code stops here.
        check_tensors_only(path)
        try:
            from torchmetrics.image.fid import NoTrainInceptionV3
        except Exception as err:  # noqa: BLE001 - a torch-fidelity that does not import
            raise AelabError(f"metrics/features=inception needs torch-fidelity, which does not "
                             f"import here ({err}); pip install torch-fidelity (aelab[fid]), "
                             "with the torchvision that matches your torch") from None
        try:
            # antialias=False: torch-fidelity's TensorFlow-exact resize to 299 px, the one
            # published FIDs were measured with.
            self.net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                                          feature_extractor_weights_path=str(path),
                                          antialias=False)
        except ModuleNotFoundError as err:
            raise AelabError(f"metrics/features=inception needs torch-fidelity ({err}); pip "
                             "install torch-fidelity (aelab[fid])") from None
        except RuntimeError as err:  # load_state_dict: keys or shapes of another net
            raise AelabError(f"metrics.features.weights={weights} is not the FID Inception's "
                             f"state dict ({str(err).splitlines()[0]}); the file to use is "
                             f"{INCEPTION_WEIGHTS}") from None
        self.num_features = 2048
        self.requires_grad_(False).eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # The net takes 8-bit RGB: grey images repeat their channel, RGBA drops alpha.
        pixels = (images.clamp(0, 1) * 255).round().to(torch.uint8)
        pixels = pixels.expand(-1, 3, -1, -1) if pixels.shape[1] == 1 else pixels[:, :3]
        return self.net(pixels)


def check_tensors_only(path: Path) -> None:
    """The weights file read with weights_only=True, as every checkpoint here is: a file that
    holds code, or is no torch file at all, is refused with the file to use instead."""
    try:
        torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - the reasons are many; the file is the problem
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise AelabError(f"metrics.features.weights={path} cannot be read as tensors only "
                         f"({first}); the file to use is {INCEPTION_WEIGHTS}") from None


class ClassifierFeatures(FeatureExtractor):
    """The penultimate layer of a `model=classifier` run's best checkpoint."""

    def __init__(self, run: str | None, name: str, trust_run_config: bool):
        super().__init__(name)
        self.classifier = load_classifier(run, trust_run_config).requires_grad_(False).eval()
        self.run, self.image_shape = run, self.classifier.image_shape
        self.num_features = self.classifier.num_features

    def check_images(self, image_shape: tuple[int, int, int]) -> None:
        if tuple(image_shape) != self.image_shape:
            def shown(shape):
                return f"{shape[0]}x{shape[1]}x{shape[2]}"
            raise AelabError(f"metrics.features.run={self.run} is a classifier of "
                             f"{shown(self.image_shape)} images (channels x height x width); this "
                             f"run's images are {shown(image_shape)}. Measure with a classifier "
                             "trained on the same data (python train.py model=classifier "
                             "data=<this run's data>)")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier.features(images)


def load_classifier(run_dir: str | None, trust_run_config: bool):
    """A classifier run's model with its best weights, built from its config and checkpoint
    (the image shape and class count are in the checkpoint: its data is not loaded)."""
    from hydra.utils import get_class

    from aelab.models.image.classifier import ImageClassifier
    from aelab.run_dir import best_checkpoint, instantiate_model, load_run_config

    run = Path(run_dir).expanduser()
    cfg = load_run_config(run, trust_run_config)
    if not issubclass(get_class(cfg.model._target_), ImageClassifier):
        raise AelabError(f"metrics.features.run={run_dir} is a {cfg.model._target_} run; "
                         "features come from a model=classifier run (python train.py "
                         "model=classifier data=<your data>)")
    state = load_checkpoint(best_checkpoint(run))
    facts = state.get("data_facts")
    if not isinstance(facts, dict):
        raise AelabError(f"{run}/checkpoints/best.ckpt has no data_facts (image shape, "
                         "classes): retrain the classifier with this version of aelab")
    model = instantiate_model(cfg, image_shape=tuple(facts["image_shape"]),
                              num_classes=facts["num_classes"])
    model.load_state_dict(state["state_dict"])
    return model
