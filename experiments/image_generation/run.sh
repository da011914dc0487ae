#!/usr/bin/env bash
# Reproduces experiments/image_generation on Fashion-MNIST: denoising, super-resolution, the VAE
# (two likelihoods), the VQ-VAE and its code prior, then the tables (study.yaml) and the grids
# from generate.py. Every training is a recipe, conf/experiment/history/image_generation/<run>.yaml;
# one CPU thread per run, two side by side. Run from the repository root; DATA (default: the
# recipes' offline copy beside the repo) replaces data.path. A finished run (metrics.json) is kept.
set -euo pipefail
OUT=${OUT:-outputs/experiments/image_generation}
HERE=experiments/image_generation
# The plain autoencoder is the latent-32 run of experiments/fashion_mnist_conv_ae/run.sh.
AE=${AE:-outputs/experiments/fashion_mnist_conv_ae/latent32}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 OMP_NUM_THREADS=1 OUT DATA=${DATA:-}

source experiments/lib.sh  # train_recipe
# The longest first, so that the prior (which needs the VQ-VAE) starts as early as it can.
# denoise_depth3_latent128 is the first denoising attempt, kept for the record.
printf '%s\n' vqvae vae_mixture denoise_depth3_latent128 upscale vae denoise \
    | xargs -P 2 -I{} bash -c 'train_recipe "$OUT/{}" history/image_generation/{}'
train_recipe "$OUT/prior" history/image_generation/prior model.vqvae_run="$OUT/vqvae"

python compare.py --study $HERE --out-root "$OUT"

# The grids: generate.py writes <run>/generated/<task>.png; each is copied beside the README.
grid() {  # run dir, task, name of the copy
    python generate.py run_dir="$1" task="$2" > /dev/null
    cp "$1/generated/$2.png" "$HERE/$3.png"
}
grid "$OUT/denoise" denoise denoise_denoise
grid "$OUT/denoise_depth3_latent128" denoise denoise_depth3_latent128_denoise
grid "$OUT/upscale" upscale upscale_upscale
grid "$OUT/vae" sample vae_sample
grid "$OUT/vae" interpolate vae_interpolate
grid "$OUT/vqvae" reconstruct vqvae_reconstruct
grid "$OUT/prior" sample prior_sample
grid "$AE" sample ae_gmm_sample
grid "$AE" interpolate ae_interpolate
