#!/usr/bin/env bash
# Reproduces the table in README.md: conv_ae on Fashion-MNIST, latent 16 / 32 / 64, 5 epochs.
# Run from the repository root; DATA defaults to the offline copy beside the repo.
set -euo pipefail
DATA=${DATA:-../shared/datasets/fashion_mnist}
OUT=${OUT:-outputs/experiments/fashion_mnist_conv_ae}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
for z in 16 32 64; do
  python train.py model=conv_ae data=fashion_mnist data.path="$DATA" model.latent_dim=$z \
    trainer.max_epochs=5 seed=0 trainer.enable_progress_bar=false hydra.run.dir="$OUT/latent$z"
  python eval.py run_dir="$OUT/latent$z"
done
