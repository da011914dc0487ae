"""FID and KID: the distances on a tiny feature net, then the test stage of train.py and
eval.py in the features of a tiny classifier run, and the Inception path's errors (no
download anywhere: the Inception net is built only from a file)."""

import importlib
import json

import pytest
import torch
from omegaconf import OmegaConf

from aelab.checkpoint import load_checkpoint
from aelab.cli import features_as_group
from aelab.errors import AelabError
from aelab.metrics.features import FeatureExtractor, InceptionFeatures
from aelab.metrics.fid import FeatureDistances
from aelab.run import evaluate
from tests.conftest import compose_config, train_run
from tests.test_bad_input import assert_clear, run_entry

SAMPLED = ["test/fid_classifier", "test/kid_classifier", "test/kid_classifier_std"]

# The tests that read the trained runs: one xdist group, so one worker trains them, once.
SHARED = pytest.mark.xdist_group("fid_runs")


class TinyFeatures(FeatureExtractor):
    """A fixed random conv net: 8 features of an image."""

    def __init__(self):
        super().__init__("tiny")
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, 2), torch.nn.Tanh(),
                                       torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
        self.num_features = 8

    def forward(self, images):
        return self.net(images)


def distances(real, reconstructions, samples):
    d = FeatureDistances(TinyFeatures(), reconstructions=True, samples=True)
    d.update_real(real)
    d.update_reconstructions(reconstructions)
    d.update_samples(samples)
    torch.manual_seed(0)
    return d.compute()


def test_a_set_against_itself_is_at_zero_and_a_shifted_set_is_not():
    torch.manual_seed(1)
    images = torch.rand(200, 1, 16, 16)
    same = distances(images, images, images)
    assert abs(same["rfid"]) < 1e-3 and abs(same["fid"]) < 1e-3 and abs(same["kid"]) < 1e-3
    darker = images * 0.6
    shifted = distances(images, darker, darker)
    assert shifted["rfid"] > 0.05 and shifted["fid"] > 0.05 and shifted["kid"] > 0.01
    assert shifted["fid"] == pytest.approx(shifted["rfid"])  # the same sets, two ways in
    # Another draw of the same distribution is close; a shift is far beyond it.
    other = distances(images, torch.rand(200, 1, 16, 16), torch.rand(200, 1, 16, 16))
    assert other["fid"] < shifted["fid"] / 5


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny classifier and a tiny autoencoder, both on shapes (3x32x32)."""
    root = tmp_path_factory.mktemp("fid")
    train_run(root / "classifier", "model=classifier", "model.net.features=16")
    train_run(root / "ae", "model.latent_dim=4")
    return root


def eval_metrics(*overrides: str):
    """eval.yaml's `metrics` node with `overrides`, as eval.py composes it."""
    return compose_config(["run_dir=unused", *overrides], config_name="eval").metrics


@SHARED
def test_eval_on_an_existing_run_adds_fid_and_kid_in_the_classifier_features(runs):
    metrics = eval_metrics(f"metrics.features.run={runs / 'classifier'}", "metrics.num_samples=48")
    first = evaluate(str(runs / "ae"), metrics=metrics)
    written = json.loads((runs / "ae" / "eval_metrics.json").read_text())
    assert {"test/rfid_classifier", *SAMPLED} <= set(written)
    assert written["test/rfid_classifier"] >= 0 and written["test/fid_classifier"] >= 0
    # Precision and recall of the same samples, beside FID and KID, in the same features.
    assert 0 <= written["test/precision_classifier"] <= 1 and 0 <= written["test/recall_classifier"] <= 1
    again = evaluate(str(runs / "ae"), metrics=metrics)  # seeded samples, seeded KID subsets
    assert [again[k] for k in SAMPLED] == pytest.approx([first[k] for k in SAMPLED])
    plain = evaluate(str(runs / "ae"))  # not asked: none computed
    assert not any("fid" in key for key in plain)


