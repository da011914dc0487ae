"""Restoration: the skip-connected net (model=unet), residual learning, and restoring an image
file of any size through generate.py (tiled)."""

import pytest
import torch

from aelab.errors import AelabError
from aelab.generation.image_file import load_image, tiled
from aelab.models.image.autoencoder import dihedral_mean
from aelab.run import evaluate, generate
from tests.conftest import build_model, build_net, train_run

UNET = ["model.latent_dim=null"]  # what model=unet has; spelled out where it is overridden


@pytest.mark.parametrize("depth", [0, 1, 2, 3])
@pytest.mark.parametrize("skips", ["add", "concat"])
def test_unet_keeps_any_image_size(depth, skips):
    net = build_net("unet", (3, 28, 28), f"model.depth={depth}", "model.width=4",
                    f"model.net.skips={skips}")
    for shape in [(2, 3, 28, 28), (1, 3, 45, 61), (1, 3, 17, 9)]:  # fully convolutional
        if depth == 3 and min(shape[-2:]) < 16:
            continue
        assert net.forward_logits(torch.rand(shape)).shape == shape


@pytest.mark.parametrize("depth", [0, 1])
def test_a_shuffled_unet_works_on_the_folded_grid_and_keeps_any_image_size(depth):
    """shuffle=4 folds each 4x4 block into channels: the net's stages see a 4x smaller grid,
    and sizes that are no multiple of 4 are padded and cropped back."""
    net = build_net("unet", (3, 32, 32), f"model.depth={depth}", "model.width=4",
                    "model.net.shuffle=4")
    assert net.stem.in_channels == 3 * 16 and net.head.out_channels == 3 * 16
    seen = []
    net.middle.register_forward_hook(lambda module, inputs, output: seen.append(output.shape[-2:]))
    for shape in [(2, 3, 32, 32), (1, 3, 30, 45)]:
        assert net.forward_logits(torch.rand(shape)).shape == shape
    assert seen == [(8 // 2**depth,) * 2, (8 // 2**depth, 12 // 2**depth)]


def test_res_scale_shrinks_every_blocks_step_from_the_identity():
    torch.manual_seed(0)
    full = build_net("unet", (3, 16, 16), "model.depth=1", "model.width=4")
    torch.manual_seed(0)
    scaled = build_net("unet", (3, 16, 16), "model.depth=1", "model.width=4",
                       "model.net.res_scale=0.1")
    h = torch.rand(2, 4, 16, 16)
    block, scaled_block = full.down_stages[0][0], scaled.down_stages[0][0]
    assert torch.allclose(scaled_block(h) - h, 0.1 * (block(h) - h), atol=1e-6)


@pytest.mark.parametrize(("depth", "extra"), [(2, "model.net.skips=concat"),
                                            (0, "model.net.shuffle=4")])
def test_a_bias_free_unet_is_homogeneous_and_a_biased_one_is_not(depth, extra):
    """bias_free: no additive constant anywhere and the input centred per image, so contrast
    and brightness pass through: f(a x + b) = a f(x) for a > 0."""
    x, a, b = torch.rand(2, 3, 16, 16), 0.3, 0.5
    outputs = {}
    for free in (True, False):
        torch.manual_seed(0)
        net = build_net("unet", (3, 16, 16), f"model.depth={depth}", "model.width=4", extra,
                        f"model.net.bias_free={free}")
        torch.nn.init.normal_(net.head.weight, std=0.1)  # it starts at zero (the identity)
        outputs[free] = net.forward_logits(x), net.forward_logits(a * x + b)
        if free:
            assert not [n for n, _ in net.named_parameters() if n.endswith("bias")]
    plain, moved = outputs[True]
    assert plain.abs().max() > 0.01 and torch.allclose(moved, a * plain, atol=1e-5)
    plain, moved = outputs[False]
    assert not torch.allclose(moved, a * plain, atol=1e-3)


def test_a_bias_free_unet_refuses_a_norm_layer():
    with pytest.raises(AelabError, match="norm layer's shift .* use model.net.norm=none"):
        build_net("unet", (3, 16, 16), "model.net.bias_free=true", "model.net.norm=group")


def test_unet_output_depends_on_every_scale_through_the_skips():
    """A pixel's output moves when the input moves at that pixel: the full-resolution skip
    passes detail that a 4x-downsampled path alone would blur."""
    torch.manual_seed(0)
    net = build_net("unet", (1, 16, 16), "model.depth=2", "model.width=4")
    torch.nn.init.normal_(net.head.weight)  # it starts at zero (a residual model's identity)
    x = torch.rand(1, 1, 16, 16, requires_grad=True)
    net.forward_logits(x)[0, 0, 5, 5].backward()
    assert x.grad[0, 0, 5, 5].abs() > 0 and x.grad[0, 0, 15, 15].abs() < x.grad[0, 0, 5, 5].abs()


def test_a_residual_model_starts_from_its_input_and_learns_the_difference():
    model = build_model("unet", "model.width=4", image_shape=(3, 16, 16))
    x = torch.rand(2, 3, 16, 16)
    assert torch.equal(model(x), x)  # the head starts at zero: the model returns its input
    model.net.head.bias.data.fill_(0.25)
    assert torch.allclose(model.output(x), x + 0.25)
    assert torch.equal(model(x), (x + 0.25).clamp(0, 1))  # scored and shown clipped


@pytest.mark.parametrize("name, extra", [
    ("unet", []), ("conv_ae", ["model.latent_dim=8"]),
    ("conv_ae", ["model.latent_dim=8", "model.linear_path=none"])])
def test_the_l1_and_psnr_losses_are_what_they_say_of_the_image(name, extra):
    mse = build_model(name, "model.loss=mse", *extra, image_shape=(1, 16, 16))
    l1 = build_model(name, "model.loss=l1", *extra, image_shape=(1, 16, 16))
    out, target = torch.randn(2, 1, 16, 16), torch.rand(2, 1, 16, 16)
    # residual or the linear path: the net gives the image; else logits
    image = out if l1.image_output else torch.sigmoid(out)
    assert torch.allclose(l1.reconstruction_loss(out, target), (image - target).abs().mean())
    assert torch.allclose(mse.reconstruction_loss(out, target), ((image - target) ** 2).mean())
    psnr = build_model(name, "model.loss=psnr", *extra, image_shape=(1, 16, 16))
    per_image = [-10 * torch.log10(((i - t) ** 2).mean()) for i, t in zip(image, target, strict=True)]
    assert torch.allclose(psnr.reconstruction_loss(out, target), -torch.stack(per_image).mean())


def test_the_loss_border_leaves_the_edge_pixels_out_of_the_loss():
    model = build_model("unet", "model.loss=l1", "model.loss_border=4", image_shape=(3, 16, 16))
    out, target = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    inside = (out - target)[..., 4:12, 4:12].abs().mean()
    assert torch.allclose(model.reconstruction_loss(out, target), inside)
    edited = out.clone()
    edited[..., :4, :] = 5.0  # the top band and the right band: outside what is scored
    edited[..., :, 12:] = -3.0
    assert torch.equal(model.reconstruction_loss(edited, target), model.reconstruction_loss(out, target))
    with pytest.raises(AelabError, match=r"model.loss_border=8 leaves nothing of the 16x16 px"):
        build_model("unet", "model.loss_border=8", image_shape=(3, 16, 16))


def test_residual_works_for_the_bottleneck_nets_too_and_then_only_restores():
    model = build_model("conv_ae", "model.residual=true", "model.linear_path=none",
                        "model.latent_dim=8", image_shape=(1, 16, 16))
    x = torch.rand(2, 1, 16, 16)
    assert torch.allclose(model.output(x), x + model.net.decode_logits(model.net.encode(x)))
    assert model.can("reconstruct") and not model.can("sample")
    with pytest.raises(AelabError, match="residual .* cannot sample; "):
        model.require("sample")


def test_the_unet_restores_but_has_no_code_to_sample_or_interpolate():
    model = build_model("unet", "corruption=gaussian", image_shape=(1, 16, 16))
    assert model.available_tasks() == {"reconstruct", "denoise"}
    with pytest.raises(AelabError, match="no vector code, so this run cannot interpolate; "):
        model.require("interpolate")
    with pytest.raises(AelabError, match="no vector code to encode to"):
        model.encode(torch.rand(1, 1, 16, 16))


@pytest.mark.parametrize(("model", "overrides", "message"), [
    ("unet", ["model.latent_dim=32"], "UNet has no vector code .* leave model.latent_dim=null"),
    ("conv_ae", ["model.latent_dim=null"], "needs its size; set model.latent_dim"),
    ("conv_vae", ["model.net._target_=aelab.nets.image.unet.UNet", "+model.net.blocks=1",
                  "+model.net.skips=add", "model.latent_dim=null"], "cannot be a VAE"),
    ("unet", ["model.loss=bce"], "model.loss=bce with model.residual=true"),
    # the linear path gives an image, so neither a difference nor logits
    ("conv_ae", ["model.residual=true"], "linear_path=pca with model.residual=true .* set "
                                         "model.linear_path=none"),
    ("mlp_ae", ["model.loss=bce"], "linear_path=pca with model.loss=bce .* set "
                                   "model.linear_path=none"),
    ("unet", ["model.linear_path=pca", "model.residual=false"],
     "UNet has no vector code to add PCA.s to"),
])
def test_a_code_size_or_loss_the_net_cannot_take_is_named(model, overrides, message):
    with pytest.raises(AelabError, match=message):
        build_model(model, *overrides, image_shape=(1, 16, 16))


def test_tiling_blends_tiles_back_into_the_whole_image():
    image = torch.rand(1, 3, 37, 50)
    assert torch.allclose(tiled(lambda t: t, image, (16, 16)), image, atol=1e-6)
    assert torch.allclose(tiled(lambda t: 1 - t, image, (16, 16)), 1 - image, atol=1e-6)
    small = torch.rand(1, 1, 7, 30)  # smaller than a tile in one direction: padded
    assert torch.allclose(tiled(lambda t: t * 2, small, (16, 16)), small * 2, atol=1e-6)
    # Each tile is processed on its own: a tile-wise mean differs from the image's mean.
    out = tiled(lambda t: t.mean((2, 3), keepdim=True).expand_as(t), image, (16, 16))
    assert not torch.allclose(out, image.mean((2, 3), keepdim=True).expand_as(image), atol=1e-3)


SHARED = pytest.mark.xdist_group("restoration_upscaler")  # the users of `upscaler` share a worker: one build


@pytest.fixture(scope="module")
def upscaler(tmp_path_factory):
    run = tmp_path_factory.mktemp("upscaler")
    train_run(run, "model=unet", "data=shapes", "data.image_size=16", "data.channels=3",
              "corruption=downsample", "corruption.factor=2")
    return run


@SHARED
def test_generate_upscales_a_file_larger_than_the_training_size(upscaler, tmp_path):
    from PIL import Image

    photo = tmp_path / "photo.png"
    pixels = torch.randint(0, 256, (21, 40, 3), dtype=torch.uint8).numpy()
    Image.fromarray(pixels).save(photo)
    out = generate(str(upscaler), "upscale", input=str(photo))
    assert out == upscaler / "generated" / "photo_upscale_x2.png"
    restored, bicubic = load_image(out, 3), load_image(out.parent / "photo_bicubic_x2.png", 3)
    assert restored.shape == bicubic.shape == (1, 3, 42, 80)
    assert not torch.equal(restored, bicubic)  # the net changed the bicubic input


@SHARED
def test_generate_names_a_bad_input_file(upscaler, tmp_path):
    with pytest.raises(AelabError, match="no such file"):
        generate(str(upscaler), "upscale", input=str(tmp_path / "missing.png"))
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(AelabError, match="not an image file"):
        generate(str(upscaler), "upscale", input=str(tmp_path / "notes.png"))
    with pytest.raises(AelabError, match="input=.* is for task=denoise or task=upscale"):
        generate(str(upscaler), "sample", input=str(tmp_path / "notes.png"))
    with pytest.raises(AelabError, match="task=denoise: .* cannot denoise"):
        generate(str(upscaler), "denoise", input=str(tmp_path / "notes.png"))


def test_the_self_ensemble_averages_over_the_turned_inputs_turned_back():
    x = torch.rand(2, 3, 8, 8)
    # A map that commutes with flips and turns comes back unchanged ...
    assert torch.allclose(dihedral_mean(lambda t: 2 * t + 1, x), 2 * x + 1)
    # ... one that does not is averaged: a shift right by one pixel, seen from all 8
    # orientations, becomes the mean of the four shifts by one pixel.
    shifted = dihedral_mean(lambda t: torch.roll(t, 1, -1), x)
    four = sum(torch.roll(x, s, d) for s in (1, -1) for d in (-1, -2)) / 4
    assert torch.allclose(shifted, four, atol=1e-6)
    tall = torch.rand(1, 1, 6, 4)  # not square: the 4 flips only, shape kept
    assert torch.allclose(dihedral_mean(lambda t: t * 3, tall), tall * 3)


@SHARED
def test_eval_scores_the_self_ensemble_apart_and_refuses_it_for_other_models(upscaler, tmp_path):
    plain = evaluate(str(upscaler))
    ensemble = evaluate(str(upscaler), self_ensemble=True)
    assert (upscaler / "eval_metrics_self_ensemble.json").exists()
    assert ensemble["test/psnr"] != plain["test/psnr"]  # the net is not equivariant
    assert ensemble["test/psnr_bicubic"] == pytest.approx(plain["test/psnr_bicubic"])
    for model, extra in (("conv_vae", "model.iw_samples=2"), ("conv_vqvae", "model.net.num_codes=8")):
        run = tmp_path / model  # a VAE's step samples; the VQ-VAE's quantises: neither averages
        train_run(run, f"model={model}", extra)
        with pytest.raises(AelabError, match="self_ensemble=true averages an image autoencoder"):
            evaluate(str(run), self_ensemble=True)


def test_a_text_run_refuses_an_image_file(tmp_path):
    run = tmp_path / "dae"
    train_run(run, "model=lstm_ae", "data=toy_text", "data.num_train=64", "data.num_val=16",
              "data.num_test=16", "model.embed_dim=8", "model.latent_dim=4", "corruption=word_noise")
    with pytest.raises(AelabError, match="restoring a file is for image runs; this run is a text"):
        generate(str(run), "denoise", input=str(tmp_path / "photo.png"))
