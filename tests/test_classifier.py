"""model=classifier: trained on the data's labels, scored by accuracy, and a source of
features (its penultimate layer) for FID and KID; every generation task refused."""

import pytest
import torch

from aelab.checkpoint import load_checkpoint
from aelab.errors import AelabError
from aelab.run import evaluate
from tests.conftest import build_model, train_run, write_image_parquet
from tests.test_bad_input import assert_clear, run_entry


@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("classifier") / "run"
    return run, train_run(run, "model=classifier", "trainer.max_epochs=2")


def test_a_classifier_run_reports_accuracy_and_keeps_what_its_features_need(classifier_run):
    run, metrics = classifier_run
    assert {"test/accuracy", "test/loss", "val/accuracy", "val/loss"} <= set(metrics)
    assert 0 <= metrics["test/accuracy"] <= 1
    # The net is rebuilt from the checkpoint alone where its features are used.
    facts = load_checkpoint(run / "checkpoints" / "best.ckpt")["data_facts"]
    assert facts == {"image_shape": [3, 32, 32], "num_classes": 3}
    assert evaluate(str(run))["test/accuracy"] == pytest.approx(metrics["test/accuracy"])


def test_features_are_the_penultimate_layer_and_the_head_reads_them():
    model = build_model("classifier", "model.width=4", "model.net.features=16",
                        image_shape=(1, 28, 28), num_classes=5).eval()
    x = torch.rand(3, 1, 28, 28)
    features = model.features(x)
    assert features.shape == (3, 16) and model.num_features == 16
    assert torch.allclose(model(x), model.net.head(features))


def test_it_learns_the_labels_of_an_easy_dataset():
    # Two classes that differ in brightness: a few steps of Adam separate them.
    model = build_model("classifier", "model.width=4", "model.net.features=8", "optimizer.lr=0.01",
                        image_shape=(1, 16, 16), num_classes=2)
    torch.manual_seed(0)
    labels = torch.arange(64) % 2
    images = (torch.rand(64, 1, 16, 16) * 0.5 + 0.5 * labels.view(-1, 1, 1, 1)).clamp(0, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(30):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()
    accuracy = (model.eval()(images).argmax(1) == labels).float().mean()
    assert accuracy > 0.95


def test_a_corruption_is_refused():
    with pytest.raises(AelabError, match="use corruption=none"):
        build_model("classifier", "corruption=gaussian", image_shape=(1, 28, 28), num_classes=2)


def test_a_dataset_without_labels_stops_with_the_fix(capsys, tmp_path):
    folder = write_image_parquet(tmp_path / "unlabelled", {"train": 20, "test": 6}, labels=False)
    code, output = run_entry("train", ["model=classifier", "data=images", f"data.path={folder}",
                                       "trainer=debug", "model.width=4", "threads=1",
                                       f"paths.cache_dir={tmp_path / 'cache'}",
                                       f"hydra.run.dir={tmp_path / 'run'}"], capsys)
    assert code == 2
    assert_clear(code, output, "needs class labels", "data.label_column=<column>")