@SHARED
def test_train_tests_a_vae_with_fid_of_its_prior_samples_under_its_own_name(runs):
    metrics = train_run(runs / "vae", "model=conv_vae", "model.latent_dim=4", "model.iw_samples=2",
                        f"metrics.features.run={runs / 'classifier'}",
                        "metrics.features.name=shapes_cnn")
    assert {"test/rfid_shapes_cnn", "test/fid_shapes_cnn", "test/kid_shapes_cnn"} <= set(metrics)
    # The feature net measured the VAE; it is no part of what the VAE's checkpoints hold.
    checkpoint = load_checkpoint(runs / "vae" / "checkpoints" / "best.ckpt")
    assert not any(k.startswith(("extractor", "classifier")) for k in checkpoint["state_dict"])
    assert not any("GenerativeMetrics" in k for k in checkpoint.get("callbacks", {}))


@SHARED
def test_eval_scores_a_vaes_samples_at_a_prior_temperature_in_a_file_of_its_own(runs):
    """eval.py prior_temperature=T: the samples FID scores are drawn at T times the prior's
    spread (other samples than at T = 1, so another FID), into eval_metrics_t<T>.json; a model
    without a Gaussian prior, and a temperature without features to score it, are refused."""
    if not (runs / "vae" / "checkpoints").exists():
        train_run(runs / "vae", "model=conv_vae", "model.latent_dim=4", "model.iw_samples=2",
                  f"metrics.features.run={runs / 'classifier'}", "metrics.features.name=shapes_cnn")
    metrics = eval_metrics(f"metrics.features.run={runs / 'classifier'}", "metrics.num_samples=48")
    cold = evaluate(str(runs / "vae"), metrics=metrics, prior_temperature=0.5)
    warm = evaluate(str(runs / "vae"), metrics=metrics)
    written = json.loads((runs / "vae" / "eval_metrics_t0.5.json").read_text())
    assert written["test/fid_classifier"] == pytest.approx(cold["test/fid_classifier"])
    assert cold["test/fid_classifier"] != pytest.approx(warm["test/fid_classifier"])
    assert cold["test/rfid_classifier"] == pytest.approx(warm["test/rfid_classifier"])
    with pytest.raises(AelabError, match="prior_temperature=0.5 scales a Gaussian prior.*"
                                         "ImageAutoencoder has none"):
        evaluate(str(runs / "ae"), metrics=metrics, prior_temperature=0.5)
    with pytest.raises(AelabError, match="give the features too: metrics.features.run"):
        evaluate(str(runs / "vae"), metrics=eval_metrics(), prior_temperature=0.5)


@SHARED
def test_a_conditional_prior_is_measured_on_its_labelled_test_batches(runs):
    """A class-conditional latent diffusion prior's data comes as (images, labels): its test
    stage scores its samples and the share of its guided ones in their class."""
    metrics = train_run(runs / "cond", "model=latent_diffusion", f"model.ae_run={runs / 'ae'}",
                        "model.conditional=true", "model.sample_steps=2", "model.width=16",
                        f"metrics.features.run={runs / 'classifier'}", "metrics.num_samples=24")
    assert {"test/fid_classifier", "test/precision_classifier"} <= set(metrics)
    assert 0 <= metrics["test/class_accuracy_classifier"] <= 1
    assert "test/rfid_classifier" not in metrics  # a prior reconstructs nothing


@SHARED
def test_images_of_another_shape_stop_the_run_before_it_trains(runs, tmp_path):
    with pytest.raises(AelabError, match=r"classifier of 3x32x32 images.*this run's images are "
                                         r"3x16x16.*model=classifier"):
        train_run(tmp_path / "small", "data.image_size=16",
                  f"metrics.features.run={runs / 'classifier'}")
    assert not (tmp_path / "small" / "checkpoints").exists()


@SHARED
@pytest.mark.parametrize("overrides,says", [
    (["model=lstm_lm", "data=toy_text", "data.num_train=16", "data.num_val=8", "data.num_test=8"],
     "FID and KID measure images"),
    (["model=classifier"], "neither reconstructs nor samples"),
    (["metrics.num_samples=0"], "metrics.num_samples=0 must be >= 1"),
    (["metrics.features.name=a-b"], "use letters, digits and _"),
])
def test_what_cannot_be_measured_is_named(runs, tmp_path, overrides, says):
    with pytest.raises(AelabError, match=says):
        train_run(tmp_path / "run", *overrides, f"metrics.features.run={runs / 'classifier'}")


