"""generate.py's tasks on tiny runs of every image model; tasks a model cannot do say so."""

import pytest
from PIL import Image

from aelab.errors import AelabError
from aelab.run import generate
from tests.conftest import train_run

# The tests that read the trained runs: one xdist group, so one worker trains them, once.
SHARED = pytest.mark.xdist_group("generation_runs")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen")
    made = {
        "ae": train_run(root / "ae"),
        "vae": train_run(root / "vae", "model=conv_vae", "model.iw_samples=4"),
        "vq": train_run(root / "vq", "model=conv_vqvae"),
        "noise": train_run(root / "noise", "corruption=gaussian"),
        "sr": train_run(root / "sr", "corruption=downsample"),
    }
    made["prior"] = train_run(root / "prior", "model=code_prior", f"model.vqvae_run={root / 'vq'}")
    return root, made


def png(path):
    with Image.open(path) as image:
        return image.size


@SHARED
@pytest.mark.parametrize("run,task", [("ae", "reconstruct"), ("ae", "sample"),
                                      ("ae", "interpolate"), ("vae", "sample"),
                                      ("vae", "interpolate"), ("vq", "reconstruct"),
                                      ("vq", "interpolate"), ("prior", "sample"),
                                      ("noise", "denoise"), ("sr", "upscale")])
def test_task_writes_a_png_grid(runs, run, task):
    root, _ = runs
    out = generate(str(root / run), task, n=16, seed=0, steps=4)
    assert out == root / run / "generated" / f"{task}.png"
    width, height = png(out)
    assert width >= 8 * 32 and height >= 2 * 32  # a grid of 32-px images, enlarged


@SHARED
@pytest.mark.parametrize("run,task,hint", [
    ("vq", "sample", "model=code_prior"),
    ("ae", "denoise", "corruption=gaussian"),
    ("noise", "upscale", "corruption=downsample"),
    ("prior", "reconstruct", "needs an autoencoder run"),
    ("ae", "paint", "not one of"),
])
def test_task_a_model_cannot_do_names_what_can(runs, run, task, hint):
    root, _ = runs
    with pytest.raises(AelabError, match=hint):
        generate(str(root / run), task, n=8, seed=0)


@SHARED
def test_every_model_reports_its_metrics(runs):
    _, metrics = runs
    assert metrics["vae"]["test/kl"] >= 0 and "test/nll" in metrics["vae"]
    assert metrics["vae"]["test/bpd"] > 0
    assert 0 < metrics["vq"]["test/codebook_usage"] <= 1
    assert metrics["prior"]["test/nll"] > 0
    assert metrics["noise"]["test/psnr_input"] < 20
