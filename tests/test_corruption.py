"""Corruptions on known images give known PSNRs; runs log the baselines right."""

import json
import math
import re

import numpy as np
import pytest
import torch
from torchmetrics.functional.image import peak_signal_noise_ratio

from aelab.data.corruption import Downsample, GaussianNoise, Mask, SaltPepper
from aelab.data.synthetic import make_shapes
from aelab.errors import AelabError
from aelab.metrics.image import YChannelPSNR
from aelab.run import train


def psnr(a, b):
    return peak_signal_noise_ratio(a, b, data_range=1.0, dim=(1, 2, 3)).item()


def checkerboard(n=2, size=16):
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    return ((yy + xx) % 2).float().expand(n, 1, size, size).clone()


def test_downsampling_a_checkerboard_leaves_grey_at_6_db():
    board = checkerboard()
    upscaled = Downsample(2, "area")(board)
    # Box-averaging 2x2 cells of a 1-px checkerboard gives 0.5 everywhere: MSE 0.25.
    assert torch.allclose(upscaled, torch.full_like(board, 0.5), atol=1e-6)
    assert psnr(upscaled, board) == pytest.approx(10 * math.log10(4), abs=1e-4)


def test_downsample_keeps_smooth_images_nearly_intact():
    ramp = torch.linspace(0, 1, 32).view(1, 1, 1, 32).expand(1, 1, 32, 32)
    for mode in ("bicubic", "area"):
        assert psnr(Downsample(2, mode)(ramp), ramp) > 35, mode


def test_bicubic_downsampling_matches_pil_imresize():
    # The papers' degradation: antialiased bicubic (MATLAB's / PIL's imresize), not bicubic
    # sampling, which would alias fine detail into the low-resolution image.
    from PIL import Image

    rng = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (1, 3, 24, 24), generator=rng, dtype=torch.uint8)
    low = Downsample(4, "bicubic").low_resolution(image.float() / 255)
    pil = Image.fromarray(image[0].permute(1, 2, 0).numpy()).resize((6, 6), Image.BICUBIC)
    expected = torch.from_numpy(np.asarray(pil)).permute(2, 0, 1).float() / 255
    assert (low[0] - expected).abs().max() < 2 / 255
    aliased = torch.nn.functional.interpolate(image.float() / 255, size=(6, 6), mode="bicubic")
    assert (aliased[0] - expected).abs().max() > 10 / 255


def test_y_channel_psnr_is_the_papers_luma_with_the_border_cropped():
    from aelab.metrics.image import YChannelPSNR, rgb_to_y

    assert rgb_to_y(torch.ones(1, 3, 1, 1)).item() == pytest.approx(235 / 255)
    assert rgb_to_y(torch.zeros(1, 3, 1, 1)).item() == pytest.approx(16 / 255)
    clean = torch.full((2, 3, 12, 12), 0.5)
    # Grey shifted by 0.1 in every channel: luma moves by 0.1 * 219/255.
    metric = YChannelPSNR(border=2)
    metric.update(clean + 0.1, clean)
    assert metric.compute().item() == pytest.approx(-20 * math.log10(0.1 * 219 / 255), abs=1e-3)
    # An error only in the 2-px border does not count.
    damaged = clean.clone()
    damaged[..., :2, :] = 1.0
    metric = YChannelPSNR(border=2)
    metric.update(damaged, clean)
    assert metric.compute().item() == pytest.approx(100.0)
    with pytest.raises(ValueError, match="RGB"):
        YChannelPSNR(border=2).update(clean[:, :1], clean[:, :1])


def test_mask_all_and_nothing():
    ones = torch.ones(2, 3, 8, 8)
    assert torch.equal(Mask(p=1.0, mode="pixels", block=4)(ones), torch.zeros_like(ones))
    assert torch.equal(Mask(p=0.0, mode="pixels", block=4)(ones), ones)
    assert psnr(Mask(p=1.0, mode="pixels", block=4)(ones), ones) == pytest.approx(0.0, abs=1e-6)


def test_mask_blocks_zero_whole_squares():
    out = Mask(p=0.5, mode="blocks", block=4)(torch.ones(1, 1, 16, 16),
                                               torch.Generator().manual_seed(0))
    cells = out.view(4, 4, 4, 4).permute(0, 2, 1, 3).reshape(16, 16)
    assert set(cells.sum(1).tolist()) <= {0.0, 16.0}  # each 4x4 cell all kept or all zero


def test_gaussian_noise_psnr_matches_sigma():
    grey = torch.full((4, 1, 64, 64), 0.5)
    noisy = GaussianNoise(0.02)(grey, torch.Generator().manual_seed(0))
    assert psnr(noisy, grey) == pytest.approx(-20 * math.log10(0.02), abs=0.2)  # ~34 dB
    assert GaussianNoise(5.0)(grey).min() >= 0  # clipped back to [0, 1]


def test_salt_pepper_hits_about_p_of_pixels_in_black_or_white():
    grey = torch.full((8, 3, 32, 32), 0.5)
    out = SaltPepper(0.2)(grey, torch.Generator().manual_seed(0))
    hit = (out != 0.5).all(1)
    assert hit.float().mean().item() == pytest.approx(0.2, abs=0.02)
    assert set(out[:, 0][hit].unique().tolist()) == {0.0, 1.0}


def test_seeded_corruption_repeats():
    x = torch.rand(2, 1, 8, 8)
    a = GaussianNoise(0.3)(x, torch.Generator().manual_seed(5))
    b = GaussianNoise(0.3)(x, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


@pytest.mark.parametrize("overrides,says", [
    (["corruption=mask", "corruption.p=1.5"], "corruption.p=1.5 must be <= 1"),
    (["corruption=mask", "corruption.mode=stripes"], "corruption.mode=stripes is not one of: pixels, blocks"),
    (["corruption=downsample", "corruption.factor=5"], "corruption.factor=5 is not one of: 2, 3, 4, 8"),
    (["corruption=gaussian", "corruption.sigma=-1"], "corruption.sigma=-1 must be >= 0"),
])
def test_bad_corruption_values_are_named(overrides, says):
    """Checked from the constructors' types when the config is, before anything is built."""
    from aelab.options import check_options
    from tests.conftest import compose_config

    with pytest.raises(AelabError, match=re.escape(says)):
        check_options(compose_config(overrides))


def test_super_resolution_run_logs_the_bicubic_baseline_of_its_test_images(make_cfg, tmp_path):
    cfg = make_cfg("corruption=downsample", "logger=csv", "trainer.limit_test_batches=null")
    train(cfg)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    clean = make_shapes(32, 32, seed=2).float() / 255  # the test split of data=shapes, seed 0
    bicubic = Downsample(2, "bicubic")(clean)
    expected = psnr(bicubic, clean)
    assert metrics["test/psnr_bicubic"] == pytest.approx(expected, abs=1e-3)
    assert metrics["test/psnr_input"] == pytest.approx(expected, abs=1e-3)
    # RGB data: the papers' figures too, on the Y channel with a border of `factor` px.
    y = YChannelPSNR(border=2)
    y.update(bicubic, clean)
    assert metrics["test/psnr_bicubic_y"] == pytest.approx(y.compute().item(), abs=1e-3)
    assert {"test/psnr", "test/psnr_y"} <= set(metrics)


def test_denoising_run_logs_the_noisy_input_baseline(make_cfg, tmp_path):
    train(make_cfg("corruption=gaussian", "corruption.sigma=0.2", "logger=csv"))
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert 12 < metrics["test/psnr_input"] < 16  # ~ -20 log10(0.2) = 14 dB, less with clipping
    assert "test/psnr_bicubic" not in metrics