@SHARED
def test_features_of_a_run_that_is_not_a_classifier(runs):
    with pytest.raises(AelabError, match="ImageAutoencoder run; features come from a "
                                         "model=classifier run"):
        evaluate(str(runs / "ae"), metrics=eval_metrics(f"metrics.features.run={runs / 'ae'}"))


@SHARED
def test_the_inception_weights_come_from_a_file_and_say_which(runs, tmp_path, capsys):
    ae = f"run_dir={runs / 'ae'}"
    # `metrics.features=inception`, as one writes other options, picks the config group.
    assert features_as_group(["eval.py", "metrics.features=inception", "metrics.features.run=x"]) == [
        "eval.py", "metrics/features=inception", "metrics.features.run=x"]
    code, output = run_entry("eval", [ae, "metrics.features=inception"], capsys)
    assert_clear(code, output, "metrics.features.weights is not set",
                 "weights-inception-2015-12-05-6726825d.pth", "metrics.features.run=")
    missing = tmp_path / "pt_inception.pth"
    code, output = run_entry("eval", [ae, "metrics/features=inception",
                                      f"metrics.features.weights={missing}"], capsys)
    assert_clear(code, output, f"metrics.features.weights={missing} is not a file")
    missing.write_text("not weights\n")
    code, output = run_entry("eval", [ae, "metrics/features=inception",
                                      f"metrics.features.weights={missing}"], capsys)
    assert_clear(code, output, "cannot be read as tensors only")
    assert not (runs / "ae" / "eval_metrics.json").exists() or "inception" not in (
        runs / "ae" / "eval_metrics.json").read_text()


def torch_fidelity():
    """torch-fidelity's Inception module when it imports here (the optional `fid` extra; it
    needs a torchvision built for this torch), else None."""
    try:
        return importlib.import_module("torch_fidelity.feature_extractor_inceptionv3")
    except Exception:  # noqa: BLE001 - not installed, or a torchvision of another torch
        return None


def test_a_state_dict_of_another_net_is_refused(tmp_path):
    file = tmp_path / "other.pth"
    torch.save(torch.nn.Linear(2, 2).state_dict(), file)
    says = "is not the FID Inception's state dict" if torch_fidelity() else "needs torch-fidelity"
    with pytest.raises(AelabError, match=says):
        InceptionFeatures(str(file), "inception")


@pytest.mark.skipif(torch_fidelity() is None, reason="torch-fidelity (aelab[fid]) does not import")
def test_inception_features_from_a_local_weights_file(tmp_path, monkeypatch):
    module = torch_fidelity()
    # A randomly initialised net's state dict stands in for the real file: same keys, shapes.
    monkeypatch.setattr(module, "load_state_dict_from_url", lambda *a, **k: {})
    monkeypatch.setattr(module.FeatureExtractorInceptionV3, "load_state_dict", lambda *a, **k: None)
    weights = tmp_path / "weights-inception-2015-12-05-6726825d.pth"
    torch.save(module.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"]).state_dict(),
               weights)
    monkeypatch.undo()
    features = InceptionFeatures(str(weights), "inception")
    grey, rgb = torch.rand(1, 1, 28, 28), torch.rand(1, 3, 32, 32)  # any size: resized to 299
    assert features(rgb).shape == (1, 2048)
    assert torch.allclose(features(grey), features(grey.expand(-1, 3, -1, -1)))  # grey as RGB
    assert not any(p.requires_grad for p in features.parameters()) and not features.train().training


def test_metric_options_are_checked_in_eval_too():
    with pytest.raises(AelabError, match="metrics.num_samples=abc must be an integer"):
        from aelab.options import check_metrics

        check_metrics(OmegaConf.create({"num_samples": "abc", "features": None}))
