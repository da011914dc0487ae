"""Generate from a finished run: python generate.py run_dir=<run dir> task=<task>

Tasks: reconstruct, sample, interpolate, denoise (a model trained with a noise or mask
corruption), upscale (a model trained with corruption=downsample). Writes
<run dir>/generated/<task>.png and logs the grid to the run's TensorBoard. With
`input=photo.png`, denoise / upscale restore that file instead (any size, tiled):
<run dir>/generated/photo_denoise.png, or photo_upscale_x2.png beside photo_bicubic_x2.png.
Text runs write <run dir>/generated/<task>.txt; task=sample also its sample quality,
<run dir>/generated/sample_metrics.json (text_metrics.*, docs/generation_metrics.md).
`tag=nucleus05` names the output <task>_nucleus05 instead, to keep apart draws made with
other settings (decoding, temperature): compare.py reads them as `sample_nucleus05/...`.
A class-conditional latent_diffusion run samples classes with `classes=` and `guidance=`
(docs/latent_diffusion.md), the class of each sample written to generated/sample.classes.txt.
"""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="generate")
def main(cfg: DictConfig) -> None:
    from aelab.errors import exit_on_user_error
    from aelab.run import generate

    with exit_on_user_error():
        path = generate(cfg.run_dir, cfg.task, ckpt=cfg.ckpt, accelerator=cfg.accelerator,
                        trust_run_config=cfg.trust_run_config, input=cfg.input, tag=cfg.tag,
                        n=cfg.num_images, seed=cfg.seed, steps=cfg.steps,
                        temperature=cfg.temperature, prior_temperature=cfg.prior_temperature,
                        sample_steps=cfg.sample_steps, classes=cfg.classes,
                        guidance=cfg.guidance, decoding=cfg.decoding, top_p=cfg.top_p,
                        beam=cfg.beam, text_metrics=cfg.text_metrics)
    print(path)


if __name__ == "__main__":
    from aelab.cli import check_overrides

    check_overrides("generate")
    main()
