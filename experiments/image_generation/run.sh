#!/usr/bin/env bash
# Reproduces experiments/image_generation/README.md: denoising, super-resolution, VAE,
# VQ-VAE + code prior on Fashion-MNIST, then the grids from generate.py.
# Run from the repository root; DATA defaults to the offline copy beside the repo.
# The last two trainings ran side by side, one CPU thread each (threads=1).
set -euo pipefail
DATA=${DATA:-../shared/datasets/fashion_mnist}
OUT=${OUT:-outputs/experiments/image_generation}
# The plain autoencoder is the latent-32 run of experiments/fashion_mnist_conv_ae/run.sh.
AE=${AE:-outputs/experiments/fashion_mnist_conv_ae/latent32}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
common=(data=fashion_mnist data.path="$DATA" trainer.max_epochs=5 seed=0 trainer.enable_progress_bar=false)

# First denoising attempt (kept for the record: 7.94 dB over the noisy input, short of 8).
python train.py "${common[@]}" model=conv_ae corruption=gaussian corruption.sigma=0.3 model.latent_dim=128 hydra.run.dir="$OUT/denoise_depth3_latent128"
python train.py "${common[@]}" model=conv_ae corruption=downsample corruption.factor=2 model.latent_dim=128 hydra.run.dir="$OUT/upscale"
python train.py "${common[@]}" model=conv_vae hydra.run.dir="$OUT/vae"
python train.py "${common[@]}" model=conv_vqvae hydra.run.dir="$OUT/vqvae"
python train.py "${common[@]}" model=conv_ae corruption=gaussian corruption.sigma=0.3 model.depth=2 model.latent_dim=256 threads=1 hydra.run.dir="$OUT/denoise"
python train.py "${common[@]}" model=code_prior model.vqvae_run="$OUT/vqvae" model.width=64 model.depth=3 trainer.max_epochs=3 threads=1 hydra.run.dir="$OUT/prior"

python generate.py run_dir="$OUT/denoise" task=denoise
python generate.py run_dir="$OUT/upscale" task=upscale
python generate.py run_dir="$OUT/vae" task=sample
python generate.py run_dir="$OUT/vae" task=interpolate
python generate.py run_dir="$OUT/vqvae" task=reconstruct
python generate.py run_dir="$OUT/prior" task=sample
python generate.py run_dir="$AE" task=sample
python generate.py run_dir="$AE" task=interpolate
